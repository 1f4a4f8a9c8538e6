/**
 * Reading message content: the DATA dot-terminated stream (RFC 5321 §4.1.1.4, §4.5.2) and BDAT
 * chunks (RFC 3030), with the bare CR / bare LF / NUL policy that closes SMTP smuggling
 * (CVE-2023-51764 class).
 *
 * Policy (documented in README): the end of data is only CR LF "." CR LF. Every other shape
 * (LF.LF, CR.CR, LF.CRLF, CRLF.LF, NUL around the dot, ...) is ordinary content for the
 * terminator search. Content that contains a bare CR, a bare LF or a NUL is *rejected* as a
 * whole after the real terminator (550 5.6.0), so the session stays in sync and the message
 * is never stored or passed on. RFC 5321 §2.3.8 allows CR and LF only as CRLF.
 *
 * State is kept across reads, so a terminator split over TCP segments is found and a fake one
 * split over segments is not.
 *
 * @module
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/** What was wrong with the content, if anything. */
export interface ContentFlaws {
  bareCR: boolean;
  bareLF: boolean;
  nul: boolean;
}

/** Whether any flaw was seen. */
export function hasFlaws(f: ContentFlaws): boolean {
  return f.bareCR || f.bareLF || f.nul;
}

const enum State {
  LineStart,
  Dot,
  DotCR,
  InLine,
}

/** The outcome of a finished DATA read. */
export interface DataResult {
  /** The message, dot-unstuffed, as a list of byte ranges (empty when too big). */
  parts: Uint8Array[];
  /** Size of the unstuffed content in octets (counted even past the limit). */
  size: number;
  tooBig: boolean;
  flaws: ContentFlaws;
}

/**
 * Incremental reader for DATA content. Feed it socket chunks; it returns the bytes that
 * followed the terminator once the terminator was seen.
 */
export class DotReader {
  #state = State.LineStart;
  #pendingCR = false;
  #parts: Uint8Array[] = [];
  #size = 0;
  #tooBig = false;
  readonly #max: number;
  readonly flaws: ContentFlaws = { bareCR: false, bareLF: false, nul: false };

  /** @param maxBytes content beyond this is counted but not kept. */
  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  #emit(chunk: Uint8Array, start: number, end: number): void {
    if (end <= start) return;
    this.#size += end - start;
    if (this.#tooBig) return;
    if (this.#size > this.#max) {
      this.#tooBig = true;
      this.#parts = [];
      return;
    }
    // Copy: the socket may reuse its buffers.
    this.#parts.push(chunk.slice(start, end));
  }

  /**
   * Consume a chunk. Returns undefined while the terminator has not been seen, else the bytes
   * after the terminator (possibly empty), which belong to the command stream.
   */
  feed(chunk: Uint8Array): Uint8Array | undefined {
    const n = chunk.length;
    let i = 0;
    let seg = 0; // start of the not yet emitted content in this chunk
    while (i < n) {
      switch (this.#state) {
        case State.LineStart:
          if (chunk[i] === DOT) {
            // RFC 5321 §4.5.2: a leading dot is removed (transparency).
            this.#emit(chunk, seg, i);
            i++;
            seg = i;
            this.#state = State.Dot;
          } else {
            this.#state = State.InLine;
          }
          break;
        case State.Dot:
          if (chunk[i] === CR) {
            // Possibly the terminator; the CR is not emitted unless the line goes on.
            this.#emit(chunk, seg, i);
            i++;
            seg = i;
            this.#state = State.DotCR;
          } else {
            this.#pendingCR = false;
            this.#state = State.InLine;
          }
          break;
        case State.DotCR:
          if (chunk[i] === LF) {
            this.#state = State.LineStart;
            return chunk.subarray(i + 1);
          }
          // "." CR followed by something else: a bare CR. The message is refused anyway, so the
          // dropped CR does not matter.
          this.flaws.bareCR = true;
          this.#pendingCR = false;
          this.#state = State.InLine;
          break;
        case State.InLine: {
          if (this.#pendingCR && chunk[i] !== LF) {
            // A CR left pending by the previous chunk was not followed by LF.
            this.flaws.bareCR = true;
            this.#pendingCR = false;
          }
          // One pass to the end of the line. Only bytes up to CR need a look (LF, CR, NUL);
          // every CR must be directly followed by LF, or be the chunk's last byte (pending).
          let lf = -1;
          for (let j = i; j < n; j++) {
            const b = chunk[j]!;
            if (b > CR) continue;
            if (b === LF) {
              lf = j;
              break;
            }
            if (b === CR) {
              if (j + 1 < n && chunk[j + 1] !== LF) this.flaws.bareCR = true;
            } else if (b === 0) {
              this.flaws.nul = true;
            }
          }
          if (lf < 0) {
            this.#pendingCR = chunk[n - 1] === CR;
            i = n;
            break;
          }
          const prevCR = lf > i ? chunk[lf - 1] === CR : this.#pendingCR;
          this.#pendingCR = false;
          i = lf + 1;
          if (prevCR) {
            this.#state = State.LineStart;
          } else {
            // A bare LF never ends a line for the terminator search (RFC 5321 §4.1.1.4).
            this.flaws.bareLF = true;
          }
          break;
        }
      }
    }
    this.#emit(chunk, seg, n);
    return undefined;
  }

  /** The result, once {@link feed} returned the rest. */
  result(): DataResult {
    return {
      parts: this.#tooBig ? [] : this.#parts,
      size: this.#size,
      tooBig: this.#tooBig,
      flaws: this.flaws,
    };
  }
}

/**
 * Scanner for BDAT content (RFC 3030), which has no terminator but gets the same bare CR / LF
 * / NUL policy (BINARYMIME is not offered). Keeps state across chunks.
 */
export class LineEndingScanner {
  #pendingCR = false;
  readonly flaws: ContentFlaws = { bareCR: false, bareLF: false, nul: false };

  /** Scan one chunk. */
  scan(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (chunk.indexOf(0) >= 0) this.flaws.nul = true;
    if (this.#pendingCR && chunk[0] !== LF) this.flaws.bareCR = true;
    if (!this.#pendingCR && chunk[0] === LF) this.flaws.bareLF = true;
    for (let lf = chunk.indexOf(LF, 1); lf >= 0; lf = chunk.indexOf(LF, lf + 1)) {
      if (chunk[lf - 1] !== CR) this.flaws.bareLF = true;
    }
    const last = chunk.length - 1;
    for (let cr = chunk.indexOf(CR); cr >= 0; cr = chunk.indexOf(CR, cr + 1)) {
      if (cr < last && chunk[cr + 1] !== LF) this.flaws.bareCR = true;
    }
    this.#pendingCR = chunk[last] === CR;
  }

  /** Call after the LAST chunk: a trailing CR is bare. */
  finish(): ContentFlaws {
    if (this.#pendingCR) this.flaws.bareCR = true;
    this.#pendingCR = false;
    return this.flaws;
  }
}
