import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { splitSqlFile, SqlScriptSplitter, splitSqlStream, type ScriptPart } from "./sql-script-splitter.ts";

/** Feeds the pieces to a new splitter and returns every part it hands out. */
function split(pieces: string[], copyChunkChars?: number): ScriptPart[] {
  const splitter = new SqlScriptSplitter(copyChunkChars);
  return [...pieces.flatMap((piece) => splitter.push(piece)), ...splitter.end()];
}

const statement = (sql: string): ScriptPart => ({ kind: "statement", sql });

// Every construct that may hold a ";" or look like the end of something, as pg_dump and people write them.
const TRICKY = [
  "-- a comment; with a semicolon\n",
  "SET standard_conforming_strings = on;\n",
  "SELECT 'it''s; fine', E'back\\\\slash \\' quote;', e'\\'', \"odd;\"\"name\" FROM t;\n",
  "/* outer /* nested; */ still comment; */ SELECT 1 /**/;\n",
  "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$ BEGIN RETURN $$;$$ || 'x;'; END $body$;\n",
  "SELECT $1, a$b$, $tag FROM t$x; -- $ in names and parameters opens nothing\n",
  "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (1); INSERT INTO u VALUES (2));\n",
  "CREATE OR REPLACE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;\n",
  "\\restrict abc123\n",
  "COPY public.users (id, email) FROM stdin;\n",
  "1\ta@example.com\n",
  "2\tit's; -- not a comment /* nor this\n",
  "3\t\\\\.\n",
  "\\.\n",
  "copy t from STDIN with (format text);\n",
  "\\.\r\n",
  "SELECT 'é☃ 😀 unicode;', U&'d\\0061t\\+000061', X'1f';\n",
  "INSERT INTO t VALUES ('COPY x FROM stdin;'); ;;\n",
  "SELECT 'last, without a semicolon'\n",
].join("");

const TRICKY_PARTS: ScriptPart[] = [
  statement("SET standard_conforming_strings = on;"),
  statement("SELECT 'it''s; fine', E'back\\\\slash \\' quote;', e'\\'', \"odd;\"\"name\" FROM t;"),
  statement("SELECT 1 /**/;"),
  statement("CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$ BEGIN RETURN $$;$$ || 'x;'; END $body$;"),
  statement("SELECT $1, a$b$, $tag FROM t$x;"),
  statement("CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO u VALUES (1); INSERT INTO u VALUES (2));"),
  statement("CREATE OR REPLACE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;"),
  { kind: "meta", line: "\\restrict abc123" },
  { kind: "copy", sql: "COPY public.users (id, email) FROM stdin;", target: "public.users (id, email)", stdin: { start: 35, end: 40 } },
  { kind: "copy-rows", rows: "1\ta@example.com\n2\tit's; -- not a comment /* nor this\n3\t\\\\.\n" },
  { kind: "copy-end", complete: true },
  { kind: "copy", sql: "copy t from STDIN with (format text);", target: "t", stdin: { start: 12, end: 17 } },
  { kind: "copy-end", complete: true },
  statement("SELECT 'é☃ 😀 unicode;', U&'d\\0061t\\+000061', X'1f';"),
  statement("INSERT INTO t VALUES ('COPY x FROM stdin;');"),
  statement("SELECT 'last, without a semicolon'\n"),
];

