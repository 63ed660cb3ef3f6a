// A liveness prober in its own process, as a kubelet is: one GET on a fresh connection (a kubelet keeps no
// connection between probes), each with a 1 s deadline (the kubelet's default timeoutSeconds), every 5 ms
// until stdin closes. With several URLs it probes them in turn, so a bare node:http server probed beside the
// ops port shares every condition of the run (CPU load, this process's own delays) and tells what the probe
// itself costs. At the end it writes one JSON line: per URL, every answer time in ms and the failures (a
// timeout, a refused or reset connection, a status other than 200), which a kubelet counts against the pod
// and which therefore must not fall out of the figures; and this process's own event-loop delay, which
// inflates every time it measures.
import http from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";

const TIMEOUT_MS = Number(process.env.PROBE_TIMEOUT_MS ?? 1_000);
const INTERVAL_MS = 5;
// After stdin closes, probing goes on until every URL has this many outcomes (at most 30 s more): on a busy machine
// the prober may start so late that a fixed window holds a handful of probes.
const MIN_SAMPLES = Number(process.env.PROBE_MIN_SAMPLES ?? 0);
const MIN_SAMPLES_GRACE_MS = 30_000;

const urls = process.argv.slice(2);
if (urls.length === 0) {
  process.stderr.write("usage: probe-live.js URL [URL...]\n");
  process.exit(2);
}
const results = Object.fromEntries(urls.map((url) => [url, { times: [], timeouts: 0, errors: 0, badStatus: 0 }]));
let stoppedAt;
process.stdin.resume();
process.stdin.on("end", () => (stoppedAt = performance.now()));
const outcomes = (result) => result.times.length + result.timeouts + result.errors + result.badStatus;
const running = () =>
  stoppedAt === undefined ||
  (performance.now() - stoppedAt < MIN_SAMPLES_GRACE_MS && Object.values(results).some((result) => outcomes(result) < MIN_SAMPLES));
const ownDelay = monitorEventLoopDelay({ resolution: 1 });
ownDelay.enable();

/** One probe: its answer time, or the kind of failure a kubelet would count. */
const probeOnce = (url) =>
  new Promise((resolve) => {
    const started = performance.now();
    let settled = false;
    const settle = (outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(outcome);
    };
    const request = http.get(url, { agent: false }, (response) => {
      response.resume();
      response.on("end", () => settle(response.statusCode === 200 ? { ms: performance.now() - started } : { failure: "badStatus" }));
      response.on("error", () => settle({ failure: "errors" }));
    });
    const deadline = setTimeout(() => {
      settle({ failure: "timeouts" });
      request.destroy();
    }, TIMEOUT_MS);
    request.on("error", () => settle({ failure: "errors" }));
  });

while (running()) {
  for (const url of urls) {
    const outcome = await probeOnce(url);
    const result = results[url];
    if (outcome.failure) result[outcome.failure]++;
    else result.times.push(outcome.ms);
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
}
ownDelay.disable();
process.stdout.write(`${JSON.stringify({ results, ownEventLoopDelayP99Ms: ownDelay.percentile(99) / 1e6, ownEventLoopDelayMaxMs: ownDelay.max / 1e6 })}\n`);
