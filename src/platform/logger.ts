import { join } from "node:path";
import pino, { type Logger, type DestinationStream } from "pino";

export type { Logger };

/** The three log streams of the guide: api.log, auth.log and security.log (plus stdout). */
export interface Logs {
  api: Logger;
  auth: Logger;
  security: Logger;
  /** Flushes and closes the files. */
  close(): void;
}

/** Anything that could carry a credential is removed before a line is written. */
const redactPaths = [
  "password",
  "currentPassword",
  "newPassword",
  "token",
  "accessToken",
  "refreshToken",
  "secret",
  "authorization",
  "cookie",
  "*.password",
  "*.currentPassword",
  "*.token",
  "*.accessToken",
  "*.refreshToken",
  "*.secret",
  "*.authorization",
  "*.cookie",
  "headers.authorization",
  "headers.cookie",
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
];

/** Masks an email address for logs: "jane.doe@example.com" → "j***@example.com". */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 1) return "***";
  return `${email[0]}***${email.slice(at)}`;
}

function maskEmails(object: Record<string, unknown>): Record<string, unknown> {
  if (typeof object.email === "string") return { ...object, email: maskEmail(object.email) };
  return object;
}

export interface LogOptions {
  dir: string;
  level: string;
  stdout: boolean;
}

/** Creates the loggers; each writes JSON lines to its file and, when enabled, to stdout. */
export function createLogs(options: LogOptions): Logs {
  const files: ReturnType<typeof pino.destination>[] = [];
  const make = (name: "api" | "auth" | "security"): Logger => {
    // The access log is buffered (one write per 4 KiB, not per line: it is on every request's path);
    // auth and security events are written at once so a crash cannot lose them.
    const minLength = name === "api" ? 4096 : 0;
    const file = pino.destination({ dest: join(options.dir, `${name}.log`), mkdir: true, sync: false, minLength });
    files.push(file);
    const destination: DestinationStream = options.stdout
      ? pino.multistream([
          { stream: file, level: "trace" },
          { stream: pino.destination({ dest: 1, sync: false }), level: "trace" },
        ])
      : file;
    return pino(
      {
        level: options.level,
        base: { log: name },
        timestamp: pino.stdTimeFunctions.isoTime,
        redact: { paths: redactPaths, censor: "[redacted]" },
        formatters: { log: maskEmails, level: (label) => ({ level: label }) },
      },
      destination,
    );
  };
  const logs = { api: make("api"), auth: make("auth"), security: make("security") };
  return {
    ...logs,
    close() {
      for (const file of files) {
        try {
          file.flushSync();
        } catch {
          // A file that never opened has nothing to flush.
        }
        file.end();
      }
    },
  };
}
