/**
 * `npm run bench:gateway` — what the Azora gateway costs, measured against a bare Node server and nginx.
 *
 * One run measures, with wrk pinned to one core and every server pinned to another:
 *   echo      a bare Node `http` server answering a small JSON body;
 *   nginx     nginx (one worker, upstream keep-alive) proxying to that echo;
 *   nodeproxy the least a Node proxy can do (node:http + undici, nothing checked) in front of that echo;
 *   gw-*      the Azora gateway proxying to that echo with its features switched on one at a time, as Kong
 *             measures its plugins: pure proxy, + metrics, + access line, + token check, + rate limit
 *             (shared in Redis when REDIS_URL is set), then
 *   gateway   every feature on (+ circuit breaker), a real access token checked on every request; with
 *             REDIS_URL also gateway-local, every feature with in-process limits;
 *   cached    GET /api/user/:id through the whole platform, answered from the cache (X-Cache: HIT);
 *   uncached  the same request through the same code, with a cache that never holds anything (X-Cache: MISS).
 * It prints req/s and p50/p99 latency (median of several runs), each gateway row as a ratio of the bare Node
 * proxy of the same run, the ratios gateway/nginx, cached/uncached and azora-up-cached/echo, the p99 of the
 * bare proxy and the full gateway at the same paced rate (half the gateway's maximum),
 * and writes everything to bench/results/gateway-<timestamp>.json. See bench/README.md.
 *
 * `--serve echo|proxy|platform` is the server side of the same script, started by the parent under taskset.
 */
import { spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const scenarioIds = ["echo", "nginx", "nodeproxy", "gw-proxy", "gw-metrics", "gw-access", "gw-token", "gw-limit", "gateway", "gateway-local", "cached", "uncached"] as const;
type ScenarioId = (typeof scenarioIds)[number];
/** The gateway with its features switched on one at a time, then all of them (docs/adr/0250). */
const ladderIds: ScenarioId[] = ["gw-proxy", "gw-metrics", "gw-access", "gw-token", "gw-limit", "gateway"];

interface Scenario {
  id: ScenarioId;
  label: string;
  url: string;
  authenticated: boolean;
  /** Checks one response before the load starts: undefined when it is the response the scenario is about. */
  check: (response: Response, nth: number) => string | undefined;
}

interface RunFigures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

async function main(): Promise<void> {
  const { runWrk, writeWrkScript, errorCount } = await import("./wrk.ts");
  type WrkResult = Awaited<ReturnType<typeof runWrk>>;
  const { startNginx, nginxVersion } = await import("./nginx.ts");
  const { cpuSnapshot, foreignCpu, serverCpuSeconds } = await import("./foreign-cpu.ts");
  const children = await import("./children.ts");

  const settings = readSettings();
  const benchDir = dirname(fileURLToPath(import.meta.url));
  const root = resolve(benchDir, "..");

  const missing = [
    ["taskset", "util-linux"],
    ["wrk", "wrk"],
    ["nginx", "nginx"],
  ].filter(([command]) => !children.commandExists(command ?? ""));
  if (missing.length > 0) {
    for (const [command, pkg] of missing) {
      process.stderr.write(`bench:gateway: "${command}" is not installed. Install it with: apt-get install -y ${pkg}\n`);
    }
    process.exit(2);
  }
  for (const cpusList of [settings.serverCpus, settings.loadCpus]) {
    if (!children.canPin(cpusList)) {
      process.stderr.write(
        `bench:gateway: cannot pin a process to CPU(s) "${cpusList}" (this machine has ${cpus().length}). ` +
          "Set BENCH_SERVER_CPUS and BENCH_LOAD_CPUS to two distinct cores that exist.\n",
      );
      process.exit(2);
    }
  }

  const selected = settings.only;
  const needsPlatform = scenarioIds.some((id) => !["echo", "nginx", "nodeproxy"].includes(id) && selected.has(id));
  const paced = settings.pacedS > 0 && selected.has("nodeproxy") && selected.has("gateway");
  const scenarioSeconds = settings.warmupS + settings.runs * settings.durationS + 2;
  const budgetMs = ((selected.size * scenarioSeconds + (paced ? 2 * (settings.pacedS + 2) : 0)) * 1.5 + 240) * 1000;

  const tmp = await mkdtemp(join(tmpdir(), "azora-bench-"));
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    // A server writing its CPU profile on exit needs longer than the usual grace on a busy machine.
    await children.stopAll(settings.cpuProfDir ? 30_000 : 5_000);
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  };
  process.on("exit", children.killAllNow);
  children.exitAfterCleanupOnSignals("bench:gateway", "stopping the servers", cleanup);
  const budget = setTimeout(() => {
    process.stderr.write(`bench:gateway: gave up after ${Math.round(budgetMs / 1000)} s (time budget exceeded)\n`);
    void cleanup().finally(() => process.exit(1));
  }, budgetMs);

  try {
    const busyBefore = await othersCpuBusy();
    if (busyBefore !== undefined && busyBefore > 0.1) {
      log(`WARNING: ${Math.round(busyBefore * 100)}% of the CPU is busy before the benchmark starts; the figures will be noisy. Run it on a quiet machine.`);
    }
    log(
      `bench:gateway — ${settings.runs} × ${settings.durationS} s per scenario after ${settings.warmupS} s warm-up, ` +
        `${settings.connections} connections, servers on CPU ${settings.serverCpus}, wrk on CPU ${settings.loadCpus}`,
    );

    // The server side: this same script, pinned to the server core.
    const nodeFlags = settings.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(settings.cpuProfDir)}`] : [];
    const startServer = async (role: string, args: string[], timeoutMs: number) => {
      const child = children.spawnPinned(
        settings.serverCpus,
        process.execPath,
        [...nodeFlags, join(root, "bin/run-ts.js"), join(benchDir, "gateway.bench.ts"), "--serve", role, ...args],
        { cwd: root, stdio: ["pipe", "pipe", "inherit"] },
      );
      const info = await children.firstJsonLine(child, `the ${role} server`, timeoutMs);
      return { child, info };
    };

    const echo = await startServer("echo", [], 30_000);
    const echoUrl = String(echo.info.url);
    log(`echo server      ${echoUrl}`);

    let nodeProxyUrl = "";
    if (selected.has("nodeproxy")) {
      nodeProxyUrl = String((await startServer("proxy", ["--echo", echoUrl], 30_000)).info.url);
      log(`node proxy       ${nodeProxyUrl} → echo`);
    }

    let platform: Record<string, unknown> | undefined;
    let account: { email: string; password: string; userId: string } | undefined;
    let token = { value: "", at: 0 };
    if (needsPlatform) {
      log("starting the platform (temporary DATA_DIR; migrations; first start takes a few seconds) …");
      platform = (await startServer("platform", ["--echo", echoUrl, "--data-dir", join(tmp, "data")], 180_000)).info;
      log(`platform gateway ${String(platform.gateway)} (auth ${String(platform.auth)}, users ${String(platform.users)})`);
      log(`edge gateway     ${String(platform.edge)} → echo (limits ${String(platform.limits)}), and one per feature step`);
      log(`uncached gateway ${String(platform.uncached)} → users app with a cache that never holds entries`);
      const signedIn = await registerAndLogin(String(platform.gateway));
      account = signedIn.account;
      token = { value: signedIn.accessToken, at: Date.now() };
      log(`registered and signed in ${account.email} (user ${account.userId}) through the gateway`);
    }
    // Signs in again before a run during which the access token (15 min) could expire.
    const authorization = async () => {
      if (!platform || !account) return undefined;
      if (Date.now() - token.at + (settings.durationS + 60) * 1000 > 14 * 60_000) token = { value: await login(String(platform.gateway), account), at: Date.now() };
      return `Bearer ${token.value}`;
    };

    let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
    if (selected.has("nginx")) {
      nginx = await startNginx({ dir: join(tmp, "nginx"), upstreamPort: Number(echo.info.port), cpus: settings.serverCpus });
      log(`nginx            ${nginx.url} → echo`);
    }

    const userPath = `/api/user/${account?.userId ?? randomUUID()}`;
    const fromEcho = (response: Response) => (response.headers.get("x-bench-echo") === "1" ? undefined : "the answer did not come from the echo server");
    const cacheIs = (want: "HIT" | "MISS", fromNth: number) => (response: Response, nth: number) => {
      const got = response.headers.get("x-cache");
      return nth >= fromNth && got !== want ? `expected X-Cache: ${want} on request ${nth + 1}, got ${got ?? "none"}` : undefined;
    };
    const ladder = (platform?.ladder ?? {}) as Record<string, string>;
    const limitsIn = platform?.limits === "redis" ? "Redis" : "in-process";
    // Every gateway row sends the same request with the same token; the rows differ only in what the gateway does.
    const limited = (want: boolean) => (response: Response) => {
      const problem = fromEcho(response);
      if (problem) return problem;
      return response.headers.has("ratelimit-limit") === want ? undefined : want ? "no RateLimit-Limit header: the limiter did not run" : "a RateLimit-Limit header: the limiter ran";
    };
    const all: Scenario[] = [
      { id: "echo", label: "bare Node http echo", url: `${echoUrl}${userPath}`, authenticated: false, check: fromEcho },
      { id: "nginx", label: "nginx → echo", url: `${nginx?.url ?? ""}${userPath}`, authenticated: false, check: fromEcho },
      { id: "nodeproxy", label: "bare Node proxy → echo", url: `${nodeProxyUrl}${userPath}`, authenticated: false, check: fromEcho },
      { id: "gw-proxy", label: "gateway: pure proxy", url: `${ladder["gw-proxy"]}${userPath}`, authenticated: true, check: limited(false) },
      { id: "gw-metrics", label: "gateway: + metrics", url: `${ladder["gw-metrics"]}${userPath}`, authenticated: true, check: limited(false) },
      { id: "gw-access", label: "gateway: + access line", url: `${ladder["gw-access"]}${userPath}`, authenticated: true, check: limited(false) },
      { id: "gw-token", label: "gateway: + token check", url: `${ladder["gw-token"]}${userPath}`, authenticated: true, check: limited(false) },
      { id: "gw-limit", label: `gateway: + rate limit (${limitsIn})`, url: `${ladder["gw-limit"]}${userPath}`, authenticated: true, check: limited(true) },
      { id: "gateway", label: `gateway: + breaker = every feature`, url: `${String(platform?.edge)}${userPath}`, authenticated: true, check: limited(true) },
      { id: "gateway-local", label: "gateway: every feature, in-process limits", url: `${ladder["gateway-local"] ?? ""}${userPath}`, authenticated: true, check: limited(true) },
      { id: "cached", label: "azora up: GET /api/user/:id cached (HIT)", url: `${String(platform?.gateway)}${userPath}`, authenticated: true, check: cacheIs("HIT", 1) },
      { id: "uncached", label: "azora up: GET /api/user/:id uncached (MISS)", url: `${String(platform?.uncached)}${userPath}`, authenticated: true, check: cacheIs("MISS", 0) },
    ];
    // gateway-local exists only when the edge's limits are in Redis.
    const scenarios = all.filter((scenario) => selected.has(scenario.id) && (scenario.id !== "gateway-local" || ladder["gateway-local"] !== undefined));

    if (platform) {
      // The rows with the token check really check tokens: without one they answer 401 and never reach the echo.
      for (const scenario of scenarios.filter((one) => ["gw-token", "gw-limit", "gateway", "gateway-local"].includes(one.id))) {
        const anonymous = await fetch(scenario.url, { signal: AbortSignal.timeout(5_000) });
        await anonymous.body?.cancel();
        if (anonymous.status !== 401) throw new Error(`${scenario.label} answered ${anonymous.status} without a token (expected 401)`);
      }
    }

    const scriptPath = await writeWrkScript(tmp);
    const wrkOptions = { connections: settings.connections, threads: settings.threads, cpus: settings.loadCpus, scriptPath };
    const results: ScenarioResult[] = [];
    let failures = 0;
    let busiest = 0;

    // Checks and warm-up per scenario, then the measured runs in rounds (run 1 of every scenario, then run 2, …):
    // a machine whose speed drifts then skews every scenario alike instead of the ones measured last.
    const measured = new Map<ScenarioId, { warmup: WrkResult; runs: (WrkResult & { otherProcessesCpu: number; serverCpuUsPerRequest: number })[] }>();
    for (const scenario of scenarios) {
      const auth = scenario.authenticated ? await authorization() : undefined;
      for (let nth = 0; nth < 2; nth++) {
        const response = await fetch(scenario.url, { headers: auth ? { authorization: auth } : {}, signal: AbortSignal.timeout(5_000) });
        await response.arrayBuffer();
        const problem = response.status !== 200 ? `status ${response.status}` : scenario.check(response, nth);
        if (problem) throw new Error(`${scenario.label}: the request the benchmark would send is wrong: ${problem}`);
      }
      const warmup = await runWrk({ ...wrkOptions, url: scenario.url, durationS: settings.warmupS, authorization: auth });
      log(`warm-up  ${scenario.label.padEnd(44)} ${fmtRun(warmup)} (discarded)`);
      measured.set(scenario.id, { warmup, runs: [] });
    }
    for (let i = 0; i < settings.runs; i++) {
      log(`\nround ${i + 1}/${settings.runs}`);
      for (const scenario of scenarios) {
        const token = scenario.authenticated ? await authorization() : undefined;
        const before = await cpuSnapshot();
        const started = Date.now();
        const figures = await runWrk({ ...wrkOptions, url: scenario.url, durationS: settings.durationS, authorization: token });
        const after = await cpuSnapshot();
        const others = foreignCpu(before, after, (Date.now() - started) / 1000);
        const serverCpuUsPerRequest = figures.requests > 0 ? (serverCpuSeconds(before, after) * 1e6) / figures.requests : 0;
        const run = { ...figures, otherProcessesCpu: others.cores, serverCpuUsPerRequest };
        measured.get(scenario.id)?.runs.push(run);
        busiest = Math.max(busiest, others.cores);
        const errors = errorCount(run.errors);
        const noise = others.cores >= 0.1 ? `  [other processes used ${others.cores.toFixed(2)} cores: ${others.top.map((t) => t.comm).join(", ")}]` : "";
        log(`  ${scenario.label.padEnd(44)} ${fmtRun(run)}  ${Math.round(serverCpuUsPerRequest)} µs CPU/req${errors > 0 ? `  ${errors} ERRORS ${JSON.stringify(run.errors)}` : ""}${noise}`);
        if (errors > 0) failures++;
      }
    }
    for (const scenario of scenarios) {
      const { warmup, runs } = measured.get(scenario.id) ?? { warmup: undefined, runs: [] };
      if (!warmup) continue;
      results.push({
        id: scenario.id,
        label: scenario.label,
        path: userPath,
        median: {
          rps: median(runs.map((run) => run.rps)),
          p50Ms: median(runs.map((run) => run.p50Ms)),
          p99Ms: median(runs.map((run) => run.p99Ms)),
        },
        serverCpuUsPerRequest: median(runs.map((run) => run.serverCpuUsPerRequest)),
        runs,
        warmup,
      });
    }

    // Added latency: the bare proxy and the full gateway at the same paced rate, half the gateway's maximum.
    const pacedRuns: { id: ScenarioId; label: string; targetRps: number; run: RunFigures & { errors: unknown } }[] = [];
    const gatewayMax = results.find((result) => result.id === "gateway")?.median.rps ?? 0;
    if (paced && gatewayMax > 0) {
      const targetRps = gatewayMax / 2;
      log(`\npaced at about ${fmtRps(targetRps)} req/s (half the gateway's maximum), ${settings.pacedS} s each:`);
      for (const id of ["nodeproxy", "gateway"] as const) {
        const scenario = scenarios.find((one) => one.id === id);
        if (!scenario) continue;
        const auth = scenario.authenticated ? await authorization() : undefined;
        const run = await runWrk({ ...wrkOptions, url: scenario.url, durationS: settings.pacedS, authorization: auth, rps: targetRps });
        pacedRuns.push({ id, label: scenario.label, targetRps, run });
        const errors = errorCount(run.errors);
        log(`  ${scenario.label.padEnd(40)} ${fmtRun(run)}${errors > 0 ? `  ${errors} ERRORS` : ""}`);
        if (errors > 0) failures++;
      }
    }
    const pacedP99 = (id: ScenarioId) => pacedRuns.find((one) => one.id === id)?.run.p99Ms;
    const addedP99 = pacedRuns.length === 2 ? (pacedP99("gateway") ?? 0) - (pacedP99("nodeproxy") ?? 0) : undefined;

    const byId = new Map(results.map((result) => [result.id, result.median]));
    // The same ratios from CPU time per request (1 / CPU per request is the rate on a core of their own).
    const cpuById = new Map(results.map((result) => [result.id, result.serverCpuUsPerRequest]));
    const cpuRatio = (a: ScenarioId, b: ScenarioId) => {
      const x = cpuById.get(a);
      const y = cpuById.get(b);
      return x && y ? y / x : undefined;
    };
    const ratio = (a: ScenarioId, b: ScenarioId) => {
      const x = byId.get(a);
      const y = byId.get(b);
      return x && y && y.rps > 0 ? x.rps / y.rps : undefined;
    };
    const ratios = [
      // Issue 7: the split-mode gateway with every feature on against the least a Node proxy can do (docs/adr/0250).
      ...ladderIds.map((id) => ({ name: `${id} / node proxy`, value: ratio(id, "nodeproxy"), byCpu: cpuRatio(id, "nodeproxy"), target: id === "gateway" ? 0.8 : undefined })),
      { name: "gateway-local / node proxy", value: ratio("gateway-local", "nodeproxy"), byCpu: cpuRatio("gateway-local", "nodeproxy"), target: 0.8 },
      // Issue 7: `azora up` answering a cached profile, against the bare echo (docs/adr/0195).
      { name: "azora up cached / echo", value: ratio("cached", "echo"), byCpu: cpuRatio("cached", "echo"), target: 0.3 },
      { name: "cached / uncached", value: ratio("cached", "uncached"), byCpu: cpuRatio("cached", "uncached"), target: 2 },
      // The platform issue's target; out of reach of any Node proxy here (docs/adr/0003, "node proxy / nginx").
      { name: "gateway / nginx", value: ratio("gateway", "nginx"), byCpu: cpuRatio("gateway", "nginx"), target: 0.4 },
      { name: "node proxy / nginx", value: ratio("nodeproxy", "nginx"), byCpu: cpuRatio("nodeproxy", "nginx"), target: undefined },
      { name: "nginx / echo", value: ratio("nginx", "echo"), byCpu: cpuRatio("nginx", "echo"), target: undefined },
      { name: "gateway / echo", value: ratio("gateway", "echo"), byCpu: cpuRatio("gateway", "echo"), target: undefined },
    ];
    // What each step of the ladder adds: its rate against the step before it.
    const steps = ladderIds.slice(1).map((id, index) => ({ name: `${id} / ${ladderIds[index]}`, value: ratio(id, ladderIds[index] as ScenarioId), byCpu: cpuRatio(id, ladderIds[index] as ScenarioId) }));

    log("");
    printTable(results);
    log("");
    const verdictOf = (value: number | undefined, target: number | undefined) =>
      value === undefined || target === undefined ? "" : value >= target ? "met" : "BELOW TARGET";
    log(`${"ratio".padEnd(28)} ${"req/s".padStart(6)} ${"by CPU".padStart(7)}   target`);
    for (const { name, value, byCpu, target } of ratios) {
      if (value === undefined) continue;
      const verdict = target === undefined ? "" : `≥ ${target}: ${verdictOf(value, target)} (by CPU: ${verdictOf(byCpu, target)})`;
      log(`${name.padEnd(28)} ${value.toFixed(2).padStart(6)} ${(byCpu?.toFixed(2) ?? "-").padStart(7)}   ${verdict}`);
    }
    if (steps.some((step) => step.value !== undefined)) {
      log("\nwhat each feature keeps of the step before it (1.00 = free):");
      for (const { name, value, byCpu } of steps) if (value !== undefined) log(`  ${name.padEnd(28)} ${value.toFixed(2).padStart(6)} ${(byCpu?.toFixed(2) ?? "-").padStart(7)}`);
    }
    if (addedP99 !== undefined) {
      const verdict = addedP99 <= 1 ? "target ≤ 1 ms: met" : "target ≤ 1 ms: BELOW TARGET";
      log(`\nadded p99 at half the gateway's maximum rate: ${addedP99.toFixed(2)} ms (gateway ${fmtMs(pacedP99("gateway") ?? 0)} ms, node proxy ${fmtMs(pacedP99("nodeproxy") ?? 0)} ms)   ${verdict}`);
    }

    if (busiest >= 0.1) {
      log(`\nWARNING: other processes used up to ${busiest.toFixed(2)} cores during the measured runs; the figures are skewed. Run it on a quiet machine.`);
    }

    const resultsDir = join(benchDir, "results");
    await mkdir(resultsDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const file = join(resultsDir, `gateway-${stamp}.json`);
    const report = {
      benchmark: "gateway",
      at: new Date().toISOString(),
      settings: { ...settings, only: [...settings.only] },
      environment: { ...environment(nginxVersion(), platform?.logLevel), cpuBusyBeforeStart: busyBefore ?? null },
      scenarios: results,
      ratios: Object.fromEntries(ratios.filter((r) => r.value !== undefined).map((r) => [r.name, { value: r.value, byCpu: r.byCpu ?? null, target: r.target ?? null }])),
      featureSteps: Object.fromEntries(steps.filter((r) => r.value !== undefined).map((r) => [r.name, { value: r.value, byCpu: r.byCpu ?? null }])),
      paced: { runs: pacedRuns, addedP99Ms: addedP99 ?? null, target: 1 },
      runsWithErrors: failures,
      maxOtherProcessesCpu: busiest,
    };
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    log(`\nresults written to ${relative(process.cwd(), file) || file}`);

    clearTimeout(budget);
    await cleanup();
    if (failures > 0) {
      process.stderr.write(`bench:gateway: ${failures} run(s) had socket errors or non-2xx answers; the figures are not trustworthy\n`);
      process.exit(1);
    }
    if (settings.enforceTargets && (ratios.some((r) => r.target !== undefined && r.value !== undefined && r.value < r.target) || (addedP99 ?? 0) > 1)) {
      process.stderr.write("bench:gateway: a ratio is below its target (BENCH_ENFORCE_TARGETS=1)\n");
      process.exit(3);
    }
    process.exit(0);
  } catch (error) {
    clearTimeout(budget);
    process.stderr.write(`bench:gateway: ${(error as Error).stack ?? String(error)}\n`);
    await cleanup();
    process.exit(1);
  }
}

