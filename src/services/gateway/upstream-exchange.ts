import { errors as undiciErrors, util as undiciUtil, type Dispatcher, type Pool } from "undici";
import { Readable } from "node:stream";
import type { Deadline, UpstreamResponse } from "./upstream.ts";

/** Answer headers that describe one hop: none reaches the client. */
const droppedResponseHeaders = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "trailer"]);

/**
 * Answers up to this size (by their Content-Length) are read whole and sent as one buffer: headers and body
 * then leave in one write, where a stream costs several writes and a pipe. Larger or unsized answers stream.
 */
const BUFFERED_BODY_MAX_BYTES = 64 * 1024;

/**
 * A body that can be read whole: announced, not empty, small. HEAD answers, 204 and 304 have no body
 * whatever their Content-Length says, so they pass as they are.
 */
function worthBuffering(method: string, status: number, headers: Record<string, string | string[] | undefined>): boolean {
  if (method === "HEAD" || status === 204 || status === 304) return false;
  const length = Number(headers["content-length"] ?? Number.NaN);
  return length > 0 && length <= BUFFERED_BODY_MAX_BYTES;
}

/** An error after the answer's headers arrived: the answer broke off (never retried, a 502). */
export class BrokenAnswer extends Error {
  constructor(readonly reason: unknown) {
    super("the upstream's answer broke off");
  }
}

/**
 * One exchange through the pool's dispatcher, with a handler of our own: the answer's headers are parsed
 * once (undici's own parser), a small announced body is collected into one buffer, anything else is handed
 * on as a stream with backpressure. undici's request() wrapped every exchange in an AsyncResource, an abort
 * listener and a body stream, even for answers read whole at once: a measurable share of the gateway's CPU
 * (docs/adr/0510). Rejects with the error as undici gives it before the headers, a BrokenAnswer after.
 */
export function dispatchExchange(pool: Pool, options: Dispatcher.DispatchOptions, deadline: Deadline): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    let abort: ((reason: Error) => void) | undefined;
    let status = 0;
    let headers: Record<string, string | string[]> = {};
    let chunks: Buffer[] | undefined;
    let stream: Readable | undefined;
    let done = false;
    const cancel = (reason: Error) => abort?.(reason);
    const finish = () => {
      done = true;
      deadline.exchanges.delete(cancel);
    };
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abortExchange) {
        if (deadline.signal.aborted) {
          abortExchange(deadline.signal.reason as Error);
          return;
        }
        abort = abortExchange;
        deadline.exchanges.add(cancel);
      },
      onHeaders(statusCode, rawHeaders, resume) {
        // Informational answers (100 Continue and the like) are not the answer.
        if (statusCode < 200) return true;
        status = statusCode;
        const parsed: Record<string, string | string[] | undefined> = undiciUtil.parseHeaders(rawHeaders);
        headers = {};
        for (const key in parsed) {
          const value = parsed[key];
          if (value !== undefined && !droppedResponseHeaders.has(key)) headers[key] = value;
        }
        if (worthBuffering(options.method, statusCode, parsed)) {
          chunks = [];
          return true;
        }
        stream = new Readable({
          read: () => resume(),
          destroy: (error, callback) => {
            // The reader went away (the client left): the exchange is cut, not read to its end.
            if (!done) abort?.(error ?? new undiciErrors.RequestAbortedError());
            finish();
            callback(error);
          },
        });
        resolve({ status, headers, body: stream });
        return true;
      },
      onData(chunk) {
        if (stream) return stream.push(chunk);
        chunks?.push(chunk);
        return true;
      },
      onComplete() {
        finish();
        if (stream) stream.push(null);
        else resolve({ status, headers, body: chunks === undefined || chunks.length === 0 ? Buffer.alloc(0) : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
      },
      onError(error) {
        finish();
        if (stream) stream.destroy(error);
        else reject(status === 0 ? error : new BrokenAnswer(error));
      },
    };
    pool.dispatch(options, handler);
  });
}

