import { join } from "node:path";
import pino, { type Logger, type DestinationStream } from "pino";
import { openLogFile, type LogFile } from "./log-file.ts";

export type { Logger };

/** The three log streams of the guide: api.log, auth.log and security.log (plus stdout). */
export interface Logs {
  api: Logger;
  auth: Logger;
  security: Logger;
  /** Writes out what the buffered access log holds (before log files are rewritten, e.g. by GDPR erasure). */
  flush(): void;
  /** Flushes and closes the files. */
  close(): void;
  /** Opens the files again (SIGHUP): after `mv api.log api.log.1`, new lines go to a new api.log. */
  reopen(): void;
  /** Failed log writes since start, by stream (`api`, `auth`, `security`, `stdout`). */
  writeErrors(): Record<string, number>;
  /** Streams whose last write failed, with the error code (`{ api: "ENOSPC" }`); empty when all write. */
  failing(): Record<string, string>;
}

/** Keys (compared in lower case) whose values never reach a log line, at any depth up to MAX_DEPTH. */
const secretKeys = new Set([
  "password",
  "currentpassword",
  "newpassword",
  "token",
  "accesstoken",
  "refreshtoken",
  "secret",
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
]);
const CENSOR = "[redacted]";
/**
 * How many levels of nesting are looked into (`{ req: { headers: { authorization } } }` is three). What
 * lies deeper is written as it is: we never log anything that deep, and the bound also stops a cycle.
 */
const MAX_DEPTH = 6;

/** Masks an email address for logs: "jane.doe@example.com" → "j***@example.com". */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 1) return "***";
  return `${email[0]}***${email.slice(at)}`;
}

/** What may make up the part of an address before its `@`. */
const localPartChar = /[^\s/?#&=;,:"'<>()[\]{}@]/;
/**
 * An address inside a longer string (a request path, a message), `@` written as it is or percent-encoded,
 * tried at one position only (sticky): maskEmailsIn chooses the positions.
 */
const emailAt = /[^\s/?#&=;,:"'<>()[\]{}@]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/iy;

/**
 * Masks every email address in a string: "/api/user/jane@example.com" → "/api/user/j***@example.com".
 * The addresses are those a global search with emailAt finds, but each run of local-part characters is tried
 * once, from its start: a search that retries from every position of the run costs its length squared when
 * nothing matches (a 16 KiB request path ending in `@` held the event loop for seconds, on every access line).
 * A later start in the same run cannot match where its start did not, since it can only end at the same `@`.
 */
export function maskEmailsIn(text: string): string {
  // "%40" has no letters, so a plain search is the case-insensitive test; this runs on every access line.
  if (!text.includes("@") && !text.includes("%40")) return text;
  let masked = "";
  let copiedUpTo = 0;
  let index = 0;
  while (index < text.length) {
    emailAt.lastIndex = index;
    const found = emailAt.exec(text);
    if (found !== null) {
      masked += text.slice(copiedUpTo, index) + maskEmail(found[0].replace(/%40/i, "@"));
      index = copiedUpTo = emailAt.lastIndex;
      continue;
    }
    // No address starts here, so none starts later in this run: go past the run and the character ending it.
    while (index < text.length && localPartChar.test(text[index] as string)) index++;
    index++;
  }
  return copiedUpTo === 0 ? text : masked + text.slice(copiedUpTo);
}

/**
 * What a log line may show of an object: credentials replaced by "[redacted]" and emails masked (in `email`
 * fields, and wherever an address appears inside a string, such as a request path), in
 * objects, arrays and errors (their own properties, after pino's error serializer has made them plain)
 * up to MAX_DEPTH. It copies only what it changes, so the common line (an access line of strings and
 * numbers) costs one pass over its keys and no allocation. It runs on every line, on the request path,
 * which is why it is a loop over keys and not pino's path-based redaction.
 */
export function scrubLogObject(object: Record<string, unknown>, depth = 0): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in object) {
    const value = object[key];
    const lowerKey = key.toLowerCase();
    const replaced =
      secretKeys.has(lowerKey) && value !== undefined
        ? CENSOR
        : lowerKey === "email" && typeof value === "string"
          ? maskEmail(value)
          : typeof value === "string"
            ? maskEmailsIn(value)
            : scrubValue(value, depth + 1);
    if (replaced !== value) {
      copy ??= { ...object };
      copy[key] = replaced;
    }
  }
  return copy ?? object;
}

