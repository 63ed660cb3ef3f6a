import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/**
 * One log file written with synchronous appends that never throw. A write that fails (a full disk, a
 * vanished mount) drops the lines it carried, counts the failure and remembers its code; the next write
 * tries again. The request that logged goes on: losing a log line is better than losing the answer, and
 * far better than retrying on the main thread until the disk has room (what a retrying writer does).
 * `reopen()` closes and opens the path again, so `mv api.log api.log.1` followed by SIGHUP rotates.
 */
export interface LogFile {
  readonly name: string;
  /** Called by pino with one serialized line. */
  write(line: string): void;
  /** Writes what is buffered now. */
  flush(): void;
  /** Flushes, then opens the path again (after a rotation moved the old file away). */
  reopen(): void;
  close(): void;
  /** Failed writes and opens since start. */
  errors(): number;
  /** The error code of the last attempt when it failed; undefined once a write succeeds again. */
  failing(): string | undefined;
}

export interface LogFileOptions {
  /** Lines are gathered up to this many bytes before a write (0: every line is written at once). */
  minLength: number;
  /** With minLength, what is gathered is written at least this often. */
  flushIntervalMs: number;
}

/** Log files are readable by the owner and the group only: they carry client addresses and ids. */
const FILE_MODE = 0o640;

/** Opens (creating it and its directory) the log file at `path`; a file that cannot be opened at start is a start-up error. */
export function openLogFile(name: string, path: string, options: LogFileOptions): LogFile {
  mkdirSync(dirname(path), { recursive: true });
  let fd: number | undefined = openSync(path, "a", FILE_MODE);
  // Lines gathered as a list and joined once per block: appending to one string built a rope of every line,
  // which was then flattened at the write, a measurable cost per line with 64 KiB blocks (docs/adr/0510).
  let pending: string[] = [];
  let pendingLength = 0;
  let errorCount = 0;
  let lastError: string | undefined;
  let closed = false;

  const fail = (error: unknown) => {
    errorCount++;
    lastError = (error as NodeJS.ErrnoException).code ?? "EIO";
  };
  const writeAll = (text: string) => {
    if (closed) return;
    if (fd === undefined) {
      // The last reopen failed: try again, at most once per write.
      try {
        fd = openSync(path, "a", FILE_MODE);
      } catch (error) {
        fail(error);
        return;
      }
    }
    let bytes = Buffer.from(text);
    try {
      while (bytes.length > 0) bytes = bytes.subarray(writeSync(fd, bytes));
      lastError = undefined;
    } catch (error) {
      fail(error);
    }
  };
  const flush = () => {
    if (pendingLength === 0) return;
    const text = pending.length === 1 ? pending[0]! : pending.join("");
    pending = [];
    pendingLength = 0;
    writeAll(text);
  };
  const timer = options.minLength > 0 ? setInterval(flush, options.flushIntervalMs) : undefined;
  // The timer must not keep a finished process alive.
  timer?.unref();

  return {
    name,
    write(line) {
      if (options.minLength === 0) {
        writeAll(line);
        return;
      }
      pending.push(line);
      pendingLength += line.length;
      if (pendingLength >= options.minLength) flush();
    },
    flush,
    reopen() {
      flush();
      if (closed) return;
      if (fd !== undefined) closeQuietly(fd);
      fd = undefined;
      try {
        fd = openSync(path, "a", FILE_MODE);
        lastError = undefined;
      } catch (error) {
        fail(error);
      }
    },
    close() {
      clearInterval(timer);
      flush();
      closed = true;
      if (fd !== undefined) closeQuietly(fd);
      fd = undefined;
    },
    errors: () => errorCount,
    failing: () => lastError,
  };
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // A descriptor whose file system went away still counts as closed.
  }
}
