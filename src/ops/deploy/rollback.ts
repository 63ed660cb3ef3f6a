import { randomUUID } from "node:crypto";
import type { CommandIO } from "../../platform/command.ts";
import { answerMarginSeconds, audit, holder, messageOf, rollbackWaitSeconds, withSignals } from "./deploy-common.ts";
import { goneRequest, type DeployOptions, type DeployTarget, type LockRelease } from "./engine.ts";
import type { DeployState } from "./kubernetes-target.ts";
import { TransientBudget, transientLimits } from "./transient.ts";

type AuditOption = Pick<DeployOptions, "audit">;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function reportRelease(released: LockRelease, io: CommandIO): void {
  if (released.released) return;
  io.err(released.holder ? `The lock is no longer this rollback's: it was removed as stale and is held by ${released.holder} now; left in place.` : "The lock was already gone (removed by hand meanwhile).");
}

/**
 * `azora rollback ENV REASON`: traffic back to the previous version, the reason kept in the deploy state and
 * the audit log. While a deploy holds the lock with traffic on the new version (canary steps, or switched with
 * the old version warm), the rollback is handed to that deploy, which puts all traffic back at once; otherwise
 * the rollback takes the lock itself (a switch while the old version is warm, a restart or `rollout undo` once
 * it is gone).
 */
export async function rollback(target: DeployTarget, reason: string, io: CommandIO, options: AuditOption = {}): Promise<number> {
  const me = holder();
  const id = randomUUID();
  const locked = await target.lock(me, id);
  if (!locked.ok) return rollbackRunningDeploy(target, reason, locked.holder, io, options);
  // A rollback stopped half-way would leave traffic split: a signal is reported, and the rollback finishes.
  const onSignal = (signal: NodeJS.Signals) => io.err(`${signal}: the rollback is finished first (stopping it half-way would leave traffic split).`);
  return withSignals(onSignal, onSignal, async () => {
    try {
      // Its own start and id: the state names this rollback, not the deploy it rolls back.
      const startedAt = new Date().toISOString();
      const { before, after } = await target.rollback();
      await target.writeState({ id, strategy: "rollback", version: after, previousVersion: before, phase: "rolled_back", step: "done", startedAt, finishedAt: new Date().toISOString(), reason, requestedBy: me });
      await audit(options, io, { action: "deploy.rollback", target: `deploy:${target.where}`, details: { deployId: id, from: before, to: after, reason: reason.slice(0, 500), duringDeploy: false } });
      io.out(`Rolled back ${target.where} to ${after} (was ${before}): ${reason}`);
      return 0;
    } finally {
      reportRelease(await target.unlock(id), io);
    }
  });
}

/** The deploy a state belongs to (states of older releases have no id: their start then tells them apart). */
const sameDeploy = (state: DeployState, now: DeployState | undefined) => now !== undefined && (state.id ? now.id === state.id : now.startedAt === state.startedAt);

/**
 * The lock is held: when its deploy has traffic on the new version (canary steps, or switched with the old
 * version warm), ask it to put all traffic back on the old version and wait for it. The request is bound to
 * that deploy's id: no other deploy acts on it, and it is withdrawn when that deploy ended without it.
 */
