import { hostname, userInfo } from "node:os";
import type { CommandIO } from "../../platform/command.ts";
import { errorRateGate, type GateResult, type RequestCounts } from "./analysis.ts";
import type { DeployState } from "./kubernetes-target.ts";
import type { PromqlGate } from "./promql-gates.ts";

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
 * An operator's rollback, handed to the deploy that holds the lock (it owns the warm old version), or the
 * marker a deploy leaves when it starts promoting: both are created exclusively, so exactly one wins.
 */
export interface RollbackRequest {
  kind: "rollback" | "promoting";
  reason: string;
  holder: string;
  at: string;
}

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
  currentVersion(): Promise<string>;
  lock(holder: string): Promise<{ ok: true } | { ok: false; holder: string }>;
  unlock(): Promise<void>;
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
  clearRollbackRequest(): Promise<void>;
  /** `azora rollback`: traffic back to the previous version; returns the versions before and after. */
  rollback(): Promise<{ before: string; after: string }>;
}

export const canarySteps = [10, 25, 50, 100] as const;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const holder = () => `${userInfo().username}@${hostname()} pid ${process.pid}`;

class StepFailed extends Error {}

/** An operator asked for a rollback while the old version was warm: the deploy switches back and ends. */
class RollbackRequested extends Error {
  constructor(readonly request: RollbackRequest) {
    super(`rolled back by ${request.holder}: ${request.reason}`);
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function audit(options: Pick<DeployOptions, "audit">, io: CommandIO, entry: { action: string; target: string; details: Record<string, unknown> }) {
  try {
    await options.audit?.(entry);
  } catch (error) {
    io.err(`The audit row ${entry.action} could not be written (${messageOf(error)}); the outcome above stands.`);
  }
}

/**
 * One state machine for both strategies and both targets: the new version beside the old → ready → smoke →
 * analysis → switch (all at once, or canary steps with an analysis at each) → analysis → keep the old
 * version warm → promote → done. Any failure puts traffic back on the old version, removes the new one,
 * and records the reason in the state and the audit log. From the switch until promotion, the old version
 * is warm and an operator's `azora rollback` is handed to this process (a rollback request), which switches
 * back at once.
 */
export async function deploy(target: DeployTarget, strategy: "blue-green" | "canary", version: string, options: DeployOptions, io: CommandIO): Promise<number> {
  const sleep = options.sleep ?? defaultSleep;
  const pollMs = options.rollbackPollMs ?? 500;
  // Read before the lock is taken: a broken installation is reported without leaving a lock behind.
  const previousVersion = await target.currentVersion();
  const locked = await target.lock(holder());
  if (!locked.ok) {
    io.err(`Another deploy or rollback is running in ${target.where} (${locked.holder}); nothing was changed. If it died, ${target.staleLockHint}`);
    return 1;
  }
  const state: DeployState = { strategy, version, previousVersion, phase: "deploying", step: "migrate", startedAt: new Date().toISOString() };
  const step = async (name: string) => {
    state.step = name;
    io.err(`${strategy} ${version} in ${target.where}: ${name}`);
    await target.writeState(state);
  };
  /** Throws when an operator asked for a rollback (accepted only once traffic reaches the new version: canary steps or switched). */
  const checkRollbackRequest = async () => {
    const request = await target.readRollbackRequest();
    if (request?.kind === "rollback") throw new RollbackRequested(request);
  };
  /** Waits `ms`, answering a rollback request within one poll. */
  const watchfulSleep = async (ms: number) => {
    const end = Date.now() + ms;
    await checkRollbackRequest();
    for (let left = ms; left > 0; left = end - Date.now()) {
      await sleep(Math.min(pollMs, left));
      await checkRollbackRequest();
    }
  };
  let preview: Preview | undefined;
  try {
    // A request left by a rollback whose deploy died with the lock is no request for this deploy.
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
      // process from here on (phase canary), and aborts the canary at once (ADR 0340).
      state.phase = "canary";
      for (const percent of canarySteps.filter((value) => value < 100)) {
        await step(`canary ${percent} %`);
        if (percent === canarySteps[0]) await target.beginCanary();
        await target.canaryStep(percent);
        await gate(`canary ${percent} % analysis`, () => watchfulSleep(options.analysisSeconds * 1000));
      }
      // A request that came during the last analysis is not followed by a switch to 100 %.
      await checkRollbackRequest();
    }
    await step("switch traffic to the preview track");
    await target.switchToPreview();
    state.phase = "switched";
    await step("analysis after the switch");
    await gate("post-switch analysis", () => watchfulSleep(options.analysisSeconds * 1000));
    await checkRollbackRequest();
    await step(`keep ${previousVersion} warm for ${options.keepWarmSeconds} s`);
    await watchfulSleep(options.keepWarmSeconds * 1000);
    // From here the old version goes away: a rollback request that comes later is refused (and, once the
    // deploy is done, is an ordinary rollback, which starts the old version again).
    const closing = await target.requestRollback({ kind: "promoting", reason: `promoting ${version}`, holder: holder(), at: new Date().toISOString() });
    if (!closing.ok && closing.existing.kind === "rollback") throw new RollbackRequested(closing.existing);
    await step("promote the stable Deployments");
    await target.promote(version);
    state.phase = "succeeded";
    state.finishedAt = new Date().toISOString();
    await step("done");
    await audit(options, io, { action: "deploy.succeeded", target: `deploy:${target.where}`, details: { strategy, version, previousVersion } });
    io.out(`Deployed ${version} to ${target.where} (${strategy}); the previous version was ${previousVersion}.`);
    return 0;
  } catch (error) {
    const requested = error instanceof RollbackRequested ? error.request : undefined;
    const reason = messageOf(error);
    const failedStep = state.step;
    const duringCanary = state.phase === "canary";
    if (requested) {
      const what = duringCanary ? `Aborting the canary: all traffic back to ${previousVersion}` : `Switching back to ${previousVersion}, which is still warm`;
      io.err(`Rollback requested by ${requested.holder} at "${failedStep}": ${requested.reason}. ${what}.`);
    } else io.err(`Deploy of ${version} failed at "${failedStep}": ${reason}`);
    io.err(`Rolling back: traffic to ${previousVersion} (stable track), preview removed.`);
    let switchedBack = false;
    try {
      await target.switchBack();
      switchedBack = true;
      // Written as soon as traffic is back: a waiting `azora rollback` reports from this state.
      Object.assign(state, { phase: "rolled_back", reason: (requested?.reason ?? reason).slice(0, 500), finishedAt: new Date().toISOString(), ...(requested ? { requestedBy: requested.holder } : {}) });
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
        details: { strategy, version, previousVersion, failedStep, reason: reason.slice(0, 500), rollbackError: problem.slice(0, 500), switchedBack, automatic: !requested },
      });
      return 1;
    }
    await audit(options, io, {
      action: "deploy.rolled_back",
      target: `deploy:${target.where}`,
      details: requested
        ? { strategy, version, previousVersion, failedStep, reason: requested.reason.slice(0, 500), automatic: false, requestedBy: requested.holder, abortedCanary: duringCanary }
        : { strategy, version, previousVersion, failedStep, reason: reason.slice(0, 500), automatic: true },
    });
    return 1;
  } finally {
    preview?.close();
    await target.clearRollbackRequest().catch((error: unknown) => io.err(`The rollback request marker could not be removed: ${messageOf(error)}`));
    await target.unlock();
  }
}