describe("SqlScriptSplitter", () => {
  it("splits statements as psql does, honouring quotes, comments, dollar bodies, parentheses, BEGIN ATOMIC and COPY blocks", () => {
    expect(split([TRICKY])).toEqual(TRICKY_PARTS);
  });

  it("gives the same parts wherever the input is cut, one cut at every character or a cut between every two", () => {
    for (let at = 0; at <= TRICKY.length; at++) {
      expect(split([TRICKY.slice(0, at), TRICKY.slice(at)]), `cut at ${at}`).toEqual(TRICKY_PARTS);
    }
    expect(split([...TRICKY])).toEqual(TRICKY_PARTS);
  });

  it("gives the same parts from a byte stream cut at every byte, inside multi-byte characters too", async () => {
    const bytes = Buffer.from(TRICKY);
    for (let at = 0; at <= bytes.length; at++) {
      const parts: ScriptPart[] = [];
      for await (const part of splitSqlStream(Readable.from([bytes.subarray(0, at), bytes.subarray(at)], { objectMode: false }))) parts.push(part);
      expect(parts, `cut at byte ${at}`).toEqual(TRICKY_PARTS);
    }
  });

  it("reads backslash escapes in every string once a script turns standard_conforming_strings off", () => {
    const script = "SET standard_conforming_strings = off;\nSELECT 'a\\';b';\nSET standard_conforming_strings TO 'on';\nSELECT 'c\\';\n";
    const expected = [
      statement("SET standard_conforming_strings = off;"),
      statement("SELECT 'a\\';b';"),
      statement("SET standard_conforming_strings TO 'on';"),
      statement("SELECT 'c\\';"),
    ];
    for (let at = 0; at <= script.length; at++) expect(split([script.slice(0, at), script.slice(at)])).toEqual(expected);
  });

  it("hands COPY rows out in pieces of whole lines, and says when a script ends inside them", () => {
    const rows = Array.from({ length: 20 }, (_, i) => `${i}\trow number ${i}\n`).join("");
    const parts = split([`COPY t (a, b) FROM stdin;\n${rows}`], 50);
    const pieces = parts.filter((part) => part.kind === "copy-rows").map((part) => (part.kind === "copy-rows" ? part.rows : ""));
    expect(pieces.length).toBeGreaterThan(3);
    expect(pieces.every((piece) => piece.endsWith("\n") && piece.length < 50 + 20)).toBe(true);
    expect(pieces.join("")).toBe(rows);
    expect(parts.at(-1)).toEqual({ kind: "copy-end", complete: false });
  });

  it("hands out an unterminated quote or comment as the last statement, for the database to name the error", () => {
    expect(split(["SELECT 1; SELECT 'open;\n"])).toEqual([statement("SELECT 1;"), statement("SELECT 'open;\n")]);
    expect(split(["SELECT $x$ open;"])).toEqual([statement("SELECT $x$ open;")]);
    expect(split(["-- only a comment\n/* and another */"])).toEqual([]);
  });

  it("refuses text after COPY … FROM stdin; on its line rather than taking it for rows", () => {
    expect(() => split(["COPY t FROM stdin; SELECT 1;\n1\n\\.\n"])).toThrow(/^has text after COPY t FROM stdin; on the same line/);
  });

  it("holds the statement or rows piece it reads and one input piece, never the script (counted inside the splitter)", () => {
    const piece = 64 * 1024;
    const copyChunk = 256 * 1024;
    const splitter = new SqlScriptSplitter(copyChunk);
    let input = "";
    let total = 0;
    let statements = 0;
    let rowChars = 0;
    const count = (parts: ScriptPart[]) => {
      for (const part of parts) {
        if (part.kind === "statement") statements++;
        if (part.kind === "copy-rows") rowChars += part.rows.length;
      }
    };
    const feed = (text: string) => {
      input += text;
      while (input.length >= piece) {
        count(splitter.push(input.slice(0, piece)));
        total += piece;
        input = input.slice(piece);
      }
    };
    for (let i = 0; i < 100_000; i++) feed(`INSERT INTO public.content VALUES (${i}, 'title ${i}; with ''quotes''', $$body ${i}$$); -- row ${i}\n`);
    feed("COPY public.content (id, title) FROM stdin;\n");
    for (let i = 0; i < 200_000; i++) feed(`${i}\ttitle ${i}; not a statement\n`);
    feed("\\.\n");
    count([...splitter.push(input), ...splitter.end()]);
    total += input.length;

    expect(statements).toBe(100_000);
    expect(rowChars).toBeGreaterThan(5_000_000);
    expect(total).toBeGreaterThan(15_000_000);
    // What it held at its peak: at most the longest statement or rows piece plus one input piece (and a few
    // characters of an undecided token), not the 15 MB read.
    expect(splitter.peakHeldChars).toBeLessThanOrEqual(splitter.longestPartChars + piece + 100);
    expect(splitter.peakHeldChars).toBeLessThan(copyChunk + 2 * piece);
  });

  it("reads a token longer than many pieces (a word, $tag, meta line or COPY row) once, not again with every piece", () => {
    const long = "a".repeat(1024 * 1024);
    const cases: { script: string; last: ScriptPart }[] = [
      { script: `SELECT ${long};`, last: statement(`SELECT ${long};`) },
      { script: `SELECT $${long}$ body; $${long}$;`, last: statement(`SELECT $${long}$ body; $${long}$;`) },
      { script: `\\echo ${long}\n`, last: { kind: "meta", line: `\\echo ${long}` } },
      { script: `COPY t FROM stdin;\n${long}\n\\.\n`, last: { kind: "copy-end", complete: true } },
      { script: `COPY t FROM stdin;\n${long}`, last: { kind: "copy-end", complete: false } },
    ];
    for (const { script, last } of cases) {
      const splitter = new SqlScriptSplitter();
      const parts: ScriptPart[] = [];
      for (let at = 0; at < script.length; at += 1024) parts.push(...splitter.push(script.slice(at, at + 1024)));
      parts.push(...splitter.end());
      expect(parts.at(-1), script.slice(0, 20)).toEqual(last);
      // Read again from its start with each of the 1,024 pieces, it would be about 512 times the script.
      expect(splitter.tokenSearchChars, script.slice(0, 20)).toBeLessThanOrEqual(2 * script.length);
    }
  });

  it("refuses a statement or COPY row longer than its limit with a reason, holding no more than the limit and a piece", () => {
    for (const script of [`SELECT '${"a".repeat(20_000)}';`, `COPY t FROM stdin;\n${"a".repeat(20_000)}\n\\.\n`, `SELECT ${"a".repeat(20_000)};`]) {
      const splitter = new SqlScriptSplitter(1024, 8192);
      const feed = () => {
        for (let at = 0; at < script.length; at += 100) splitter.push(script.slice(at, at + 100));
        splitter.end();
      };
      expect(feed, script.slice(0, 20)).toThrow(/^holds a statement or COPY row longer than 0 MiB characters, more than can be loaded at once: restore it into PostgreSQL/);
      expect(splitter.peakHeldChars).toBeLessThanOrEqual(8192 + 2 * 100);
    }
  });

  it("names the file in what it refuses", async () => {
    const dir = await mkdtemp(join(tmpdir(), "azora-splitter-"));
    try {
      const file = join(dir, "rows.sql");
      await writeFile(file, "COPY t FROM stdin; SELECT 1;\n1\n\\.\n");
      const read = async () => {
        for await (const part of splitSqlFile(file, "rows.sql")) void part;
      };
      await expect(read()).rejects.toThrow(/^rows\.sql has text after COPY t FROM stdin; on the same line/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
