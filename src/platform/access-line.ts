import { LogEvent } from "./log-events.ts";
import { maskEmailsIn, rawInfoWriterOf, type Logger } from "./logger.ts";

/** The fields of one access line, in the order they are written. `user` and `tokenId` only for a verified caller. */
export interface AccessLine {
  requestId: string;
  method: string;
  route: string;
  /** The request path without its query string (a query may carry secrets and is never logged). */
  path: string;
  status: number;
  durationMs: number;
  ip: string | undefined;
  user: string | undefined;
  /** The access token's jti, never the token. */
  tokenId: string | undefined;
}

/**
 * What makes a string unsafe to write between quotes as it is: what JSON requires escaped (controls, `"`,
 * `\`), UTF-16 surrogates (a lone one would reach the file as U+FFFD; JSON.stringify escapes it, and leaves
 * a valid pair alone) and U+2028/U+2029, which some line-oriented readers take for line breaks.
 */
const unsafeInJsonString = /[\u0000-\u001f"\\\u2028\u2029\ud800-\udfff]/;
const unicodeLineBreaks = /[\u2028\u2029]/g;

/** A string as a JSON string literal: as it is between quotes in the common case, JSON.stringify otherwise. */
export function jsonString(text: string): string {
  if (!unsafeInJsonString.test(text)) return `"${text}"`;
  const escaped = JSON.stringify(text);
  return escaped.replace(unicodeLineBreaks, (character) => (character === "\u2028" ? "\\u2028" : "\\u2029"));
}

/** A string value with the log's redaction applied (emails masked, as scrubLogObject does for every string). */
const safeString = (text: string) => jsonString(maskEmailsIn(text));
/** A string already known to need neither escaping nor masking. */
const quoted = (text: string) => `"${text}"`;

/**
 * Whether none of the strings needs escaping or masking, tested once over all of them together (one regular
 * expression run instead of one per field: this is on every request). Joining can only add a false alarm
 * (an "%4" ending one field and a "0" starting the next), which takes the slower path and stays correct.
 */
const allPlain = (joined: string) => !unsafeInJsonString.test(joined) && !joined.includes("@") && !joined.includes("%40");

/** A number as pino writes it: non-finite numbers are null. */
const jsonNumber = (value: number) => (Number.isFinite(value) ? String(value) : "null");

const EVENT_FIELD = `,"event":${jsonString(LogEvent.HTTP_REQUEST)}`;
const LINE_END = ',"msg":"request"}\n';

/**
 * The access line from a fixed template, as the general logger would write it: the same fields, in the same
 * order, after `head` (level, time and the logger's bindings). The field names are fixed and none is a
 * secret key of scrubLogObject, so the only redaction that applies is the one to string values (emails
 * masked); every string from the request is escaped as a JSON string, so the line is one line of JSON
 * whatever the client sent.
 */
export function formatAccessLine(head: string, line: AccessLine): string {
  const { requestId, method, route, path, ip, user, tokenId } = line;
  const string = allPlain(requestId + method + route + path + (ip ?? "") + (user ?? "") + (tokenId ?? "")) ? quoted : safeString;
  return (
    head +
    EVENT_FIELD +
    ',"requestId":' +
    string(requestId) +
    ',"method":' +
    string(method) +
    ',"route":' +
    string(route) +
    ',"path":' +
    string(path) +
    ',"status":' +
    jsonNumber(line.status) +
    ',"durationMs":' +
    jsonNumber(line.durationMs) +
    (ip === undefined ? "" : ',"ip":' + string(ip)) +
    (user === undefined ? "" : ',"user":' + string(user)) +
    (tokenId === undefined ? "" : ',"tokenId":' + string(tokenId)) +
    LINE_END
  );
}

/**
 * The writer of a listener's access lines. For a logger made by createLogs, each line is built from the
 * template and written straight to the logger's file (and stdout): the general path (scrub every key of an
 * object, then pino's generic serializer) was the largest single cost of a gateway request (docs/adr/0310).
 * Any other logger gets the same line through logger.info.
 */
export function accessLineWriter(logger: Logger): (line: AccessLine) => void {
  const raw = rawInfoWriterOf(logger);
  if (raw === undefined) return (line) => logger.info({ event: LogEvent.HTTP_REQUEST, ...line }, "request");
  return (line) => {
    // The level can be changed at run time; an access line is info.
    if (!logger.isLevelEnabled("info")) return;
    raw.write(formatAccessLine(raw.head(), line));
  };
}
