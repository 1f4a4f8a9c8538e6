/**
 * Test helpers of src/reports: aggregate report XML, report mails (gzip, zip or XML attached,
 * base64 or 7bit, nested), and hostile archives: a gzip bomb made by streaming (never held
 * uncompressed) and zip archives built by hand, with sizes that may lie.
 *
 * @module
 */

/** One record of {@link reportXml}. */
export interface TestRecord {
  ip: string;
  count: number | string;
  dkim?: string;
  spf?: string;
  disposition?: string;
  headerFrom?: string;
}

/** Fields of {@link reportXml}; `extra` is put inside `<feedback>` as is. */
export interface TestReport {
  org?: string;
  id?: string;
  domain?: string;
  begin?: number | string;
  end?: number | string;
  records?: TestRecord[];
  prolog?: string;
}

/** An aggregate report document (RFC 7489 Appendix C). */
export function reportXml(r: TestReport = {}): string {
  const records = r.records ?? [{ ip: "192.0.2.1", count: 1 }];
  const recs = records.map((x) =>
    `<record><row><source_ip>${x.ip}</source_ip><count>${x.count}</count>` +
    `<policy_evaluated><disposition>${x.disposition ?? "none"}</disposition>` +
    `<dkim>${x.dkim ?? "pass"}</dkim><spf>${x.spf ?? "pass"}</spf></policy_evaluated></row>` +
    `<identifiers><header_from>${x.headerFrom ?? r.domain ?? "example.com"}</header_from>` +
    `</identifiers><auth_results><spf><domain>example.com</domain><result>${
      x.spf === "fail" ? "fail" : "pass"
    }</result></spf></auth_results></record>`
  ).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>\n${r.prolog ?? ""}<feedback>
<report_metadata><org_name>${r.org ?? "Reporter Inc"}</org_name>
<email>dmarc@reporter.example</email><report_id>${r.id ?? "r-1"}</report_id>
<date_range><begin>${r.begin ?? 1767225600}</begin><end>${r.end ?? 1767311999}</end></date_range>
</report_metadata>
<policy_published><domain>${r.domain ?? "example.com"}</domain><adkim>r</adkim><aspf>r</aspf>
<p>none</p><sp>none</sp><pct>100</pct></policy_published>
${recs}
</feedback>
`;
}

/** How {@link reportMail} attaches the payload. */
export interface AttachOptions {
  type?: string;
  filename?: string;
  encoding?: "base64" | "7bit";
  /** Put the attachment inside a multipart/alternative inside the multipart/mixed. */
  nested?: boolean;
}

/** A report mail as it lands in a Maildir: trace fields on top, then the attachment. */
export function reportMail(payload: Uint8Array, o: AttachOptions = {}): Uint8Array {
  const type = o.type ?? "application/gzip";
  const encoding = o.encoding ?? "base64";
  const body = encoding === "base64"
    ? payload.toBase64().replace(/.{76}/g, "$&\r\n")
    : new TextDecoder().decode(payload);
  const attachment = `Content-Type: ${type}${o.filename ? `; name="${o.filename}"` : ""}\r\n` +
    `Content-Transfer-Encoding: ${encoding}\r\n` +
    (o.filename ? `Content-Disposition: attachment; filename="${o.filename}"\r\n` : "") +
    `\r\n${body}\r\n`;
  const inner = o.nested
    ? `Content-Type: multipart/related; boundary="inner"\r\n\r\n--inner\r\n` +
      `Content-Type: text/html\r\n\r\n<p>report</p>\r\n--inner\r\n${attachment}--inner--\r\n`
    : attachment;
  return new TextEncoder().encode(
    "Return-Path: <dmarc@reporter.example>\r\n" +
      "Received: from mx.reporter.example (mx.reporter.example [192.0.2.9])\r\n" +
      "\tby mail.example.com with ESMTPS; Thu, 01 Jan 2026 00:00:00 +0000\r\n" +
      "Authentication-Results: mail.example.com; spf=pass smtp.mailfrom=reporter.example\r\n" +
      "From: dmarc@reporter.example\r\nTo: dmarc-reports@example.com\r\n" +
      "Subject: Report Domain: example.com Submitter: reporter.example Report-ID: r-1\r\n" +
      'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="outer"\r\n\r\n' +
      "--outer\r\nContent-Type: text/plain\r\n\r\nThis is a DMARC aggregate report.\r\n" +
      `--outer\r\n${inner}--outer--\r\n`,
  );
}

/** `bytes` gzipped (RFC 1952). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `size` zero bytes gzipped, made as a stream: the zeros are never in memory at once. */
export async function gzipOfZeros(size: number): Promise<Uint8Array> {
  const block = new Uint8Array(1 << 20);
  let left = size;
  const zeros = new ReadableStream<BufferSource>({
    pull(c) {
      if (left <= 0) return c.close();
      const n = Math.min(left, block.length);
      left -= n;
      c.enqueue(block.subarray(0, n));
    },
  });
  const gz = zeros.pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gz).arrayBuffer());
}

/** The raw DEFLATE data (RFC 1951) inside a gzip member without optional header fields. */
export function deflateOfGzip(gz: Uint8Array): Uint8Array {
  return gz.subarray(10, gz.length - 8);
}

/** One entry of {@link zipOf}: `data` already compressed when `method` is 8. */
export interface ZipEntry {
  name: string;
  method: 0 | 8;
  data: Uint8Array;
  /** The uncompressed size the headers claim (may lie). */
  size: number;
}

/** A zip archive (PKWARE APPNOTE §4.3) built by hand; CRCs are left 0. */
export function zipOf(entries: ZipEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(8, e.method, true);
    local.setUint32(18, e.data.length, true);
    local.setUint32(22, e.size, true);
    local.setUint16(26, name.length, true);
    const cd = new DataView(new ArrayBuffer(46));
    cd.setUint32(0, 0x02014b50, true);
    cd.setUint16(4, 20, true);
    cd.setUint16(6, 20, true);
    cd.setUint16(10, e.method, true);
    cd.setUint32(20, e.data.length, true);
    cd.setUint32(24, e.size, true);
    cd.setUint16(28, name.length, true);
    cd.setUint32(42, offset, true);
    parts.push(new Uint8Array(local.buffer), name, e.data);
    central.push(new Uint8Array(cd.buffer), name);
    offset += 30 + name.length + e.data.length;
  }
  const cdSize = central.reduce((n, p) => n + p.length, 0);
  const eocd = new DataView(new ArrayBuffer(22));
  eocd.setUint32(0, 0x06054b50, true);
  eocd.setUint16(8, entries.length, true);
  eocd.setUint16(10, entries.length, true);
  eocd.setUint32(12, cdSize, true);
  eocd.setUint32(16, offset, true);
  const all = [...parts, ...central, new Uint8Array(eocd.buffer)];
  const out = new Uint8Array(all.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of all) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
