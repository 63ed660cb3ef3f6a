import { hostname, userInfo } from "node:os";
import type { CommandIO } from "../../platform/command.ts";
import { errorRateGate, type GateResult, type RequestCounts } from "./analysis.ts";
import type { DeployState } from "./kubernetes-target.ts";
import { runPromqlAnalysis, type PromqlGate } from "./promql-gates.ts";

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
   */
  promql?: { prometheusUrl: string; gates: PromqlGate[] };
  /** Writes one audit row (deploy.succeeded, deploy.rolled_back, deploy.rollback); a failure to write is reported, never fatal. */
  audit?: (entry: { action: string; target: string; details: Record<string, unknown> }) => Promise<void>;
  sleep?: (ms: number) => Promise<void>;
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
  /** Traffic back to the old version, the new one removed. */
  abort(): Promise<void>;
  /** `azora rollback`: traffic back to the previous version; returns the versions before and after. */
  rollback(): Promise<{ before: string; after: string }>;
}

export const canarySteps = [10, 25, 50, 100] as const;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const holder = () => `${userInfo().username}@${hostname()} pid ${process.pid}`;

class StepFailed extends Error {}

async function audit(options: Pick<DeployOptions, "audit">, io: CommandIO, entry: { action: string; target: string; details: Record<string, unknown> }) {
  try {
    await options.audit?.(entry);
  } catch (error) {
    io.err(`The audit row ${entry.action} could not be written (${error instanceof Error ? error.message : String(error)}); the outcome above stands.`);
  }
}

/**
 * One state machine for both strategies and both targets: the new version beside the old → ready → smoke →
 * analysis → switch (all at once, or canary steps with an analysis at each) → analysis → keep the old
 * version warm → promote → done. Any failure puts traffic back on the old version, removes the new one,
 * and records the reason in the state and the audit log.
 */
export async function deploy(target: DeployTarget, strategy: "blue-green" | "canary", version: string, options: DeployOptions, io: CommandIO): Promise<number> {
  const sleep = options.sleep ?? defaultSleep;
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
  let preview: Preview | undefined;
  try {
    await step("migrate");
    await target.migrate(version);
    await step("start the preview track");
    await target.startPreview(version, strategy);
    preview = await target.openPreview();
    const counts = preview.counts;
    const gate = async (name: string, work: () => Promise<void>) => {
      const before = options.promql ? undefined : await counts();
      await work();
      const result: GateResult = options.promql
        ? await runPromqlAnalysis({ ...options.promql, track: "preview", windowSeconds: options.analysisSeconds })
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
      await target.beginCanary();
      for (const percent of canarySteps.filter((value) => value < 100)) {
        await step(`canary ${percent} %`);
        await target.canaryStep(percent);
        await gate(`canary ${percent} % analysis`, () => sleep(options.analysisSeconds * 1000));
      }
    }
    await step("switch traffic to the preview track");
    await target.switchToPreview();
    state.phase = "switched";
    await step("analysis after the switch");
    await gate("post-switch analysis", () => sleep(options.analysisSeconds * 1000));
    await step(`keep ${previousVersion} warm for ${options.keepWarmSeconds} s`);
    await sleep(options.keepWarmSeconds * 1000);
    await step("promote the stable Deployments");
    await target.promote(version);
    state.phase = "succeeded";
    state.finishedAt = new Date().toISOString();
    await step("done");
    await audit(options, io, { action: "deploy.succeeded", target: `deploy:${target.where}`, details: { strategy, version, previousVersion } });
    io.out(`Deployed ${version} to ${target.where} (${strategy}); the previous version was ${previousVersion}.`);
    return 0;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const failedStep = state.step;
    io.err(`Deploy of ${version} failed at "${failedStep}": ${reason}`);
    io.err(`Rolling back: traffic to ${previousVersion} (stable track), preview removed.`);
    await target.abort();
    Object.assign(state, { phase: "rolled_back", reason, finishedAt: new Date().toISOString() });
    await target.writeState(state);
    await audit(options, io, { action: "deploy.rolled_back", target: `deploy:${target.where}`, details: { strategy, version, previousVersion, failedStep, reason: reason.slice(0, 500), automatic: true } });
    return 1;
  } finally {
    preview?.close();
    await target.unlock();
  }
}

/**
 * `azora rollback ENV REASON`: traffic back to the previous version (a switch while it is still warm), the
 * reason kept in the deploy state and the audit log.
 */
export async function rollback(target: DeployTarget, reason: string, io: CommandIO, options: Pick<DeployOptions, "audit"> = {}): Promise<number> {
  const locked = await target.lock(holder());
  if (!locked.ok) {
    io.err(`Another deploy or rollback is running in ${target.where} (${locked.holder}); nothing was changed. A failing deploy rolls itself back; if its process died, ${target.staleLockHint}`);
    return 1;
  }
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
