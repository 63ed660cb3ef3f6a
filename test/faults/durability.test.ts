import { readFile, rm } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { apiClient } from "../helpers/api.ts";
import { azoraBin, spawnCli, type RunningCli } from "../helpers/cli.ts";
import { eventually, isAlive, processTree } from "../helpers/child-platform.ts";
import { makeDataDir } from "../helpers/platform.ts";
import { toolAvailability } from "../helpers/tools.ts";

const strace = toolAvailability("strace", "strace");
const INSERTS = 15;

/**
 * The embedded database's DB_SYNC promise, checked on the system calls of a real `azora up`: in mode
 * "always" every acknowledged insert is preceded by an fsync (between the previous insert's response
 * and its own), in mode "off" nothing is synced. The child always runs on the embedded database (its
 * environment is explicit); PostgreSQL keeps its own promise (synchronous_commit).
 */
describe.skipIf(!strace.run)(`DB_SYNC on the embedded database ${strace.reason}`, () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  /** Starts `azora up` under strace and inserts content one request at a time; returns the trace. */
  const traceInserts = async (mode: string, settle?: (trace: () => Promise<string>) => Promise<unknown>) => {
    const dataDir = await makeDataDir();
    const traceFile = `${dataDir}.strace`;
    const env = { PORT: "0", OPS_PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir, DB_SYNC: mode };
    // -s 16 keeps only the start of each written buffer: enough for "HTTP/1.1 201".
    const run = spawnCli(["-f", "-qq", "-s", "16", "-o", traceFile, "-e", "trace=fsync,fdatasync,write,writev", process.execPath, azoraBin, "up"], env, "strace");
    cleanups.push(() => stop(run, dataDir, traceFile));
    const [, baseUrl = ""] = await run.waitFor(/API:\s+(http:\/\/\S+)/, 480_000);
    const api = apiClient(baseUrl);
    const user = await api.newUser("durable");
    for (let index = 0; index < INSERTS; index++) {
      const created = await api.call("POST", "/api/content", { token: user.accessToken, json: { title: `t${index}`, body: "b" } });
      expect(created.status).toBe(201);
    }
    await settle?.(() => readFile(traceFile, "utf8"));
    return readFile(traceFile, "utf8");
  };

  it("always: an fsync precedes every acknowledged insert's response, and none runs on the event loop", async () => {
    const trace = await traceInserts("always");
    expect(syncedAcknowledgements(trace)).toBe(INSERTS);
    // The WAL fsyncs run on libuv's threads (ADR 0420): on the event loop each one stopped every request of the
    // process for a disk flush. Strace -f prefixes each line with its thread id; the event loop writes the answers.
    const lines = trace.split("\n");
    const eventLoop = threadOf(lines.find(isCreatedResponse) ?? "");
    expect(eventLoop).toBeDefined();
    expect(syncedAcknowledgements(trace, (line) => threadOf(line) !== eventLoop)).toBe(INSERTS);
    const acknowledged = lines.slice(lines.findIndex(isCreatedResponse), lines.findLastIndex(isCreatedResponse) + 1);
    expect(acknowledged.filter((line) => isSync(line) && threadOf(line) === eventLoop)).toEqual([]);
  }, 900_000);

  it("interval: acknowledged inserts are synced afterwards by the timer", async () => {
    const syncedAfterLastInsert = (trace: string) => {
      const lines = trace.split("\n");
      return lines.slice(lines.findLastIndex(isCreatedResponse)).some(isSync);
    };
    const trace = await traceInserts("interval", (read) => eventually(async () => syncedAfterLastInsert(await read())));
    expect(syncedAfterLastInsert(trace)).toBe(true);
  }, 900_000);

  it("off: acknowledged inserts are never synced", async () => {
    const trace = await traceInserts("off");
    const lines = trace.split("\n");
    const first = lines.findIndex(isCreatedResponse);
    const last = lines.findLastIndex(isCreatedResponse);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(lines.slice(first, last + 1).filter(isSync)).toEqual([]);
  }, 900_000);
});

const isSync = (line: string) => /\b(fsync|fdatasync)\(/.test(line);
const isCreatedResponse = (line: string) => /\bwritev?\(.*HTTP\/1\.1 201/.test(line);
/** The thread id strace -f writes at the start of each line. */
const threadOf = (line: string) => /^\s*(\d+)\s/.exec(line)?.[1];

/**
 * Counts the 201 responses written after an fsync that followed the previous 201 response. A request
 * crossing the gateway writes its 201 twice (service, then gateway) with no commit between: those count
 * once, so the count equals the number of inserts only if each one was synced before it was answered.
 * `counts` says which syncs count (those of some threads only, say).
 */
function syncedAcknowledgements(trace: string, counts: (syncLine: string) => boolean = () => true): number {
  let synced = false;
  let count = 0;
  for (const line of trace.split("\n")) {
    if (isSync(line)) synced ||= counts(line);
    else if (isCreatedResponse(line) && synced) {
      count++;
      synced = false;
    }
  }
  return count;
}

async function stop(run: RunningCli, dataDir: string, traceFile: string) {
  // Signalling strace would detach it and leave the platform running: signal the traced processes.
  const tree = processTree(run.child.pid ?? -1);
  for (const pid of tree.slice(1)) if (isAlive(pid)) process.kill(pid, "SIGTERM");
  await Promise.race([run.exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
  for (const pid of tree) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  await rm(dataDir, { recursive: true, force: true });
  await rm(traceFile, { force: true });
}
