/**
 * The one error the IMAP syntax modules throw on bad client input.
 *
 * Its message is fit to follow `BAD` (or `NO` when {@link ParseError.code} says so) in a tagged
 * reply; it never contains CR or LF. Re-exported by parser.ts.
 *
 * @module
 */

/** A syntax error in client input; `message` is reply-worthy text. */
export class ParseError extends Error {
  /** The command's tag, when it was parsed before the error (for the tagged BAD). */
  tag: string | undefined;
  /**
   * A response code for the reply, e.g. `BADCHARSET` (RFC 3501 §7.1) for an unknown SEARCH
   * charset, which is answered `NO [BADCHARSET]` rather than BAD.
   */
  readonly code: string | undefined;

  constructor(message: string, code?: string, tag?: string) {
    super(message.replace(/[\r\n\0]/g, " "));
    this.name = "ParseError";
    this.code = code;
    this.tag = tag;
  }
}