/**
 * `azora rollback ENV REASON`: traffic back to the previous version, the reason kept in the deploy state and
 * the audit log. While a deploy holds the lock with the old version still warm (after its switch, before it
 * promotes), the rollback is handed to that deploy, which switches back at once; otherwise the rollback
 * takes the lock itself (a switch while the old version is warm, a restart or `rollout undo` once it is gone).
 */
export async function rollback(target: DeployTarget, reason: string, io: CommandIO, options: Pick<DeployOptions, "audit"> & { waitSeconds?: number } = {}): Promise<number> {
  const me = holder();
  const locked = await target.lock(me);
  if (!locked.ok) return rollbackRunningDeploy(target, reason, locked.holder, io, options);
  try {
    const state = await target.readState();
    const { before, after } = await target.rollback();
    await target.writeState({
      strategy: "rollback",
      version: after,
      previousVersion: before,
      phase: "rolled_back",
      step: "done",
      startedAt: state?.startedAt ?? new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      reason,
    });
    await audit(options, io, { action: "deploy.rollback", target: `deploy:${target.where}`, details: { from: before, to: after, reason: reason.slice(0, 500) } });
    io.out(`Rolled back ${target.where} to ${after} (was ${before}): ${reason}`);
    return 0;
  } finally {
    await target.unlock();
  }
}