async function rollbackRunningDeploy(target: DeployTarget, reason: string, lockHolder: string, io: CommandIO, options: AuditOption): Promise<number> {
  const state = await target.readState();
  if (state?.phase !== "switched" && state?.phase !== "canary") {
    const where = state?.phase === "deploying" ? ` It is at "${state.step}", before its switch: traffic is still on ${state.previousVersion}, and a failing deploy rolls itself back.` : "";
    io.err(`Another deploy or rollback is running in ${target.where} (${lockHolder}); nothing was changed.${where} If its process died, ${target.staleLockHint}`);
    return 1;
  }
  const deployId = state.id ?? "";
  const requestId = randomUUID();
  const waitSeconds = rollbackWaitSeconds(target);
  const deadline = Date.now() + waitSeconds * 1000;
  // The polls below tolerate passing failures (an API server restarting) as the deploy's own polls do.
  const reads = new TransientBudget("reading the deploy state", transientLimits, io.err);
  const readState = async (): Promise<DeployState | undefined | "unread"> => {
    try {
      const now = await target.readState();
      reads.succeeded();
      return now;
    } catch (error) {
      reads.failed(error);
      return "unread";
    }
  };
  const withdraw = () => target.clearRollbackRequest(requestId).catch((error: unknown) => io.err(`The request could not be withdrawn (${messageOf(error)}); no other deploy acts on it.`));

  /** What the deploy's state says about this request: an exit code once it is settled, undefined while it runs. */
  const settled = async (now: DeployState | undefined): Promise<number | undefined> => {
    if (!sameDeploy(state, now)) {
      await withdraw();
      io.err(`The deploy of ${state.version} ended and another deploy or rollback has run since (${now ? `${now.strategy} ${now.version}: ${now.phase}` : "no state"}); this request was withdrawn, nothing was changed by it. See \`azora deploy status\`.`);
      return 1;
    }
    if (now!.phase === "rolled_back" && now!.requestId === requestId) {
      const canary = now!.abortedCanary === true;
      await audit(options, io, {
        action: "deploy.rollback",
        target: `deploy:${target.where}`,
        details: { deployId, requestId, from: now!.version, to: now!.previousVersion, reason: reason.slice(0, 500), duringDeploy: true, step: now!.step, abortedCanary: canary },
      });
      const how = canary ? `canary aborted at ${now!.step}, all traffic back on the stable version` : "switched back to the warm version";
      io.out(`Rolled back ${target.where} to ${now!.previousVersion} (was ${now!.version}; ${how}): ${reason}`);
      return 0;
    }
    if (now!.phase === "rolled_back") {
      // Not this request's doing: the deploy failed (or was interrupted) first, and its own audit row says why.
      await withdraw();
      io.out(`${target.where} is back on ${now!.previousVersion}: the deploy of ${now!.version} rolled back by itself at "${now!.step}" (${now!.reason ?? "no reason recorded"}) before it acted on this request. This request was withdrawn; no rollback row was written for it.`);
      return 0;
    }
    if (now!.phase === "rollback_failed" || now!.phase === "succeeded") {
      await withdraw();
      io.err(`The deploy of ${state.version} ended as ${now!.phase}${now!.reason ? ` (${now!.reason})` : ""} without acting on this request (withdrawn); see \`azora deploy status\` and the audit log.`);
      return 1;
    }
    return undefined;
  };

  // The request goes in when the slot is free: while the deploy moves canary traffic (its claim), it waits.
  let toldOfMove = false;
  for (let attempt = 0; ; attempt++) {
    let requested: Awaited<ReturnType<DeployTarget["requestRollback"]>>;
    try {
      requested = await target.requestRollback({ kind: "rollback", reason, holder: holder(), at: new Date().toISOString(), deployId, id: requestId });
    } catch (error) {
      reads.failed(error);
      await pause(500);
      continue;
    }
    if (requested.ok) break;
    const { existing } = requested;
    if (existing.deployId !== deployId && attempt < 3) {
      // Left for a deploy that has ended: it never applies to this one (or removed just now: the slot is free).
      if (existing !== goneRequest) await target.clearRollbackRequest(existing.id);
      continue;
    }
    if (existing.kind === "promoting") {
      io.err(`The deploy of ${state.version} in ${target.where} is promoting it now: ${state.previousVersion} is no longer kept warm. Nothing was changed; run the rollback again once \`azora deploy status\` shows it done (it then starts ${state.previousVersion} again).`);
      return 1;
    }
    if (existing.kind === "rollback") {
      io.err(`A rollback of ${target.where} was already requested by ${existing.holder} (${existing.reason}); nothing more was changed. Follow it with \`azora deploy status\`.`);
      return 1;
    }
    if (!toldOfMove) io.err(`The canary of ${state.version} (${lockHolder}) is moving traffic now (${existing.reason}): the request goes in once that step ends (a step may take up to ${target.longestStepSeconds} s).`);
    toldOfMove = true;
    const now = await readState();
    if (now !== "unread" && (!sameDeploy(state, now) || !["canary", "switched"].includes(now!.phase))) {
      const code = await settled(now);
      if (code !== undefined) return code;
    }
    if (Date.now() > deadline) {
      io.err(`The canary of ${state.version} (${lockHolder}) kept moving traffic for ${waitSeconds} s (its longest step may take ${target.longestStepSeconds} s); no request was made and nothing was changed. Check \`azora deploy status\`; if its process died, ${target.staleLockHint}, then run the rollback again.`);
      return 1;
    }
    await pause(500);
  }
  const canary = state.phase === "canary";
  io.err(
    canary
      ? `The canary of ${state.version} (${lockHolder}) is at "${state.step}": asked it to abort and put all traffic back on ${state.previousVersion}.`
      : `The deploy of ${state.version} (${lockHolder}) keeps ${state.previousVersion} warm: asked it to switch back.`,
  );
  let last: DeployState | undefined = state;
  while (Date.now() < deadline) {
    const now = await readState();
    if (now !== "unread") {
      last = now;
      const code = await settled(now);
      if (code !== undefined) return code;
    }
    await pause(100);
  }
  io.err(
    `The deploy holding the lock (${lockHolder}) did not answer the rollback request within ${waitSeconds} s (its longest step may take ${target.longestStepSeconds} s, plus ${answerMarginSeconds} s to switch back); it was last at "${last?.step}" (phase ${last?.phase}). ` +
      `The request stays: if the deploy is alive it puts traffic back when it next looks (follow \`azora deploy status\`). If its process died, ${target.staleLockHint}, then run the rollback again (no later deploy acts on this request).`,
  );
  return 1;
}
