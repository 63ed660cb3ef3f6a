import { z } from "zod";
import type { CommandIO, PlatformCommand } from "../platform/command.ts";
import type { PlatformContext } from "../platform/context.ts";
import { cliActor, recordAudit } from "../platform/audit/audit.service.ts";
import {
  colours,
  createTrafficRepository,
  otherColour,
  TrafficConflict,
  trafficUpstreams,
  type TrafficChange,
  type TrafficRoute,
  type TrafficUpstream,
} from "../services/gateway/traffic/traffic.repository.ts";

/** A target is a service's origin: http(s)://host:port, without credentials, path or query. */
const origin = z.string().transform((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: `"${value}" is not a URL (give http://host:port)` });
    return z.NEVER;
  }
  if (!/^https?:$/.test(url.protocol) || url.username || url.password || url.pathname !== "/" || url.search || url.hash) {
    ctx.addIssue({ code: "custom", message: `"${url.protocol}//${url.host}${url.pathname}" is not a service origin (give http://host:port, no path, query or credentials)` });
    return z.NEVER;
  }
  return url.origin;
});
const targetList = z.array(origin).max(16);
const upstream = z.enum(trafficUpstreams);
const common = { dryRun: z.boolean().default(false), json: z.boolean().default(false) };

const args = z.discriminatedUnion("action", [
  z.object({ action: z.literal("status"), json: z.boolean().default(false) }),
  z.object({ action: z.literal("switch"), upstream, to: z.enum(colours).optional(), ...common }),
  z.object({ action: z.literal("weight"), upstream, percent: z.number().int().min(0).max(100), ...common }),
  z.object({ action: z.literal("targets"), upstream, blue: targetList.optional(), green: targetList.optional(), ...common }),
]);
export type TrafficArgs = z.input<typeof args>;
type Request = z.output<typeof args>;
type ChangeRequest = Exclude<Request, { action: "status" }>;

/** A refusal the operator can act on: exit 1, nothing changed. */
class Refused extends Error {}

/** What a change request makes of the current route; undefined current means the upstream has only its configured URL. */
function nextRoute(request: ChangeRequest, current: TrafficRoute | undefined, configured: string | undefined): TrafficChange {
  const base: TrafficChange = current ?? { blue: configured ? [configured] : [], green: [], active: "blue", canaryWeight: 0 };
  const change: TrafficChange = { ...base };
  if (request.action === "targets") {
    if (request.blue === undefined && request.green === undefined) throw new Refused("Give --blue and/or --green (comma-separated http://host:port lists).");
    if (request.blue) change.blue = [...new Set(request.blue)];
    if (request.green) change.green = [...new Set(request.green)];
    if (change[change.active].length === 0) throw new Refused(`${change.active} is live for ${request.upstream} and cannot be left without targets; switch first.`);
    if (change.canaryWeight > 0 && change[otherColour(change.active)].length === 0) throw new Refused(`A canary weight of ${change.canaryWeight} % needs ${otherColour(change.active)} targets; set the weight to 0 first.`);
  } else if (request.action === "switch") {
    const to = request.to ?? otherColour(base.active);
    if (change[to].length === 0) throw new Refused(`${request.upstream} has no ${to} targets: azora traffic targets ${request.upstream} --${to} http://host:port[,…] first.`);
    // The switch is the end of a canary: the new colour takes everything.
    Object.assign(change, { active: to, canaryWeight: 0 });
  } else {
    const canary = otherColour(base.active);
    if (request.percent > 0 && change[canary].length === 0) throw new Refused(`${request.upstream} has no ${canary} targets to send a canary share to: azora traffic targets ${request.upstream} --${canary} http://host:port[,…] first.`);
    change.canaryWeight = request.percent;
  }
  return change;
}

const describeRoute = (upstream: TrafficUpstream, route: TrafficRoute | undefined, configured: string | undefined) =>
  route
    ? `${upstream}: ${route.active} live${route.canaryWeight > 0 ? `, ${route.canaryWeight} % canary to ${otherColour(route.active)}` : ""}; blue ${route.blue.join(", ") || "(none)"}; green ${route.green.join(", ") || "(none)"} (revision ${route.revision}, ${route.changedAt})`
    : `${upstream}: no traffic route; every request goes to the configured URL${configured ? ` ${configured}` : ""}`;

async function change(context: PlatformContext, request: ChangeRequest, io: CommandIO): Promise<number> {
  const repository = createTrafficRepository(context.db);
  const configured = context.config.upstreams[request.upstream];
  const current = await repository.get(request.upstream);
  const next = nextRoute(request, current, configured);
  const before = current ? { active: current.active, canaryWeight: current.canaryWeight, blue: current.blue, green: current.green } : null;
  if (request.dryRun) {
    const plan = { dryRun: true, upstream: request.upstream, before, after: next };
    if (request.json) io.out(JSON.stringify(plan));
    else io.out(`Would set ${request.upstream}: ${next.active} live, canary ${next.canaryWeight} %, blue ${next.blue.join(", ") || "(none)"}, green ${next.green.join(", ") || "(none)"}. Nothing was changed.`);
    return 0;
  }
  const saved = await repository.save(request.upstream, next, current?.revision);
  await recordAudit(context, {
    actor: io.actor ?? cliActor(),
    action: `traffic.${request.action}`,
    target: `upstream:${request.upstream}`,
    details: { before, after: { active: saved.active, canaryWeight: saved.canaryWeight, blue: saved.blue, green: saved.green }, revision: saved.revision },
  });
  if (request.json) io.out(JSON.stringify(saved));
  else {
    io.out(describeRoute(request.upstream, saved, configured));
    io.out(`Every split-mode gateway process follows within ${context.config.traffic.pollMs} ms (TRAFFIC_POLL_MS); keep the old targets up until then.`);
  }
  return 0;
}

/**
 * `azora traffic status|switch|weight|targets`: the release routes live in the database, which every
 * gateway process polls, so a change reaches all of them whichever machine (or ops port) runs it.
 */
export const trafficCommand: PlatformCommand<TrafficArgs> = {
  name: "traffic",
  cacheless: true,
  async run(context, rawArgs, io) {
    const parsed = args.safeParse(rawArgs);
    if (!parsed.success) {
      io.err(`Usage: azora traffic status | switch auth|users [--to blue|green] | weight auth|users PERCENT | targets auth|users [--blue URL,…] [--green URL,…] (${parsed.error.issues.map((issue) => `${issue.path.join(".") || "args"}: ${issue.message}`).join("; ")}).`);
      return 2;
    }
    const request = parsed.data;
    if (request.action === "status") {
      const routes = await createTrafficRepository(context.db).list();
      const status = Object.fromEntries(trafficUpstreams.map((name) => [name, routes.find((route) => route.upstream === name) ?? null]));
      if (request.json) io.out(JSON.stringify(status));
      else for (const name of trafficUpstreams) io.out(describeRoute(name, status[name] ?? undefined, context.config.upstreams[name]));
      return 0;
    }
    try {
      return await change(context, request, io);
    } catch (error) {
      if (error instanceof Refused || error instanceof TrafficConflict) {
        io.err(`${error.message} Nothing was changed.`);
        return 1;
      }
      throw error;
    }
  },
};