/**
 * The lock is held: when its deploy has traffic on the new version (canary steps, or switched with the old
 * version warm), ask it to put all traffic back on the old version and wait for it.
 */
async function rollbackRunningDeploy(target: DeployTarget, reason: string, lockHolder: string, io: CommandIO, options: Pick<DeployOptions, "audit"> & { waitSeconds?: number }): Promise<number> {
  const state = await target.readState();
  if (state?.phase !== "switched" && state?.phase !== "canary") {
    const where = state?.phase === "deploying" ? ` It is at "${state.step}", before its switch: traffic is still on ${state.previousVersion}, and a failing deploy rolls itself back.` : "";
    io.err(`Another deploy or rollback is running in ${target.where} (${lockHolder}); nothing was changed.${where} If its process died, ${target.staleLockHint}`);
    return 1;
  }
  const requested = await target.requestRollback({ kind: "rollback", reason, holder: holder(), at: new Date().toISOString() });
  if (!requested.ok) {
    io.err(
      requested.existing.kind === "promoting"
        ? `The deploy of ${state.version} in ${target.where} is promoting it now: ${state.previousVersion} is no longer kept warm. Nothing was changed; run the rollback again once \`azora deploy status\` shows it done (it then starts ${state.previousVersion} again).`
        : `A rollback of ${target.where} was already requested by ${requested.existing.holder} (${requested.existing.reason}); nothing more was changed. Follow it with \`azora deploy status\`.`,
    );
    return 1;
  }
  const canary = state.phase === "canary";
  io.err(
    canary
      ? `The canary of ${state.version} (${lockHolder}) is at "${state.step}": asked it to abort and put all traffic back on ${state.previousVersion}.`
      : `The deploy of ${state.version} (${lockHolder}) keeps ${state.previousVersion} warm: asked it to switch back.`,
  );
  const deadline = Date.now() + (options.waitSeconds ?? 120) * 1000;
  while (Date.now() < deadline) {
    const now = await target.readState();
    if (now?.startedAt !== state.startedAt) break;
    if (now.phase === "rolled_back") {
      await audit(options, io, {
        action: "deploy.rollback",
        target: `deploy:${target.where}`,
        details: { from: state.version, to: state.previousVersion, reason: reason.slice(0, 500), duringDeploy: true, step: state.step, abortedCanary: canary },
      });
      const how = canary ? `canary aborted at ${state.step}, all traffic back on the stable version` : "switched back to the warm version";
      io.out(`Rolled back ${target.where} to ${state.previousVersion} (was ${state.version}; ${how}): ${reason}`);
      return 0;
    }
    if (now.phase === "rollback_failed" || now.phase === "succeeded") {
      io.err(`The deploy of ${state.version} ended as ${now.phase}${now.reason ? ` (${now.reason})` : ""}; see \`azora deploy status\` and the audit log.`);
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  io.err(`The deploy holding the lock (${lockHolder}) did not answer the rollback request within ${options.waitSeconds ?? 120} s. If its process died, ${target.staleLockHint}, then run the rollback again.`);
  return 1;
}
