import { connect } from "node:net";
import type { ApiResponse } from "./api.ts";

/**
 * Sends bytes as they are over one TCP connection and parses the one HTTP/1.1 answer: for requests
 * that fetch refuses to send or would tidy up (`..` segments, broken framing, oversized headers).
 */
export function rawHttp(baseUrl: string, request: string | Uint8Array, timeoutMs = 10_000): Promise<ApiResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const received = Buffer.concat(chunks);
      const parsed = parseResponse(received);
      if (parsed) resolve(parsed);
      else reject(new Error(`no complete HTTP response (${error?.message ?? "connection closed"}): ${JSON.stringify(received.toString("latin1").slice(0, 300))}`));
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (parseResponse(Buffer.concat(chunks))) finish();
    });
    socket.on("end", () => finish());
    socket.on("close", () => finish());
    // A reset after the answer arrived is how a server drops a connection it will not read further.
    socket.on("error", (error) => finish(error));
    socket.write(typeof request === "string" ? Buffer.from(request, "latin1") : request);
  });
}

/** One complete HTTP/1.1 response (Content-Length or chunked), or undefined while bytes are missing. */
function parseResponse(bytes: Buffer): ApiResponse | undefined {
  const headEnd = bytes.indexOf("\r\n\r\n");
  if (headEnd < 0) return undefined;
  const [statusLine = "", ...headerLines] = bytes.subarray(0, headEnd).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  if (!Number.isInteger(status)) return undefined;
  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let rest = bytes.subarray(headEnd + 4);
  let body: Buffer;
  if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf("\r\n");
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(rest.subarray(0, lineEnd).toString("latin1"), 16);
      if (Number.isNaN(size)) return undefined;
      if (size === 0) break;
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    body = Buffer.concat(parts);
  } else {
    const length = Number(headers.get("content-length") ?? 0);
    if (rest.length < length) return undefined;
    body = rest.subarray(0, length);
  }
  const text = body.toString("utf8");
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: keep the text.
  }
  return { status, headers, body: parsed };
}