interface ScenarioResult {
  id: ScenarioId;
  label: string;
  path: string;
  median: RunFigures;
  /** Median CPU time of the servers under test per request (µs): what the rate would be on a core of their own. */
  serverCpuUsPerRequest: number;
  runs: RunFigures[];
  warmup: RunFigures;
}

function readSettings() {
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = process.env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      process.stderr.write(`bench:gateway: ${name} must be a whole number from ${min} to ${max} (got "${raw}")\n`);
      process.exit(2);
    }
    return value;
  };
  const ids: ScenarioId[] = [...scenarioIds];
  const onlyRaw = (process.env.BENCH_ONLY ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = onlyRaw.filter((id) => !ids.includes(id as ScenarioId));
  if (unknown.length > 0) {
    process.stderr.write(`bench:gateway: BENCH_ONLY knows ${ids.join(", ")} (got ${unknown.join(", ")})\n`);
    process.exit(2);
  }
  return {
    durationS: int("BENCH_DURATION", 5, 1, 600),
    runs: int("BENCH_RUNS", 5, 1, 50),
    warmupS: int("BENCH_WARMUP", 3, 1, 120),
    pacedS: int("BENCH_PACED", 10, 0, 600),
    connections: int("BENCH_CONNECTIONS", 64, 1, 10_000),
    threads: int("BENCH_THREADS", 1, 1, 64),
    serverCpus: process.env.BENCH_SERVER_CPUS || "0",
    loadCpus: process.env.BENCH_LOAD_CPUS || "1",
    only: new Set<ScenarioId>(onlyRaw.length > 0 ? (onlyRaw as ScenarioId[]) : ids),
    cpuProfDir: process.env.BENCH_CPU_PROF || undefined,
    enforceTargets: process.env.BENCH_ENFORCE_TARGETS === "1",
  };
}

