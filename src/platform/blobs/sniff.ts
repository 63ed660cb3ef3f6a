/**
 * The type of a file judged from its first bytes, never from what the client claims: a client that
 * labels an HTML page "image/png" must not get it served back as anything a browser would render.
 * Only a few well-known signatures are recognised; valid UTF-8 without NUL bytes is plain text (HTML and
 * SVG included, deliberately: they are served as text, never as markup); everything else is opaque bytes.
 */
const signatures: { type: string; at: number; bytes: number[] }[] = [
  { type: "image/png", at: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { type: "image/jpeg", at: 0, bytes: [0xff, 0xd8, 0xff] },
  { type: "image/gif", at: 0, bytes: [0x47, 0x49, 0x46, 0x38] },
  { type: "application/pdf", at: 0, bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] },
  { type: "application/zip", at: 0, bytes: [0x50, 0x4b, 0x03, 0x04] },
  { type: "application/gzip", at: 0, bytes: [0x1f, 0x8b] },
  { type: "audio/mpeg", at: 0, bytes: [0x49, 0x44, 0x33] },
  { type: "video/mp4", at: 4, bytes: [0x66, 0x74, 0x79, 0x70] },
];

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function sniffContentType(head: Buffer, totalSize: number): string {
  for (const signature of signatures) {
    if (head.length >= signature.at + signature.bytes.length && signature.bytes.every((byte, index) => head[signature.at + index] === byte)) {
      return signature.type;
    }
  }
  if (head.length >= 12 && head.toString("latin1", 0, 4) === "RIFF" && head.toString("latin1", 8, 12) === "WEBP") return "image/webp";
  if (totalSize > 0 && isText(head, head.length === totalSize)) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

/** Valid UTF-8 without NUL; when only the head was read, a multi-byte character cut at its end is allowed. */
function isText(head: Buffer, whole: boolean): boolean {
  if (head.includes(0)) return false;
  for (let trim = 0; trim <= (whole ? 0 : 3) && trim < head.length; trim++) {
    try {
      utf8.decode(head.subarray(0, head.length - trim));
      return true;
    } catch {
      // Try again without the last bytes: a character may be cut at the end of the head.
    }
  }
  return false;
}
