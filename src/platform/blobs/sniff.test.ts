import { describe, expect, it } from "vitest";
import { sniffContentType } from "./sniff.ts";

const sniff = (bytes: Buffer, size = bytes.length) => sniffContentType(bytes, size);

describe("sniffContentType", () => {
  it("recognises images and documents by their signature, whatever their name", () => {
    expect(sniff(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]))).toBe("image/png");
    expect(sniff(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]))).toBe("image/jpeg");
    expect(sniff(Buffer.from("%PDF-1.7\n%\xff\xff", "latin1"))).toBe("application/pdf");
    expect(sniff(Buffer.concat([Buffer.from("RIFF"), Buffer.alloc(4), Buffer.from("WEBPVP8 ")]))).toBe("image/webp");
  });

  it("serves markup as plain text, never as HTML", () => {
    expect(sniff(Buffer.from("<html><script>alert(1)</script></html>"))).toBe("text/plain; charset=utf-8");
    expect(sniff(Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"))).toBe("text/plain; charset=utf-8");
  });

  it("treats NUL bytes and invalid UTF-8 as opaque bytes", () => {
    expect(sniff(Buffer.from([0x41, 0x00, 0x42]))).toBe("application/octet-stream");
    expect(sniff(Buffer.from([0xc3, 0x28]))).toBe("application/octet-stream");
    expect(sniff(Buffer.alloc(0))).toBe("application/octet-stream");
  });

  it("accepts a multi-byte character cut at the end of a partial head", () => {
    const text = Buffer.from("é".repeat(10));
    expect(sniff(text.subarray(0, 5), 1000)).toBe("text/plain; charset=utf-8");
    expect(sniff(text.subarray(0, 5), 5)).toBe("application/octet-stream");
  });
});
