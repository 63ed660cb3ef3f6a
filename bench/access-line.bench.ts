// npm run bench:access-line — what one access line costs in CPU, the general logger path against the
// fixed template (docs/adr/0310), measured in the same process in alternating rounds (not run in CI).
//
// Two comparisons, each reported as a ratio of CPU time per line (user + system, process.cpuUsage), the
// median over the rounds:
//  1. "to api.log": the line as the gateway writes it, through createLogs' api logger (child with
//     `service`) into a real api.log in a temporary directory (4 KiB buffered synchronous appends);
//  2. "serializer only": the same two paths into a logger whose destination drops the line, so what is
//     left is building the line (scrubLogObject + pino's serializer, against the template).
// Absolute numbers depend on the machine and its load; the ratios are what to read.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { accessLineWriter, formatAccessLine, type AccessLine } from "../src/platform/access-line.ts";
import { LogEvent } from "../src/platform/log-events.ts";
import { createLogs, isoTimeOncePerMs, scrubLogObject } from "../src/platform/logger.ts";

const LINES_PER_ROUND = Number(process.env.BENCH_LINES ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

/** Lines like the bench's cached read: verified caller, UUID ids, a short duration. */
const samples: AccessLine[] = Array.from({ length: 64 }, (_, index) => ({
  requestId: crypto.randomUUID(),
  method: "GET",
  route: "/api/user/:id",
  path: `/api/user/${crypto.randomUUID()}`,
  status: index % 16 === 0 ? 404 : 200,
  durationMs: Math.round(Math.random() * 30) / 10,
  ip: "127.0.0.1",
  user: crypto.randomUUID(),
  tokenId: crypto.randomUUID(),
}));

type Write = (line: AccessLine) => void;

/** CPU microseconds per line for `write` over one round. */
function cpuPerLine(write: Write): number {
  const started = process.cpuUsage();
  for (let index = 0; index < LINES_PER_ROUND; index++) write(samples[index & 63] as AccessLine);
  const used = process.cpuUsage(started);
  return (used.user + used.system) / LINES_PER_ROUND;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** Alternates the two writers round by round (after a warm-up of each), so both see the same machine. */
function compare(label: string, general: Write, template: Write): void {
  cpuPerLine(general);
  cpuPerLine(template);
  const generalUs: number[] = [];
  const templateUs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    generalUs.push(cpuPerLine(general));
    templateUs.push(cpuPerLine(template));
  }
  const [g, t] = [median(generalUs), median(templateUs)];
  console.log(`${label.padEnd(16)} general ${g.toFixed(2).padStart(6)} µs/line   template ${t.toFixed(2).padStart(6)} µs/line   general / template ${(g / t).toFixed(2)}×   (medians of ${ROUNDS} rounds of ${LINES_PER_ROUND})`);
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), "azora-bench-access-line-"));
  try {
    const logs = createLogs({ dir, level: "info", stdout: false });
    const edge = logs.api.child({ service: "gateway" });
    const viaLogger = (logger: pino.Logger): Write => (line) => logger.info({ event: LogEvent.HTTP_REQUEST, ...line }, "request");
    compare("to api.log", viaLogger(edge), accessLineWriter(edge));
    logs.close();

    // The general path as createLogs configures it, into a destination that drops the line.
    const dropped = pino(
      { level: "info", base: { log: "api" }, timestamp: isoTimeOncePerMs, formatters: { log: scrubLogObject, level: (label) => ({ level: label }) }, serializers: { err: (value: unknown) => value } },
      { write: () => undefined },
    ).child({ service: "gateway" });
    const head = () => `{"level":"info"${isoTimeOncePerMs()},"log":"api","service":"gateway"`;
    let sink = 0;
    compare("serializer only", viaLogger(dropped), (line) => {
      sink += formatAccessLine(head(), line).length;
    });
    if (sink === 0) console.log("(nothing written)");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