function scrubValue(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    const items = value.map((item: unknown) => scrubValue(item, depth + 1));
    return items.some((item, index) => item !== value[index]) ? items : value;
  }
  // An error's message and stack are not enumerable: serialize it as pino would, then look inside.
  if (value instanceof Error) return scrubLogObject(pino.stdSerializers.err(value) as unknown as Record<string, unknown>, depth);
  // Values that say how they are written (dates, buffers, URLs) are written that way.
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return value;
  return scrubLogObject(value as Record<string, unknown>, depth);
}

/**
 * Where a logger made by createLogs writes its serialized lines (its file, and stdout when enabled). Child
 * loggers inherit it (pino makes a child with Object.create), so `logs.api.child({ service })` has it too.
 */
const rawLineSink = Symbol("azora.rawLineSink");
type LineSink = (line: string) => void;

/** Writes lines that a caller serialized itself into a logger's destination (see rawInfoWriterOf). */
export interface RawInfoWriter {
  /** The start of an info line as the logger writes it: `{"level":"info","time":"…"` and its bindings. */
  head(): string;
  /** Writes one complete line (ending in "\n") where the logger writes its lines. */
  write(line: string): void;
}

/**
 * For a logger made by createLogs (or a child of one), a writer for fixed-shape info lines that serialize
 * themselves (the access line, access-line.ts): they land in the same file, in order with the logger's
 * other lines, through the same buffering, reopen and failure counting. Undefined for any other logger.
 * The caller owns redaction: nothing written here goes through scrubLogObject.
 */
export function rawInfoWriterOf(logger: Logger): RawInfoWriter | undefined {
  const sink = (logger as unknown as { [rawLineSink]?: LineSink })[rawLineSink];
  if (sink === undefined) return undefined;
  // The child's bindings as pino serialized them when the child was made (`,"log":"api","service":"gateway"`).
  const bindings = (logger as unknown as Record<symbol, string | undefined>)[pino.symbols.chindingsSym] ?? "";
  return {
    // Level formatter of createLogs (label, not number), then isoTimeOncePerMs, as pino's own lines start.
    head: () => `{"level":"info"${isoTimeOncePerMs()}${bindings}`,
    write: sink,
  };
}

export interface LogOptions {
  dir: string;
  level: string;
  stdout: boolean;
}

/**
 * pino's isoTime, formatted once per millisecond: under load several access lines share a millisecond, and
 * formatting the date was a measurable part of writing one (docs/adr/0250). Same text as isoTime. Within a
 * second only the milliseconds change, so the date and time up to the second are formatted once a second
 * (docs/adr/0510).
 */
let lastTimeMs = -1;
let lastTimeField = "";
let lastSecond = -1;
let secondPrefix = "";
export function isoTimeOncePerMs(): string {
  const now = Date.now();
  if (now !== lastTimeMs) {
    lastTimeMs = now;
    const second = Math.floor(now / 1000);
    if (second !== lastSecond) {
      lastSecond = second;
      // "2026-11-29T21:15:08." — everything of toISOString() before the milliseconds ("000Z").
      const iso = new Date(second * 1000).toISOString();
      secondPrefix = `,"time":"${iso.slice(0, iso.length - 4)}`;
    }
    const ms = now - second * 1000;
    lastTimeField = `${secondPrefix}${ms < 10 ? "00" : ms < 100 ? "0" : ""}${ms}Z"`;
  }
  return lastTimeField;
}

/** Creates the loggers; each writes JSON lines to its file and, when enabled, to stdout. No write ever throws. */
/** api.log is written in blocks of this size (or once a second, whichever comes first). */
const API_LOG_BLOCK_BYTES = 64 * 1024;

