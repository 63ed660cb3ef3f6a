import { randomUUID } from "node:crypto";
import type { CommandIO } from "../../platform/command.ts";
import { errorRateGate, type GateResult, type RequestCounts } from "./analysis.ts";
import { audit, holder, messageOf, signalExitCode, withSignals } from "./deploy-common.ts";
import type { DeployState } from "./kubernetes-target.ts";
import type { PromqlGate } from "./promql-gates.ts";
import { TransientBudget, transientLimits } from "./transient.ts";

export { rollback } from "./rollback.ts";

export interface DeployOptions {
  /** Seconds each analysis window lasts (after the switch, and at each canary step). */
  analysisSeconds: number;
  /** Seconds the old version keeps running after the switch, so a rollback is a switch. */
  keepWarmSeconds: number;
  /** Highest share of 5xx answers a gate accepts, in percent. */
  maxErrorPercent: number;
  /** Runs the smoke suite against a base URL; true when it passes. */
  smoke: (baseUrl: string) => Promise<boolean>;
  /**
   * Gates as PromQL queries against Prometheus (the monitoring's figures, over the analysis window, for
   * the `preview` track). Without it, each gate compares the new version's own request counters.
   * `measurements` per window and the `failureLimit` (failed measurements a gate may have) are the
   * failure budget; the defaults are one measurement and no failure.
   */
  promql?: { prometheusUrl: string; gates: PromqlGate[]; measurements?: number; failureLimit?: number };
  /** Writes one audit row (deploy.succeeded, deploy.rolled_back, deploy.rollback_failed, deploy.rollback); a failure to write is reported, never fatal. */
  audit?: (entry: { action: string; target: string; details: Record<string, unknown> }) => Promise<void>;
  /** How often a switched deploy looks for an operator's rollback request (default 500 ms). */
  rollbackPollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * An operator's rollback, handed to the deploy that holds the lock (it owns the warm old version), or a
 * deploy's own claim on the same slot: `moving` while it changes a canary weight or switches, `promoting`
 * from promotion on. All are created exclusively, so a rollback either comes before a move (which it then
 * stops) or after it (and waits for it).
 */
export interface RollbackRequest {
  kind: "rollback" | "promoting" | "moving";
  reason: string;
  holder: string;
  at: string;
  /** The deploy (DeployState.id) it was made for: every other deploy ignores it, and removes it when it is in the way. */
  deployId: string;
  /** Its own id: removed only by id, and named in the state of the deploy that acted on it. */
  id: string;
}

/** What a refused create reports when the request it collided with was removed before it could be read: the slot is free again, ask again. */
export const goneRequest: RollbackRequest = { kind: "moving", reason: "a request removed just now", holder: "unknown", at: "?", deployId: "", id: "" };

/** Releasing a lock (or a request) by id: not released when it is gone, or is another one now (`holder` names who has it). */
export type LockRelease = { released: true } | { released: false; holder?: string };

/** The new version as the engine sees it: where smoke tests go, and the request counts its gates compare. */
export interface Preview {
  baseUrl: string;
  /** Requests the new version answered so far, and how many of them were 5xx. */
  counts(): Promise<RequestCounts>;
  close(): void;
}

/**
 * What a place to deploy to must do; the engine's one state machine drives it. `kubernetes` moves Service
 * selectors and pod counts, `local` moves the gateway's traffic routes between two process sets.
 */
export interface DeployTarget {
  /** Where, in messages: a namespace or a data directory. */
  where: string;
  /** What an operator does when a dead deploy left its lock behind. */
  staleLockHint: string;
  /** The longest one step may keep a deploy from looking for a rollback request (Kubernetes: a rollout's --timeout). */
  longestStepSeconds: number;
  currentVersion(): Promise<string>;
  /** Takes the lock for `holder`, marked with `id` (the deploy's or rollback's own). */
  lock(holder: string, id: string): Promise<{ ok: true } | { ok: false; holder: string }>;
  /** Releases the lock only while it is still the one taken with `id`. */
  unlock(id: string): Promise<LockRelease>;
  /** Cuts short what the running step waits on (a process start, a kubectl wait) after SIGINT/SIGTERM; undoing it is the engine's. */
  interrupt?(): void;
  readState(): Promise<DeployState | undefined>;
  writeState(state: DeployState): Promise<void>;
  migrate(version: string): Promise<void>;
  /** Starts the new version beside the running one, waits until it is ready; takes no traffic yet. */
  startPreview(version: string, strategy: "blue-green" | "canary"): Promise<void>;
  openPreview(): Promise<Preview>;
  /** Before the first canary step (kubernetes: the gateway Service selects both tracks). */
  beginCanary(): Promise<void>;
  canaryStep(percent: number): Promise<void>;
  /** All traffic to the new version. */
  switchToPreview(): Promise<void>;
  /** After keep-warm: the new version becomes the one that stays, the old one stops. */
  promote(version: string): Promise<void>;
  /** Traffic back to the old version, which is still running (a switch); a no-op before the new version started. */
  switchBack(): Promise<void>;
  /** The new version stopped and removed, once no traffic reaches it; a no-op before it started. */
  removePreview(): Promise<void>;
  /** Creates the rollback request exclusively; when one exists already, that one. */
  requestRollback(request: RollbackRequest): Promise<{ ok: true } | { ok: false; existing: RollbackRequest }>;
  readRollbackRequest(): Promise<RollbackRequest | undefined>;
  /** Removes the request; with `id`, only while it is that one. */
  clearRollbackRequest(id?: string): Promise<void>;
  /** `azora rollback`: traffic back to the previous version; returns the versions before and after. */
  rollback(): Promise<{ before: string; after: string }>;
}

export const canarySteps = [10, 25, 50, 100] as const;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class StepFailed extends Error {}

/** An operator asked for a rollback while the old version was warm: the deploy switches back and ends. */
class RollbackRequested extends Error {
  constructor(readonly request: RollbackRequest) {
    super(`rolled back by ${request.holder}: ${request.reason}`);
  }
}

/** SIGINT or SIGTERM reached the deploy: it undoes what it did, as for a failure, and exits 128+signal. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * One state machine for both strategies and both targets: the new version beside the old → ready → smoke →
 * analysis → switch (all at once, or canary steps with an analysis at each) → analysis → keep the old
 * version warm → promote → done. Any failure, and SIGINT/SIGTERM, puts traffic back on the old version,
 * removes the new one, and records the reason in the state and the audit log. From the first canary step
 * until promotion an operator's `azora rollback` is handed to this process (a rollback request bound to
 * this deploy's id), which puts all traffic back at once.
 */
export async function deploy(target: DeployTarget, strategy: "blue-green" | "canary", version: string, options: DeployOptions, io: CommandIO): Promise<number> {
  const sleep = options.sleep ?? defaultSleep;
  const pollMs = options.rollbackPollMs ?? 500;
  // Read before the lock is taken: a broken installation is reported without leaving a lock behind.
  const previousVersion = await target.currentVersion();
  const me = holder();
  const id = randomUUID();
  const locked = await target.lock(me, id);
  if (!locked.ok) {
    io.err(`Another deploy or rollback is running in ${target.where} (${locked.holder}); nothing was changed. If it died, ${target.staleLockHint}`);
    return 1;
  }
  const state: DeployState = { id, strategy, version, previousVersion, phase: "deploying", step: "migrate", startedAt: new Date().toISOString() };
  let interrupted: NodeJS.Signals | undefined;
  // From the promotion on there is nothing to switch back to; while rolling back, the undo must run to its end.
  let promoting = false;
  let rollingBack = false;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    if (promoting) io.err(`${signal}: ${version} is being promoted and ${previousVersion} is going away, so there is nothing to switch back to; the promotion is finished first.`);
    else if (rollingBack) io.err(`${signal}: the deploy is already putting traffic back on ${previousVersion}; that is finished first.`);
    else {
      io.err(`${signal}: stopping the deploy of ${version} at "${state.step}": traffic back on ${previousVersion}, the new version removed, the lock released.`);
      target.interrupt?.();
    }
  };
  const again = (signal: NodeJS.Signals) =>
    io.err(`${signal} again: still ${promoting ? "promoting" : "putting things back"}; stopping now would leave the lock, the traffic or the new version half done. Wait for it (kill -9 leaves them so: then follow docs/deployment.md).`);
  return withSignals(onSignal, again, async () => {
    const checkInterrupt = () => {
      if (interrupted && !promoting) throw new Interrupted(interrupted);
    };
    const step = async (name: string) => {
      checkInterrupt();
      state.step = name;
      io.err(`${strategy} ${version} in ${target.where}: ${name}`);
      await target.writeState(state);
    };
    // A poll that fails for a moment (the API server restarting) is skipped, within the budget; not the deploy.
    const reads = new TransientBudget("reading the rollback request", transientLimits, io.err);
    /** Throws when an operator asked this deploy for a rollback (accepted only once traffic reaches the new version), or on an interrupt. */
    const checkRollbackRequest = async () => {
      checkInterrupt();
      let request: RollbackRequest | undefined;
      try {
        request = await target.readRollbackRequest();
        reads.succeeded();
      } catch (error) {
        return reads.failed(error);
      }
      if (request?.kind === "rollback" && request.deployId === id) throw new RollbackRequested(request);
    };
    /** Waits `ms`, answering a rollback request (and an interrupt) within one poll. */
    const watchfulSleep = async (ms: number) => {
      const end = Date.now() + ms;
      await checkRollbackRequest();
      for (let left = ms; left > 0; left = end - Date.now()) {
        await sleep(Math.min(pollMs, left));
        await checkRollbackRequest();
      }
    };
    /**
     * Takes the request slot (exclusively, as `kind`) before traffic moves or promotion begins: a rollback
     * request made for this deploy before it stops the deploy here; one made after waits for the slot. A
     * request left for another deploy is removed: it never applies to this one.
     */
    const claim = async (kind: "moving" | "promoting", reason: string): Promise<string> => {
      for (let attempt = 0; ; attempt++) {
        const claimId = randomUUID();
        const created = await target.requestRollback({ kind, reason, holder: me, at: new Date().toISOString(), deployId: id, id: claimId });
        if (created.ok) return claimId;
        const { existing } = created;
        if (existing.deployId === id && existing.kind === "rollback") throw new RollbackRequested(existing);
        if (attempt >= 3) throw new Error(`cannot ${reason}: the rollback request slot stays held (${existing.kind} by ${existing.holder} at ${existing.at})`);
        // Removed between the refused create and its read: the slot is free again.
        if (existing === goneRequest) continue;
        // This deploy's own claim, left when its removal failed, or a request made for another deploy.
        if (existing.deployId !== id) io.err(`  a rollback request made for another deploy (${existing.holder} at ${existing.at}) was left behind: removed, it does not apply to this one`);
        await target.clearRollbackRequest(existing.id);
      }
    };
    const release = (claimId: string) => target.clearRollbackRequest(claimId).catch((error: unknown) => io.err(`  the claim could not be removed yet (${messageOf(error)}); the end of the deploy removes it`));
    /** A canary weight change or the switch, under the claim: checked against a rollback request atomically with the move. */
    const moveTraffic = async (reason: string, work: () => Promise<void>) => {
      const claimId = await claim("moving", reason);
      try {
        await work();
      } finally {
        await release(claimId);
      }
    };
    let preview: Preview | undefined;
    try {
      // A request or claim a dead deploy left is nothing for this deploy; this one holds the lock now.
      await target.clearRollbackRequest();
      await step("migrate");
      await target.migrate(version);
      await step("start the preview track");
      await target.startPreview(version, strategy);
      preview = await target.openPreview();
      const counts = preview.counts;
      const gate = async (name: string, work: () => Promise<void>) => {
        const before = options.promql ? undefined : await counts();
        await work();
        // The PromQL measurements are spread over one more window: a rollback request is answered within it too.
        // Their module (and its YAML parser) loads only for PromQL gates: `azora rollback` imports this file too.
        const result: GateResult = options.promql
          ? await (await import("./promql-gates.ts")).runPromqlAnalysis({ ...options.promql, track: "preview", windowSeconds: options.analysisSeconds, sleep: watchfulSleep })
          : errorRateGate(before!, await counts(), options.maxErrorPercent);
        if (!result.ok) throw new StepFailed(`${name}: ${result.reason}`);
        io.err(`  ${name}: ${result.summary}`);
      };
      await step("smoke tests and analysis on the preview");
      const baseUrl = preview.baseUrl;
      await gate("smoke analysis", async () => {
        if (!(await options.smoke(baseUrl))) throw new StepFailed(`smoke tests failed against ${version}`);
      });
      if (strategy === "canary") {
        // From the first step part of the traffic is on the new version: an operator's rollback is handed to this
        // process from here on (phase canary), and aborts the canary at once (ADR 0340). Each move is claimed, so
        // an accepted rollback is never followed by another weight step (ADR 0410).
        state.phase = "canary";
        for (const percent of canarySteps.filter((value) => value < 100)) {
          await step(`canary ${percent} %`);
          await moveTraffic(`move the canary to ${percent} %`, async () => {
            if (percent === canarySteps[0]) await target.beginCanary();
            await target.canaryStep(percent);
          });
          await gate(`canary ${percent} % analysis`, () => watchfulSleep(options.analysisSeconds * 1000));
        }
      }
      await step("switch traffic to the preview track");
      // After canary steps a request that came during the last analysis is not followed by the switch to 100 %.
      if (strategy === "canary") await moveTraffic("switch all traffic to the preview track", () => target.switchToPreview());
      else await target.switchToPreview();
      state.phase = "switched";
      await step("analysis after the switch");
      await gate("post-switch analysis", () => watchfulSleep(options.analysisSeconds * 1000));
      await checkRollbackRequest();
      await step(`keep ${previousVersion} warm for ${options.keepWarmSeconds} s`);
      await watchfulSleep(options.keepWarmSeconds * 1000);
      // From here the old version goes away: a rollback request that comes later is refused (and, once the
      // deploy is done, is an ordinary rollback, which starts the old version again).
      await claim("promoting", `promoting ${version}`);
      // A signal that came while the claim was made was told the deploy stops: it does, before promotion begins.
      checkInterrupt();
      promoting = true;
      await step("promote the stable Deployments");
      await target.promote(version);
      state.phase = "succeeded";
      state.finishedAt = new Date().toISOString();
      await step("done");
      await audit(options, io, { action: "deploy.succeeded", target: `deploy:${target.where}`, details: { deployId: id, strategy, version, previousVersion } });
      io.out(`Deployed ${version} to ${target.where} (${strategy}); the previous version was ${previousVersion}.`);
      if (!interrupted) return 0;
      io.err(`Interrupted by ${interrupted} during the promotion, which was finished: ${version} is live.`);
      return signalExitCode(interrupted);
    } catch (error) {
      rollingBack = true;
      const requested = error instanceof RollbackRequested ? error.request : undefined;
      const signal = requested ? undefined : interrupted;
      // A kubectl wait ended by the interrupt fails with its own message: the interrupt is the reason.
      const reason = signal ? `interrupted by ${signal}${error instanceof Interrupted ? "" : ` (${messageOf(error)})`}` : messageOf(error);
      const failedStep = state.step;
      const duringCanary = state.phase === "canary";
      if (requested) {
        const what = duringCanary ? `Aborting the canary: all traffic back to ${previousVersion}` : `Switching back to ${previousVersion}, which is still warm`;
        io.err(`Rollback requested by ${requested.holder} at "${failedStep}": ${requested.reason}. ${what}.`);
      } else if (signal) io.err(`Deploy of ${version} interrupted by ${signal} at "${failedStep}".`);
      else io.err(`Deploy of ${version} failed at "${failedStep}": ${reason}`);
      io.err(`Rolling back: traffic to ${previousVersion} (stable track), preview removed.`);
      const exitCode = signal ? signalExitCode(signal) : 1;
      let switchedBack = false;
      try {
        await target.switchBack();
        switchedBack = true;
        // Written as soon as traffic is back: a waiting `azora rollback` reports from this state (its own request by id).
        Object.assign(state, {
          phase: "rolled_back",
          reason: (requested?.reason ?? reason).slice(0, 500),
          finishedAt: new Date().toISOString(),
          ...(requested ? { requestedBy: requested.holder, requestId: requested.id, abortedCanary: duringCanary } : {}),
          ...(signal ? { interrupted: signal } : {}),
        });
        await target.writeState(state);
        await target.removePreview();
      } catch (rollbackError) {
        const problem = messageOf(rollbackError);
        const where = switchedBack ? "traffic is back on the previous version, but the new version could not be removed" : "traffic may still reach the new version";
        io.err(`The rollback failed (${problem}): ${where}. Check \`azora deploy status\`, then run \`azora rollback\` with a reason (docs/deployment.md).`);
        Object.assign(state, { phase: "rollback_failed", reason: reason.slice(0, 500), rollbackError: problem.slice(0, 500), finishedAt: new Date().toISOString() });
        await target.writeState(state).catch((stateError: unknown) => io.err(`The deploy state could not be written either: ${messageOf(stateError)}`));
        await audit(options, io, {
          action: "deploy.rollback_failed",
          target: `deploy:${target.where}`,
          details: { deployId: id, strategy, version, previousVersion, failedStep, reason: reason.slice(0, 500), rollbackError: problem.slice(0, 500), switchedBack, automatic: !requested && !signal },
        });
        return exitCode;
      }
      const common = { deployId: id, strategy, version, previousVersion, failedStep };
      await audit(options, io, {
        action: "deploy.rolled_back",
        target: `deploy:${target.where}`,
        details: requested
          ? { ...common, reason: requested.reason.slice(0, 500), automatic: false, requestedBy: requested.holder, requestId: requested.id, abortedCanary: duringCanary }
          : signal
            ? { ...common, reason, automatic: false, interrupted: signal }
            : { ...common, reason: reason.slice(0, 500), automatic: true },
      });
      if (signal) io.err(`Stopped by ${signal}: traffic is on ${previousVersion}, ${version} removed, the lock released.`);
      return exitCode;
    } finally {
      preview?.close();
      // Only what was made for this deploy: a request bound to another one is that one's (or the next deploy ignores it).
      await target
        .readRollbackRequest()
        .then((request) => (request?.deployId === id ? target.clearRollbackRequest(request.id) : undefined))
        .catch((error: unknown) => io.err(`The rollback request marker could not be removed: ${messageOf(error)}`));
      const released = await target.unlock(id).catch((error: unknown): LockRelease => {
        io.err(`The lock could not be released (${messageOf(error)}): ${target.staleLockHint}`);
        return { released: true };
      });
      if (!released.released) {
        io.err(
          released.holder
            ? `The lock is no longer this deploy's: it was removed as stale and is held by ${released.holder} now; left in place.`
            : "The lock was already gone (removed by hand while this deploy ran); nothing to release.",
        );
      }
    }
  });
}
