// npm run bench:auth — login cost with the production argon2 parameters (not run in CI).
//
// Starts `azora up` in a child process on a temporary DATA_DIR and reports:
//  1. login throughput and latency percentiles with 50 logins in flight;
//  2. the ops port's /health/live p99 while those 50 logins run (argon2 must stay off the event loop), probed
//     from a process of its own (bench/probe-live.js), as a kubelet probes, next to the p99 of a bare node:http
//     server probed in turn by the same prober (bench/bare-live-server.js): what the probe itself costs on this
//     machine at that moment. Failed probes (1 s deadline, errors, non-200) are counted and reported, and count
//     as 1 s in the percentiles, as a kubelet counts them against the pod;
//  3. the ratio of median answer times, unknown email ÷ wrong password (no account enumeration by timing);
//  4. the ratio of median forgot-password answer times, known ÷ unknown email (the mail goes out after the answer).
//
// Where it runs (bench/README.md, "bench:auth"): unpinned by default, as production runs the server: every core the
// machine gives it, so the hashing pool is sized by its normal rule (a server pinned to one core gets one thread on
// its event loop's core, a different capacity). Optionally pinned: `azora up` and the bare server on
// BENCH_SERVER_CPUS, this process (the login load) and the prober on BENCH_LOAD_CPUS ("all", the default, unpinned). With
// DATABASE_URL and REDIS_URL set, `azora up` runs on a database and a Redis key prefix of the run's own, dropped at
// the end; PASSWORD_HASH_THREADS is handed to `azora up` as it is (docs/adr/0500).
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { embedded, postgresAndRedis } from "../test/helpers/backends.ts";
import { canPin, commandExists, exitAfterCleanupOnSignals, firstJsonLine, freePort, spawnPinned, stopChild, track, waitForHttp } from "./children.ts";
import { cpuSnapshot, foreignCpu } from "./foreign-cpu.ts";

const CONCURRENCY = 50;
const LOGINS = Number(process.env.BENCH_LOGINS ?? 400);
const TIMING_SAMPLES = Number(process.env.BENCH_TIMING_SAMPLES ?? 150);
// Unpinned unless asked: pinning changes the capacity measured (the server then sees fewer usable cores).
const SERVER_CPUS = process.env.BENCH_SERVER_CPUS || "all";
const LOAD_CPUS = process.env.BENCH_LOAD_CPUS || "all";

/** Starts a child on `cpus` ("all": wherever the kernel puts it), tracked so every exit path stops it. */
const spawnOn = (cpuList: string, command: string, args: string[], options: SpawnOptions): ChildProcess =>
  cpuList === "all" ? track(spawn(command, args, options)) : spawnPinned(cpuList, command, args, options);

/** Pins this process, every thread of it, to the load generator's cores (its fetches are the login load). */
function pinSelf(cpuList: string): void {
  if (cpuList === "all") return;
  const pinned = spawnSync("taskset", ["-a", "-p", "-c", cpuList, String(process.pid)], { stdio: "ignore" });
  if (pinned.status !== 0) throw new Error(`taskset could not pin the bench to CPU(s) ${cpuList}`);
}

/** Refuses to start when the cores cannot be pinned as asked (exit 2, with what to set). */
function checkPinning(): void {
  const lists = [SERVER_CPUS, LOAD_CPUS].filter((list) => list !== "all");
  if (lists.length > 0 && !commandExists("taskset")) {
    process.stderr.write('bench:auth: "taskset" is not installed. Install it with: apt-get install -y util-linux (or leave BENCH_SERVER_CPUS and BENCH_LOAD_CPUS unset: unpinned)\n');
    process.exit(2);
  }
  for (const list of lists) {
    if (!canPin(list)) {
      process.stderr.write(`bench:auth: cannot pin a process to CPU(s) "${list}" (this machine has ${cpus().length}). Set BENCH_SERVER_CPUS and BENCH_LOAD_CPUS to cores that exist, or "all".\n`);
      process.exit(2);
    }
  }
}