/** Registers a fresh account and signs it in, both through the public gateway like any client. */
async function registerAndLogin(gateway: string): Promise<{ account: { email: string; password: string; userId: string }; accessToken: string }> {
  const email = `bench-${randomBytes(6).toString("hex")}@example.com`;
  const password = randomBytes(18).toString("base64url");
  const registered = await post(gateway, "/api/auth/register", { email, password, name: "Bench User" });
  if (registered.status !== 202) throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
  const token = await login(gateway, { email, password });
  const me = await fetch(new URL("/api/auth/me", gateway), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  const body = (await me.json()) as { id?: string };
  if (me.status !== 200 || !body.id) throw new Error(`/api/auth/me answered ${me.status}`);
  return { account: { email, password, userId: body.id }, accessToken: token };
}

async function login(gateway: string, account: { email: string; password: string }): Promise<string> {
  const response = await post(gateway, "/api/auth/login", { email: account.email, password: account.password });
  const token = (response.body as { accessToken?: string }).accessToken;
  if (response.status !== 200 || !token) throw new Error(`login answered ${response.status}: ${JSON.stringify(response.body)}`);
  return token;
}

async function post(base: string, path: string, json: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(new URL(path, base), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(json),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Keep the text.
  }
  return { status: response.status, body };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return 0;
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const fmtRps = (rps: number) => Math.round(rps).toLocaleString("en-US");
const fmtMs = (ms: number) => ms.toFixed(2);
const fmtRun = (run: RunFigures) => `${fmtRps(run.rps).padStart(8)} req/s  p50 ${fmtMs(run.p50Ms)} ms  p99 ${fmtMs(run.p99Ms)} ms`;

function printTable(results: ScenarioResult[]): void {
  const header = ["scenario", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "runs (req/s)"];
  const rows = results.map((r) => [
    r.label,
    fmtRps(r.median.rps),
    fmtMs(r.median.p50Ms),
    fmtMs(r.median.p99Ms),
    String(Math.round(r.serverCpuUsPerRequest)),
    r.runs.map((run) => fmtRps(run.rps)).join(" "),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ").trimEnd();
  log(line(header));
  log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) log(line(row));
}

function environment(nginx: string, logLevel: unknown) {
  const git = (args: string[]) => {
    const result = spawnSync("git", args, { encoding: "utf8" });
    return result.status === 0 ? result.stdout.trim() : undefined;
  };
  const wrk = spawnSync("wrk", ["--version"], { encoding: "utf8" });
  return {
    node: process.version,
    nginx,
    wrk: `${wrk.stdout}${wrk.stderr}`.split("\n")[0]?.trim(),
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    platform: `${process.platform} ${process.arch}`,
    commit: git(["rev-parse", "HEAD"]),
    dirty: (git(["status", "--porcelain"]) ?? "") !== "",
    gatewayLogLevel: logLevel ?? null,
  };
}

/** The share of all CPU time spent busy over one second (Linux /proc/stat), before anything of ours runs. */
async function othersCpuBusy(): Promise<number | undefined> {
  const sample = async () => {
    const line = (await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "";
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((sum, value) => sum + value, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { total, idle };
  };
  try {
    const first = await sample();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const second = await sample();
    const total = second.total - first.total;
    return total > 0 ? 1 - (second.idle - first.idle) / total : undefined;
  } catch {
    return undefined;
  }
}

function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

// Last, so every declaration above is initialised before it runs.
if (process.argv[2] === "--serve") {
  await (await import("./serve.ts")).serve(process.argv.slice(3));
} else {
  await main();
}