export function createLogs(options: LogOptions): Logs {
  const files: LogFile[] = [];
  const stdout = options.stdout ? openStdout() : undefined;
  const make = (name: "api" | "auth" | "security"): Logger => {
    // Writes are synchronous, as nginx writes its access log: to the page cache that is a few microseconds,
    // cheaper than handing each write to the thread pool, and a crash cannot lose a line already logged.
    // The access log is on every request's path, so it is written once per 64 KiB and at least every second
    // (what sits in the buffer is at most a second old, and is written on exit and on every drain; one
    // write per 4 KiB was still ~2 % of a gateway request, docs/adr/0510); auth and security events are
    // written at once.
    const buffered = name === "api";
    const file = openLogFile(name, join(options.dir, `${name}.log`), { minLength: buffered ? API_LOG_BLOCK_BYTES : 0, flushIntervalMs: 1000 });
    files.push(file);
    const destination: DestinationStream = stdout
      ? pino.multistream([
          { stream: file, level: "trace" },
          { stream: stdout.stream, level: "trace" },
        ])
      : file;
    const logger = pino(
      {
        level: options.level,
        base: { log: name },
        timestamp: isoTimeOncePerMs,
        // Child bindings are not scrubbed (pino applies no formatter to them): bind fixed names only, never
        // a value that came from a request.
        formatters: { log: scrubLogObject, level: (label) => ({ level: label }) },
        // scrubLogObject has already serialized every error, wherever it sat, and looked inside it; the
        // default `err` serializer would serialize that plain copy again and call its type "Object".
        serializers: { err: (value: unknown) => value },
      },
      destination,
    );
    const stdoutStream = stdout?.stream;
    // As pino.multistream writes a line: to every stream (both take every level), the file first.
    const sink: LineSink = stdoutStream
      ? (line) => {
          file.write(line);
          stdoutStream.write(line);
        }
      : (line) => file.write(line);
    Object.defineProperty(logger, rawLineSink, { value: sink });
    return logger;
  };
  const logs = { api: make("api"), auth: make("auth"), security: make("security") };
  const flushAll = () => {
    for (const file of files) file.flush();
  };
  // An uncaught exception still runs "exit" listeners: the buffered access lines, among them the one that
  // led to the crash, are written before the process goes.
  process.on("exit", flushAll);
  return {
    ...logs,
    flush: flushAll,
    close() {
      process.off("exit", flushAll);
      for (const file of files) file.close();
    },
    reopen() {
      for (const file of files) file.reopen();
    },
    writeErrors() {
      const counts: Record<string, number> = Object.fromEntries(files.map((file) => [file.name, file.errors()]));
      if (stdout) counts.stdout = stdout.errors();
      return counts;
    },
    failing() {
      const failing: Record<string, string> = {};
      for (const file of files) {
        const code = file.failing();
        if (code) failing[file.name] = code;
      }
      const stdoutCode = stdout?.failing();
      if (stdoutCode) failing.stdout = stdoutCode;
      return failing;
    },
  };
}

/** Most a broken stdout may hold back before lines are dropped (a reader that went away must not grow the heap). */
const STDOUT_BACKLOG_BYTES = 16 * 1024 * 1024;

/**
 * Stdout is written asynchronously (a slow reader must not stall requests). Its failures (a closed pipe,
 * a full disk behind a redirect) are counted like the files' and never become an uncaught error.
 */
function openStdout() {
  const stream = pino.destination({ dest: 1, sync: false, maxLength: STDOUT_BACKLOG_BYTES });
  let errorCount = 0;
  let lastError: string | undefined;
  stream.on("error", (error: NodeJS.ErrnoException) => {
    errorCount++;
    lastError = error.code ?? "EIO";
  });
  stream.on("write", () => {
    lastError = undefined;
  });
  return {
    stream,
    errors: () => errorCount,
    failing: () => lastError,
  };
}