/** Threads of `pid` running at a lowered priority: the argon2 threads the server has started (argon2-worker.js). */
async function loweredPriorityThreads(pid: number): Promise<number> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const nices = await Promise.all(
    tasks.map(async (task) => {
      const stat = await readFile(`/proc/${pid}/task/${task}/stat`, "utf8").catch(() => "");
      // Fields after the command name (which may hold spaces): state is the 3rd field, nice the 19th.
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
    }),
  );
  return nices.filter((nice) => nice > 0).length;
}

/** Both or neither: PostgreSQL without Redis (or the reverse) is not a shape the platform is measured in. */
function chooseBackend() {
  const { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl } = process.env;
  if (Boolean(databaseUrl) !== Boolean(redisUrl)) {
    process.stderr.write("bench:auth: set both DATABASE_URL and REDIS_URL (PostgreSQL + Redis), or neither (the embedded default).\n");
    process.exit(2);
  }
  return databaseUrl && redisUrl ? postgresAndRedis(databaseUrl, redisUrl, "bench") : embedded;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const ms = (value: number) => `${value.toFixed(1)} ms`;

async function timed(url: string, init: RequestInit): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(url, init);
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started };
}

const loginRequest = (email: string, password: string): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ email, password }),
});

interface ProbeResult {
  times: number[];
  timeouts: number;
  errors: number;
  badStatus: number;
}
interface ProbeReport {
  results: Record<string, ProbeResult>;
  ownEventLoopDelayP99Ms: number;
  ownEventLoopDelayMaxMs: number;
}
/** A failed probe counts as its deadline (1 s): a kubelet counts it against the pod, so it must not vanish. */
const PROBE_FAILURE_MS = 1_000;

/**
 * Starts bench/probe-live.js on `urls` (probed in turn); `stop()` closes its stdin and resolves with its report once
 * each URL has at least `minSamples` outcomes.
 */
function startProbe(urls: string[], minSamples = 0) {
  // On the load generator's cores: a kubelet probes from outside the pod.
  const prober = spawnOn(LOAD_CPUS, process.execPath, [join(import.meta.dirname, "probe-live.js"), ...urls], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, PROBE_MIN_SAMPLES: String(minSamples) },
  });
  let output = "";
  prober.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => prober.once("exit", () => resolve()));
  return {
    async stop(): Promise<ProbeReport> {
      prober.stdin!.end();
      await exited;
      return JSON.parse(output) as ProbeReport;
    },
  };
}

/** One URL's probes: percentiles over every probe (failures as 1 s), and the failures by kind. */
function probeFigures(result: ProbeResult) {
  const failures = result.timeouts + result.errors + result.badStatus;
  const all = [...result.times, ...Array.from({ length: failures }, () => PROBE_FAILURE_MS)];
  return {
    samples: all.length,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    failures: { timeouts: result.timeouts, errors: result.errors, badStatus: result.badStatus },
  };
}

/** The ops port's figures beside the bare server's from the same prober, and the ops port's excess over it. */
function liveFigures(report: ProbeReport, opsUrl: string, bareUrl: string) {
  const ops = probeFigures(report.results[opsUrl]!);
  const bare = probeFigures(report.results[bareUrl]!);
  const show = (figures: ReturnType<typeof probeFigures>) => ({ ...figures, p50: ms(figures.p50), p99: ms(figures.p99) });
  return {
    opsPort: show(ops),
    bareNodeHttp: show(bare),
    opsMinusBareP99: ms(ops.p99 - bare.p99),
    proberOwnEventLoopDelayP99: ms(report.ownEventLoopDelayP99Ms),
  };
}

