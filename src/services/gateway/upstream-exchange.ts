import { errors as undiciErrors, util as undiciUtil, type Dispatcher, type Pool } from "undici";
import { Readable } from "node:stream";
import type { Cancellable, Deadline, UpstreamResponse } from "./upstream.ts";

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
    pool.dispatch(options, new ExchangeHandler(options.method, deadline, resolve, reject));
  });
}

/**
 * The handler of one exchange. A class, not an object of closures: the platform runs through tsx, whose
 * keepNames gives every function created per call a defineProperty of its name, measurable here (docs/adr/0530).
 */
class ExchangeHandler implements Dispatcher.DispatchHandler, Cancellable {
  private abortExchange: ((reason: Error) => void) | undefined;
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private chunks: Buffer[] | undefined;
  private stream: Readable | undefined;
  private resume: (() => void) | undefined;
  private done = false;

  constructor(
    private readonly method: string,
    private readonly deadline: Deadline,
    private readonly resolve: (response: UpstreamResponse) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  private finish(): void {
    this.done = true;
    this.deadline.exchanges.delete(this);
  }

  /** Cuts the exchange when the slot's deadline fires (upstream.ts sharedDeadlines). */
  cancel(reason: Error): void {
    this.abortExchange?.(reason);
  }

  onConnect(abortExchange: (reason: Error) => void): void {
    if (this.deadline.signal.aborted) {
      abortExchange(this.deadline.signal.reason as Error);
      return;
    }
    this.abortExchange = abortExchange;
    this.deadline.exchanges.add(this);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // Informational answers (100 Continue and the like) are not the answer.
    if (statusCode < 200) return true;
    this.status = statusCode;
    const parsed: Record<string, string | string[] | undefined> = undiciUtil.parseHeaders(rawHeaders);
    const headers: Record<string, string | string[]> = {};
    for (const key in parsed) {
      const value = parsed[key];
      if (value !== undefined && !droppedResponseHeaders.has(key)) headers[key] = value;
    }
    this.headers = headers;
    if (worthBuffering(this.method, statusCode, parsed)) {
      this.chunks = [];
      return true;
    }
    this.resume = resume;
    this.stream = new Readable({ read: readMore, destroy: readerGone });
    (this.stream as StreamOfExchange)[HANDLER] = this;
    this.resolve({ status: statusCode, headers, body: this.stream });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.stream) return this.stream.push(chunk);
    this.chunks?.push(chunk);
    return true;
  }

  onComplete(): void {
    this.finish();
    if (this.stream) {
      this.stream.push(null);
      return;
    }
    const chunks = this.chunks;
    this.resolve({ status: this.status, headers: this.headers, body: chunks === undefined || chunks.length === 0 ? Buffer.alloc(0) : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
  }

  onError(error: Error): void {
    this.finish();
    if (this.stream) this.stream.destroy(error);
    else this.reject(this.status === 0 ? error : new BrokenAnswer(error));
  }

  /** The reader wants more of a streamed answer. */
  readMore(): void {
    this.resume?.();
  }

  /** The reader went away (the client left): the exchange is cut, not read to its end. */
  readerGone(error: Error | null): void {
    if (!this.done) this.abortExchange?.(error ?? new undiciErrors.RequestAbortedError());
    this.finish();
  }
}

const HANDLER = Symbol("azora.exchangeHandler");
type StreamOfExchange = Readable & { [HANDLER]?: ExchangeHandler };

function readMore(this: StreamOfExchange): void {
  this[HANDLER]?.readMore();
}

function readerGone(this: StreamOfExchange, error: Error | null, callback: (error?: Error | null) => void): void {
  this[HANDLER]?.readerGone(error);
  callback(error);
}
