import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";

/** One piece of a plain SQL script, in the order of the file. */
export type ScriptPart =
  /** One statement, with its closing `;` (the last one of a file may have none). */
  | { kind: "statement"; sql: string }
  /** A psql meta-command line between statements (`\restrict KEY`), without its newline. */
  | { kind: "meta"; line: string }
  /** `COPY … FROM stdin;`: its rows follow. `target` is what stands between COPY and FROM; `stdin` spans the STDIN word in `sql`. */
  | { kind: "copy"; sql: string; target: string; stdin: { start: number; end: number } }
  /** Whole rows of the COPY block, each with its "\n", about `copyChunkChars` at a time. */
  | { kind: "copy-rows"; rows: string }
  /** The block's `\.` line; `complete` is false when the script ends inside the rows (cut off). */
  | { kind: "copy-end"; complete: boolean };

type Mode = "top" | "quote" | "escape-quote" | "quoted-ident" | "dollar" | "line-comment" | "block-comment" | "copy-line-rest" | "copy";

/** A script the splitter will not read; the message goes on from the script's name ("FILE has text after …"). */
export class SqlScriptError extends Error {}

/** The longest statement or COPY row held: under the longest string the JavaScript engine can make (2^29 − 24 characters). */
const MAX_PART_CHARS = 500 * 1024 * 1024;
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);
const ESCAPE_OR_QUOTE = /['\\]/g;
const isIdentStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isTagChar = (c: number) => isIdentStart(c) || isDigit(c);
const isIdentChar = (c: number) => isTagChar(c) || c === 36; // "$" continues an identifier, not a tag
/** Words psql records at the start of a statement to tell `CREATE [OR REPLACE] FUNCTION|PROCEDURE` (for BEGIN ATOMIC). */
const CREATE_WORDS = new Set(["create", "function", "procedure", "or", "replace"]);

/**
 * Splits a plain SQL script into statements the way psql reads it, fed in pieces of any size: quotes ('' and
 * E'' with backslash escapes), "identifiers", $tag$ bodies, -- and nested /* *\/ comments, parentheses and
 * BEGIN ATOMIC … END bodies are honoured, so a ";" inside them ends nothing; `COPY … FROM stdin;` switches to
 * its rows up to the `\.` line. It holds only the statement being read (or one piece of COPY rows) and the
 * unread rest of the last piece, never the script, so a restore's memory does not grow with the file.
 */
export class SqlScriptSplitter {
  /** Text not yet handed out: the current statement's tail (from `start`) and the unscanned input. */
  private pending = "";
  private pos = 0;
  /** Where the current statement (or the unsent COPY rows) begins in `pending`; -1 between statements. */
  private start = -1;
  /** Earlier text of the current statement or COPY rows, moved out of `pending` at the end of a piece. */
  private earlier: string[] = [];
  private earlierChars = 0;
  private mode: Mode = "top";
  private commentDepth = 0;
  private dollarTag = "";
  private standardStrings = true;
  private ended = false;
  // psql's per-statement state.
  private parenDepth = 0;
  private beginDepth = 0;
  private words = 0;
  private createWords: string[] = [];
  private tokens = 0;
  // COPY … FROM stdin detection (statement offsets).
  private copyWordEnd = -1;
  private fromAt = -1;
  private afterFrom = false;
  private stdin: { start: number; end: number } | undefined;
  private copyTarget = "";
  private out: ScriptPart[] = [];
  /**
   * How far (an index into `pending`) the token waiting for the next piece was read: a long word, $tag, meta
   * line or COPY row goes on from there instead of being read again from its start with every piece.
   */
  private resumeAt = -1;
  private resumeKind: "word" | "tag" | "line" = "line";
  /** Whole pieces the waiting token runs through, joined to `pending` once a piece ends it. */
  private aside: string[] = [];
  private asideChars = 0;
  /** Characters read looking for the end of a word, $tag, meta line or COPY row (instrumentation: each read once). */
  tokenSearchChars = 0;
  /** The most characters held at once (instrumentation for the memory test): `heldChars()` at its peak. */
  peakHeldChars = 0;
  /** The longest statement or COPY-rows piece handed out so far. */
  longestPartChars = 0;

  constructor(
    private readonly copyChunkChars = 8 * 1024 * 1024,
    private readonly maxPartChars = MAX_PART_CHARS,
  ) {}

  /** Reads one more piece of the script; returns the parts it completes. */
  push(text: string): ScriptPart[] {
    // What is held here is the undecided statement or COPY row: past the limit, it is refused with a reason
    // instead of growing until no string can hold it (a RangeError naming nothing) or the process runs out of memory.
    if (this.heldChars() > this.maxPartChars) {
      throw new SqlScriptError(`holds a statement or COPY row longer than ${Math.floor(this.maxPartChars / 1024 / 1024)} MiB characters, more than can be loaded at once: restore it into PostgreSQL (DATABASE_URL set), whose psql reads it`);
    }
    if (this.resumeAt >= 0 && !this.endsToken(text)) {
      // The waiting token goes on through this whole piece: set aside, not joined to `pending` (joining and
      // reading a long token again with every piece would take time growing with the square of its length).
      this.aside.push(text);
      this.asideChars += text.length;
      this.resumeAt += text.length;
      this.peakHeldChars = Math.max(this.peakHeldChars, this.heldChars());
      return [];
    }
    this.pending += this.takeAside() + text;
    this.peakHeldChars = Math.max(this.peakHeldChars, this.heldChars());
    this.scan();
    return this.drain();
  }

  /** Whether a piece holds the end of the token waiting for more (a newline, or a character that ends a word or $tag). */
  private endsToken(text: string): boolean {
    if (this.resumeKind === "line") {
      const newline = text.indexOf("\n");
      this.tokenSearchChars += newline < 0 ? text.length : newline;
      return newline >= 0;
    }
    const inToken = this.resumeKind === "word" ? isIdentChar : isTagChar;
    let i = 0;
    while (i < text.length && inToken(text.charCodeAt(i))) i++;
    this.tokenSearchChars += i;
    return i < text.length;
  }

  private takeAside(): string {
    const text = this.aside.join("");
    this.aside = [];
    this.asideChars = 0;
    return text;
  }

  /** The script ended: returns the last parts (an unterminated last statement goes out as it is). */
  end(): ScriptPart[] {
    this.pending += this.takeAside();
    this.ended = true;
    this.scan();
    if (this.mode === "copy" || this.mode === "copy-line-rest") {
      if (this.mode === "copy") this.emitRows(this.pos);
      this.out.push({ kind: "copy-end", complete: false });
    } else if (this.start >= 0) {
      this.emitStatement(this.pending.length);
    }
    return this.drain();
  }

  /** Characters this splitter holds right now: the current statement or rows piece and the unscanned input. */
  heldChars(): number {
    return this.earlierChars + this.pending.length + this.asideChars;
  }

  private drain(): ScriptPart[] {
    // Keep only what is still undecided: the current statement's scanned text moves to `earlier`.
    if (this.start >= 0) {
      this.earlier.push(this.pending.slice(this.start, this.pos));
      this.earlierChars += this.pos - this.start;
      this.start = 0;
    }
    this.pending = this.pending.slice(this.pos);
    if (this.resumeAt >= 0) this.resumeAt -= this.pos;
    this.pos = 0;
    const parts = this.out;
    this.out = [];
    return parts;
  }

  /** Offset of `pending[i]` within the current statement. */
  private offset(i: number): number {
    return this.earlierChars + i - this.start;
  }

  private takeText(end: number): string {
    const text = this.earlier.join("") + this.pending.slice(this.start, end);
    this.earlier = [];
    this.earlierChars = 0;
    this.longestPartChars = Math.max(this.longestPartChars, text.length);
    return text;
  }

  /** Scans as far as the input decides; stops (to wait for more) where a token could go on in the next piece. */
  private scan(): void {
    const text = this.pending;
    const more = !this.ended;
    while (this.pos < text.length) {
      const at = this.pos;
      switch (this.mode) {
        case "line-comment": {
          const newline = text.indexOf("\n", at);
          if (newline < 0) {
            this.pos = text.length;
            return;
          }
          this.pos = newline + 1;
          this.mode = "top";
          continue;
        }
        case "block-comment": {
          const open = text.indexOf("/*", at);
          const close = text.indexOf("*/", at);
          if (close < 0 && open < 0) {
            // The last character may begin "/*" or "*/" with the next piece.
            this.pos = more ? Math.max(at, text.length - 1) : text.length;
            return;
          }
          if (open >= 0 && (close < 0 || open < close)) {
            this.commentDepth++;
            this.pos = open + 2;
          } else {
            this.commentDepth--;
            this.pos = close + 2;
            if (this.commentDepth === 0) this.mode = "top";
          }
          continue;
        }
        case "quote":
        case "quoted-ident": {
          const quote = this.mode === "quote" ? "'" : '"';
          const found = text.indexOf(quote, at);
          if (found < 0) {
            this.pos = text.length;
            return;
          }
          if (!this.closeQuote(text, found, quote)) return;
          continue;
        }
        case "escape-quote": {
          ESCAPE_OR_QUOTE.lastIndex = at;
          const i = ESCAPE_OR_QUOTE.exec(text)?.index ?? text.length;
          if (i === text.length) {
            this.pos = i;
            return;
          }
          if (text[i] === "\\") {
            if (i + 1 === text.length && more) {
              this.pos = i;
              return;
            }
            this.pos = Math.min(i + 2, text.length);
            continue;
          }
          if (!this.closeQuote(text, i, "'")) return;
          continue;
        }
        case "dollar": {
          const found = text.indexOf(this.dollarTag, at);
          if (found < 0) {
            // The tail may be the start of the closing tag.
            this.pos = more ? Math.max(at, text.length - this.dollarTag.length + 1) : text.length;
            return;
          }
          this.pos = found + this.dollarTag.length;
          this.mode = "top";
          continue;
        }
        case "copy-line-rest": {
          const newline = text.indexOf("\n", at);
          const rest = text.slice(at, newline < 0 ? text.length : newline);
          if (rest.trim() !== "") throw new SqlScriptError(`has text after COPY ${this.copyTarget} FROM stdin; on the same line: its rows must start on the next line`);
          if (newline < 0) {
            this.pos = text.length;
            return;
          }
          this.pos = newline + 1;
          this.mode = "copy";
          this.start = this.pos;
          continue;
        }
        case "copy":
          if (!this.scanCopyLine(text)) return;
          continue;
        case "top":
          if (!this.scanTop(text)) return;
          continue;
      }
    }
  }

  /** Where to go on reading the token at hand: where the last piece left it, or `from`. */
  private resumeFrom(from: number): number {
    const resume = this.resumeAt;
    this.resumeAt = -1;
    return Math.max(from, resume);
  }

  /** At a closing quote candidate: a doubled quote goes on. False when the next character is not read yet. */
  private closeQuote(text: string, at: number, quote: string): boolean {
    if (at + 1 === text.length && !this.ended) {
      this.pos = at;
      return false;
    }
    if (text[at + 1] === quote) {
      this.pos = at + 2;
    } else {
      this.pos = at + 1;
      this.mode = "top";
    }
    return true;
  }

  /** One token outside quotes and comments. False when it may go on in the next piece. */
  private scanTop(text: string): boolean {
    const at = this.pos;
    const c = text.charCodeAt(at);
    const ch = text[at];
    const more = !this.ended;
    if (isSpace(c)) {
      this.pos++;
      return true;
    }
    if (ch === "-" || ch === "/") {
      if (at + 1 === text.length && more) return false;
      const next = text[at + 1];
      if (ch === "-" && next === "-") {
        this.mode = "line-comment";
        this.pos = at + 2;
        return true;
      }
      if (ch === "/" && next === "*") {
        this.mode = "block-comment";
        this.commentDepth = 1;
        this.pos = at + 2;
        return true;
      }
    }
    if (this.start < 0) {
      if (ch === ";") {
        this.pos++; // an empty statement
        return true;
      }
      if (ch === "\\") return this.scanMeta(text);
      this.start = at;
    }
    const first = this.tokens === 0;
    this.tokens++;
    if (isIdentStart(c)) return this.scanWord(text, first);
    this.afterFrom = false;
    this.pos = at + 1;
    switch (ch) {
      case "'":
        this.mode = this.standardStrings ? "quote" : "escape-quote";
        return true;
      case '"':
        this.mode = "quoted-ident";
        return true;
      case "$":
        return this.scanDollar(text);
      case "(":
        this.parenDepth++;
        return true;
      case ")":
        if (this.parenDepth > 0) this.parenDepth--;
        return true;
      case ";":
        if (this.parenDepth === 0 && this.beginDepth === 0) this.endStatement();
        return true;
      default:
        return true;
    }
  }

  /** An identifier or key word; E'…' starts a string with backslash escapes. */
  private scanWord(text: string, first: boolean): boolean {
    const at = this.pos;
    const from = this.resumeFrom(at + 1);
    let end = from;
    while (end < text.length && isIdentChar(text.charCodeAt(end))) end++;
    this.tokenSearchChars += end - from;
    if (end === text.length && !this.ended) {
      this.tokens--; // read again with the next piece, from where this one ends
      this.resumeAt = end;
      this.resumeKind = "word";
      return false;
    }
    if (end === at + 1 && (text[at] === "E" || text[at] === "e") && text[end] === "'") {
      this.afterFrom = false;
      this.mode = "escape-quote";
      this.pos = end + 1;
      return true;
    }
    this.pos = end;
    const word = text.slice(at, end).toLowerCase();
    // psql's heuristic for SQL-standard function bodies: in CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN … END
    // (and CASE … END inside it) hold semicolons that end nothing.
    if (this.words < 4 && CREATE_WORDS.has(word)) this.createWords[this.words] = word;
    this.words++;
    const [w0, w1, w2, w3] = this.createWords;
    const creatingRoutine = w0 === "create" && (w1 === "function" || w1 === "procedure" || (w1 === "or" && w2 === "replace" && (w3 === "function" || w3 === "procedure")));
    if (creatingRoutine && this.parenDepth === 0) {
      if (word === "begin") this.beginDepth++;
      else if (word === "case" && this.beginDepth >= 1) this.beginDepth++;
      else if (word === "end" && this.beginDepth > 0) this.beginDepth--;
    }
    if (first && word === "copy") this.copyWordEnd = this.offset(end);
    if (this.copyWordEnd >= 0 && this.parenDepth === 0) {
      if (word === "stdin" && this.afterFrom) this.stdin = { start: this.offset(at), end: this.offset(end) };
      if (word === "from") this.fromAt = this.offset(at);
    }
    this.afterFrom = word === "from";
    return true;
  }

  /** After "$" (already consumed): a $tag$ opens a dollar-quoted body; $1 is a parameter; anything else is an operator character. */
  private scanDollar(text: string): boolean {
    const at = this.pos;
    const resume = this.resumeFrom(at + 1);
    if (at === text.length && !this.ended) return this.unread();
    if (isDigit(text.charCodeAt(at))) return true;
    let end = at;
    if (end < text.length && isIdentStart(text.charCodeAt(end))) {
      const from = resume;
      end = from;
      while (end < text.length && isTagChar(text.charCodeAt(end))) end++;
      this.tokenSearchChars += end - from;
    }
    if (end === text.length && !this.ended) {
      this.resumeAt = end;
      this.resumeKind = "tag";
      return this.unread();
    }
    if (text[end] === "$") {
      this.dollarTag = text.slice(at - 1, end + 1);
      this.mode = "dollar";
      this.pos = end + 1;
    } else {
      this.pos = end;
    }
    return true;
  }

  /** Steps back over the "$" just consumed, to read it again with the next piece. */
  private unread(): false {
    this.pos--;
    this.tokens--;
    return false;
  }

  /** A psql meta-command between statements: the rest of its line. */
  private scanMeta(text: string): boolean {
    const newline = this.findNewline(text);
    if (newline < 0 && !this.ended) return false;
    const end = newline < 0 ? text.length : newline;
    this.out.push({ kind: "meta", line: text.slice(this.pos, end) });
    this.pos = newline < 0 ? end : end + 1;
    return true;
  }

  private endStatement(): void {
    const stdin = this.stdin;
    const fromAt = this.fromAt;
    const copyWordEnd = this.copyWordEnd;
    const sql = this.emitStatement(this.pos, stdin !== undefined);
    if (stdin) {
      this.copyTarget = sql.slice(copyWordEnd, fromAt).trim();
      this.out.push({ kind: "copy", sql, target: this.copyTarget, stdin });
      this.mode = "copy-line-rest";
    }
  }

  /** Hands out the statement ending at `end` and resets the per-statement state. */
  private emitStatement(end: number, isCopy = false): string {
    const sql = this.takeText(end);
    if (!isCopy) this.out.push({ kind: "statement", sql });
    this.standardStrings = standardStringsSetBy(sql) ?? this.standardStrings;
    this.start = -1;
    this.parenDepth = 0;
    this.beginDepth = 0;
    this.words = 0;
    this.createWords = [];
    this.tokens = 0;
    this.copyWordEnd = -1;
    this.fromAt = -1;
    this.afterFrom = false;
    this.stdin = undefined;
    return sql;
  }

  /** One line of COPY rows, or the `\.` line that ends them (psql also takes "\.\r"). False when the line is not whole yet. */
  private scanCopyLine(text: string): boolean {
    const at = this.pos;
    const newline = this.findNewline(text);
    if (newline < 0 && !this.ended) return false;
    const lineEnd = newline < 0 ? text.length : newline;
    const next = newline < 0 ? lineEnd : newline + 1;
    if (text[at] === "\\" && (lineEnd - at === 2 || lineEnd - at === 3) && /^\\\.\r?$/.test(text.slice(at, lineEnd))) {
      this.emitRows(at);
      this.out.push({ kind: "copy-end", complete: true });
      this.start = -1;
      this.pos = next;
      this.mode = "top";
      return true;
    }
    this.pos = next;
    if (this.offset(next) >= this.copyChunkChars) this.emitRows(next);
    return true;
  }

  /** The newline that ends the line at `pos`, or -1 (then the next piece goes on looking after this one). */
  private findNewline(text: string): number {
    const from = this.resumeFrom(this.pos);
    const newline = text.indexOf("\n", from);
    this.tokenSearchChars += (newline < 0 ? text.length : newline) - from;
    if (newline < 0 && !this.ended) {
      this.resumeAt = text.length;
      this.resumeKind = "line";
    }
    return newline;
  }

  private emitRows(end: number): void {
    if (this.offset(end) > 0) this.out.push({ kind: "copy-rows", rows: this.takeText(end) });
    this.start = end;
  }
}

/**
 * The standard_conforming_strings a statement sets (true: on), or undefined when it sets none. psql follows the
 * server's setting; a script changes it only with SET (pg_dump writes it near the top). The server reads a
 * whole query string with the setting it has when the string arrives, so a runner that sends several
 * statements at once must end its batch after one that sets it.
 */
export function standardStringsSetBy(sql: string): boolean | undefined {
  const setting = /^SET\s+(?:SESSION\s+)?standard_conforming_strings\s*(?:=|TO)\s*'?(\w+)'?/i.exec(sql);
  return setting ? !/^(off|false|no|0)$/i.test(setting[1] ?? "") : undefined;
}

/** The parts of a SQL file, read as a stream (1 MiB at a time). A script the splitter refuses is named by `label` in the error. */
export async function* splitSqlFile(file: string, label = file): AsyncGenerator<ScriptPart> {
  try {
    yield* splitSqlStream(createReadStream(file, { highWaterMark: 1024 * 1024 }));
  } catch (error) {
    throw error instanceof SqlScriptError ? new SqlScriptError(`${label} ${error.message}`) : error;
  }
}

/** The parts of a SQL script read from a byte stream (UTF-8; a character split between chunks is joined). */
export async function* splitSqlStream(input: Readable, copyChunkChars?: number): AsyncGenerator<ScriptPart> {
  const splitter = new SqlScriptSplitter(copyChunkChars);
  input.setEncoding("utf8");
  for await (const chunk of input) yield* splitter.push(chunk as string);
  yield* splitter.end();
}
