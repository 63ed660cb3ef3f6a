/**
 * `node bin/run-ts.js bench/drain-resets.ts` — how many keep-alive clients a stop resets.
 *
 * Starts `azora up` as a child (embedded database), keeps 200 keep-alive clients logging in again and
 * again, sends SIGTERM once every connection has been reused, and counts per outcome: answered (each
 * client stops at its `Connection: close`), refused (ECONNREFUSED: a new connection tried after the
 * listener closed, never accepted) and reset (ECONNRESET or a hang-up: a request that was sent and
 * lost). The goal is zero resets; see docs/adr/0030-log-files-and-drain.md; test/process/signals.test.ts
 * runs it once. Settings: DRAIN_CLIENTS (default 200), DRAIN_RUNS (default 3).
 */
import { startChildPlatform } from "../test/helpers/child-platform.ts";
import { keepAliveLoginsThrough } from "../test/helpers/keep-alive-logins.ts";

const clients = Number(process.env.DRAIN_CLIENTS ?? 200);
const runs = Number(process.env.DRAIN_RUNS ?? 3);

for (let run = 1; run <= runs; run++) {
  const platform = await startChildPlatform({ via: "azora", env: { SHUTDOWN_TIMEOUT_MS: "120000", RATE_LIMIT_AUTH: "0" } });
  try {
    const outcomes = await keepAliveLoginsThrough(platform.baseUrl, clients, () => process.kill(platform.pid, "SIGTERM"));
    process.stdout.write(`run ${run}: ${JSON.stringify(outcomes)}\n`);
  } finally {
    await platform.dispose();
  }
}