async function main() {
  checkPinning();
  const backend = chooseBackend();
  pinSelf(LOAD_CPUS);
  const dataDir = await mkdtemp(join(tmpdir(), "azora-bench-auth-"));
  // A database and a Redis key prefix of this run's own on PostgreSQL + Redis (nothing on the embedded default).
  // The cleanup waits for it, so a Ctrl-C while the database is being created still drops it.
  const provisioning = backend.provision();
  let child: ChildProcess | undefined;
  let bare: ChildProcess | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      if (child) await stopChild(child);
      bare?.stdin!.end();
      if (bare) await stopChild(bare);
      try {
        // A provisioning that failed created nothing to drop.
        await (await provisioning.catch(() => undefined))?.dispose();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    })());
  exitAfterCleanupOnSignals("bench:auth", "stopping the servers and dropping the run's database", cleanup);
  // A failed provisioning (an unreachable server) still removes the temporary DATA_DIR.
  const provisioned = await provisioning.catch(async (error: unknown) => {
    await cleanup();
    throw error;
  });
  const [port, opsPort] = [await freePort(), await freePort()];
  child = spawnOn(SERVER_CPUS, process.execPath, ["bin/azora.js", "up"], {
    env: {
      ...process.env,
      ...provisioned.env,
      DATA_DIR: dataDir,
      HOST: "127.0.0.1",
      PORT: String(port),
      OPS_PORT: String(opsPort),
      LOG_STDOUT: "false",
      // The gateway's per-IP auth limit and the guard's budgets would refuse one client's 400 logins.
      RATE_LIMIT_AUTH: "0",
      LOGIN_FREE_FAILURES: "1000",
      LOGIN_ACCOUNT_IP_FAILURES: "10000",
      LOGIN_IP_DAILY_FAILURES: "10000000",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const server = child;
  // The baseline server: a process of its own at the same priority on the server's cores, stopped with the platform.
  bare = spawnOn(SERVER_CPUS, process.execPath, [join(import.meta.dirname, "bare-live-server.js")], { stdio: ["pipe", "pipe", "inherit"] });
  const base = `http://127.0.0.1:${port}`;
  const live = `http://127.0.0.1:${opsPort}/health/live`;
  try {
    const bareLive = String((await firstJsonLine(bare, "bare-live-server", 10_000)).url);
    await waitForHttp(`${base}/health`, 180_000, () => server.exitCode === null);
    const email = `bench-${Date.now()}@example.com`;
    const password = "bench-password-long-enough";
    const registered = await fetch(`${base}/api/auth/register`, loginRequest(email, password));
    if (registered.status !== 202) throw new Error(`register answered ${registered.status}`);
    // Warm-up: JIT, connection pools, the dummy hash.
    for (let i = 0; i < 10; i++) await timed(`${base}/api/auth/login`, loginRequest(email, password));

    // Baseline in the same run: /health/live with nothing else going on (this machine's floor).
    const idleProbe = startProbe([live, bareLive], 200);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    const idleLive = await idleProbe.stop();
    // The server's own event-loop delay (prom-client's monitorEventLoopDelay, reset at each scrape): read once
    // to start a fresh window, then after the load. It tells the server's delay from this client's (the probe
    // shares this process with 50 login requests in flight).
    const loopLagP99 = async () => {
      const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      const match = /^nodejs_eventloop_lag_p99_seconds(?:\{[^}]*\})? ([0-9.e+-]+)$/m.exec(text);
      return match ? Number(match[1]) * 1000 : Number.NaN;
    };
    await loopLagP99();

    // 1 + 2: 50 logins in flight, /health/live probed meanwhile.
    const loginTimes: number[] = [];
    const statuses: Record<number, number> = {};
    let issued = 0;
    const loadProbe = startProbe([live, bareLive]);
    const loadAverageBefore = loadavg();
    const cpuBefore = await cpuSnapshot();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (issued < LOGINS) {
          issued++;
          const result = await timed(`${base}/api/auth/login`, loginRequest(email, password));
          statuses[result.status] = (statuses[result.status] ?? 0) + 1;
          if (result.status === 200) loginTimes.push(result.ms);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const hashingThreads = await loweredPriorityThreads(server.pid!);
    const otherProcesses = foreignCpu(cpuBefore, await cpuSnapshot(), seconds);
    const loadAverageAfter = loadavg();
    const loadLive = await loadProbe.stop();
    const serverLoopLagP99 = await loopLagP99();

    // 3: unknown email vs wrong password, one at a time, interleaved so drift hits both alike.
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < TIMING_SAMPLES; i++) {
      unknown.push((await timed(`${base}/api/auth/login`, loginRequest(`nobody-${i}@example.com`, "bench-wrong-password"))).ms);
      wrong.push((await timed(`${base}/api/auth/login`, loginRequest(email, `bench-wrong-password-${i}`))).ms);
    }

    // 4: forgot-password, known vs unknown email. Known accounts are spread so none reaches the per-account
    // mail cap (5 an hour): every known request really issues a token and writes a mail. The next request
    // waits until that mail is written, so the work after one answer does not slow the next one down.
    const knownEmails: string[] = [];
    for (let i = 0; i < Math.ceil(TIMING_SAMPLES / 4); i++) {
      const known = `bench-forgot-${i}-${Date.now()}@example.com`;
      await fetch(`${base}/api/auth/register`, loginRequest(known, password));
      knownEmails.push(known);
    }
    const forgotRequest = (address: string): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: address }) });
    const forgotKnown: number[] = [];
    const forgotUnknown: number[] = [];
    // After the mail file is written the outbox still marks its row sent (one UPDATE): the pause lets that end too.
    const pause = () => new Promise((resolve) => setTimeout(resolve, 100));
    const mailDir = join(dataDir, "mail");
    const mailsWritten = async () => (await readdir(mailDir).catch(() => [] as string[])).length;
    /** Waits until the known email's mail is written (no SMTP_URL: .eml files), so its work is over. */
    const mailWrittenAfter = async (before: number) => {
      for (let waited = 0; (await mailsWritten()) <= before && waited < 5_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    for (let i = 0; i < TIMING_SAMPLES; i++) {
      const knownFirst = i % 2 === 0;
      for (const kind of knownFirst ? ["known", "unknown"] : ["unknown", "known"]) {
        const address = kind === "known" ? knownEmails[i % knownEmails.length]! : `nobody-forgot-${i}@example.com`;
        const before = await mailsWritten();
        const answer = await timed(`${base}/api/auth/password/forgot`, forgotRequest(address));
        if (answer.status !== 202) throw new Error(`forgot answered ${answer.status}`);
        (kind === "known" ? forgotKnown : forgotUnknown).push(answer.ms);
        if (kind === "known") await mailWrittenAfter(before);
        await pause();
      }
    }

    const report = {
      backend: backend.name,
      serverCpus: SERVER_CPUS,
      loadCpus: LOAD_CPUS,
      passwordHashThreads: process.env.PASSWORD_HASH_THREADS || "unset (usable cores − 1, at least 1)",
      hashingThreadsStarted: hashingThreads,
      logins: LOGINS,
      concurrency: CONCURRENCY,
      statuses,
      loginsPerSecond: Number((LOGINS / seconds).toFixed(1)),
      loginP50: ms(percentile(loginTimes, 50)),
      loginP99: ms(percentile(loginTimes, 99)),
      healthLiveUnderLoad: liveFigures(loadLive, live, bareLive),
      healthLiveTarget: "opsPort p99 ≤ 10 ms",
      healthLiveIdle: liveFigures(idleLive, live, bareLive),
      loadAverage1mBeforeAndAfterLogins: [loadAverageBefore[0] ?? 0, loadAverageAfter[0] ?? 0].map((value) => Number(value.toFixed(2))),
      otherProcessesCpuCoresDuringLogins: Number(otherProcesses.cores.toFixed(2)),
      otherProcessesTop: otherProcesses.top.map((entry) => `${entry.comm} ${entry.cores.toFixed(2)}`),
      serverEventLoopLagP99UnderLoad: ms(serverLoopLagP99),
      medianUnknownEmail: ms(percentile(unknown, 50)),
      medianWrongPassword: ms(percentile(wrong, 50)),
      ratioUnknownToWrong: Number((percentile(unknown, 50) / percentile(wrong, 50)).toFixed(3)),
      ratioTarget: "0.9–1.1",
      medianForgotKnown: ms(percentile(forgotKnown, 50)),
      medianForgotUnknown: ms(percentile(forgotUnknown, 50)),
      ratioForgotKnownToUnknown: Number((percentile(forgotKnown, 50) / percentile(forgotUnknown, 50)).toFixed(3)),
      ratioForgotTarget: "0.9–1.1",
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await cleanup();
  }
}

await main();
