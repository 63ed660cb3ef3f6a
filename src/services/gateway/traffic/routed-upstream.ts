import type { BreakerSnapshot } from "../circuit-breaker.ts";
import { createUpstream, type ForwardRequest, type Upstream, type UpstreamEvents, type UpstreamPolicy, type UpstreamResponse } from "../upstream.ts";
import { otherColour, type Colour, type TrafficRoute } from "./traffic.repository.ts";

/** Which colour served a request; "configured" when the upstream has no traffic route (AUTH_URL / USERS_URL alone). */
export type Served = Colour | "configured";

export interface RoutedUpstreamDeps {
  name: string;
  /** The configured URL, used while no traffic route exists for this upstream. */
  origin: string;
  policy: UpstreamPolicy;
  /** Events of one target; `target` names its breaker and its metric series. */
  events(target: string): UpstreamEvents & { retired?(): void };
  /** The route this process follows now (the traffic watcher's last read); undefined: the configured URL. */
  route(): TrafficRoute | undefined;
  /** Told which colour each forwarded request went to and whether the upstream answered with an outage or not at all. */
  served?(colour: Served, status: number | "error"): void;
}

/**
 * One upstream as the routes see it, in front of one pool and one circuit breaker per target. Breakers are
 * per target, not per upstream: a green process set that fails its release must not open the breaker
 * of the blue set that still serves, and a dead process in a set is skipped while its siblings answer.
 *
 * Selection happens per request and never waits: a switch only changes where new requests go; requests
 * already sent finish on their target, whose pool is closed only once nothing can still be using it.
 */
export function createRoutedUpstream(deps: RoutedUpstreamDeps) {
  const targets = new Map<string, { upstream: Upstream; retired?: () => void }>();
  const configuredKey = `configured ${deps.origin}`;
  let followedRevision: number | undefined;
  let canaryCounter = 0;
  const roundRobin: Record<Colour, number> = { blue: 0, green: 0 };

  const targetOf = (key: string, targetName: string, origin: string): Upstream => {
    let target = targets.get(key);
    if (!target) {
      const events = deps.events(targetName);
      target = { upstream: createUpstream(targetName, origin, deps.policy, events), ...(events.retired ? { retired: events.retired } : {}) };
      targets.set(key, target);
    }
    return target.upstream;
  };
  const configured = () => targetOf(configuredKey, deps.name, deps.origin);
  // Built now, so /debug/circuit-breakers lists the upstream before its first request.
  if (!deps.route()) configured();
  const keyOf = (colour: Colour, origin: string) => `${colour} ${origin}`;
  const nameOf = (route: TrafficRoute, colour: Colour, origin: string) => `${deps.name}.${colour}.${route[colour].indexOf(origin) + 1}`;

  /** Pools no route points at any more close once the longest exchange they could still carry is over. */
  const retireUnused = (route: TrafficRoute | undefined) => {
    const used = new Set(route ? [...route.blue.map((origin) => keyOf("blue", origin)), ...route.green.map((origin) => keyOf("green", origin))] : [configuredKey]);
    for (const [key, target] of targets) {
      if (used.has(key)) continue;
      targets.delete(key);
      const timer = setTimeout(() => {
        void target.upstream.close();
        target.retired?.();
      }, deps.policy.totalTimeoutMs + 1_000);
      timer.unref();
    }
  };

  /**
   * The canary share is spread evenly, not drawn at random: with weight w, request n goes to the canary when
   * floor((n+1)·w/100) > floor(n·w/100), so any 100 consecutive requests carry exactly w to it.
   */
  const pick = (): { upstream: Upstream; colour: Served } => {
    const route = deps.route();
    if (route?.revision !== followedRevision) {
      followedRevision = route?.revision;
      retireUnused(route);
    }
    if (!route) return { upstream: configured(), colour: "configured" };
    let colour = route.active;
    if (route.canaryWeight > 0 && route[otherColour(colour)].length > 0) {
      const n = canaryCounter;
      canaryCounter = (canaryCounter + 1) % 100;
      if (Math.floor(((n + 1) * route.canaryWeight) / 100) > Math.floor((n * route.canaryWeight) / 100)) colour = otherColour(colour);
    }
    const origins = route[colour];
    const start = roundRobin[colour]++ % origins.length;
    // A set of several processes keeps serving while one of them is down: skip targets whose breaker is open.
    for (let i = 0; i < origins.length; i++) {
      const origin = origins[(start + i) % origins.length]!;
      const upstream = targetOf(keyOf(colour, origin), nameOf(route, colour, origin), origin);
      if (i === origins.length - 1 || upstream.breaker.snapshot().state !== "open") return { upstream, colour };
    }
    throw new Error("unreachable: a route's colour has at least one target");
  };

  /** The targets that take traffic now: the live colour's, or the configured URL. */
  const liveTargets = (): Upstream[] => {
    const route = deps.route();
    if (!route) return [configured()];
    return route[route.active].map((origin) => targetOf(keyOf(route.active, origin), nameOf(route, route.active, origin), origin));
  };

  return {
    name: deps.name,
    async forward(request: ForwardRequest): Promise<UpstreamResponse> {
      const { upstream, colour } = pick();
      try {
        const response = await upstream.forward(request);
        deps.served?.(colour, response.status);
        return response;
      } catch (error) {
        deps.served?.(colour, "error");
        throw error;
      }
    },
    /** Healthy when at least one target of the live colour answers its /health. */
    async healthy(timeoutMs?: number): Promise<boolean> {
      const answers = await Promise.all(liveTargets().map((target) => target.healthy(timeoutMs)));
      return answers.some(Boolean);
    },
    breakers: (): BreakerSnapshot[] => [...targets.values()].map((target) => target.upstream.breaker.snapshot()),
    /** This process's view: the revision it follows and the targets it holds pools for. */
    view: () => ({ upstream: deps.name, revision: followedRevision ?? null, route: deps.route() ?? null, targets: [...targets.values()].map((target) => ({ name: target.upstream.name, origin: target.upstream.origin })) }),
    close: async () => {
      await Promise.all([...targets.values()].map((target) => target.upstream.close()));
      targets.clear();
    },
  };
}

export type RoutedUpstream = ReturnType<typeof createRoutedUpstream>;
