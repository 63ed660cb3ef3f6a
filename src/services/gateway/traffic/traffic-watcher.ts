import type { Logger } from "../../../platform/logger.ts";
import type { TrafficRepository, TrafficRoute, TrafficUpstream } from "./traffic.repository.ts";
import { repeatAfter } from "../../../platform/repeat.ts";

/**
 * Polls the shared routes every `intervalMs`, as the maintenance watcher does, so every gateway process
 * follows a switch within one interval. A failed poll keeps the last routes: a database hiccup must not
 * move traffic.
 */
export function createTrafficWatcher(deps: { repository: Pick<TrafficRepository, "list">; intervalMs: number; logger: Logger }) {
  let routes = new Map<TrafficUpstream, TrafficRoute>();
  let stopRepeating: (() => void) | undefined;
  let lastProblem = "";

  const poll = async () => {
    try {
      const next = new Map((await deps.repository.list()).map((route) => [route.upstream, route] as const));
      for (const [upstream, route] of next) {
        if (routes.get(upstream)?.revision !== route.revision) {
          deps.logger.info({ event: "traffic_route_followed", upstream, active: route.active, canaryWeight: route.canaryWeight, revision: route.revision }, `following traffic route of ${upstream}`);
        }
      }
      routes = next;
      lastProblem = "";
    } catch (error) {
      const problem = error instanceof Error ? error.message.slice(0, 200) : String(error);
      if (problem !== lastProblem) deps.logger.warn({ event: "traffic_routes_unreadable", problem }, "traffic routes could not be read; keeping the last ones");
      lastProblem = problem;
    }
  };

  return {
    /** Reads the routes once before the gateway serves, then keeps polling. */
    async start(): Promise<void> {
      await poll();
      stopRepeating = repeatAfter(deps.intervalMs, poll);
    },
    current: (upstream: TrafficUpstream): TrafficRoute | undefined => routes.get(upstream),
    all: (): TrafficRoute[] => [...routes.values()],
    stop(): void {
      stopRepeating?.();
    },
  };
}

export type TrafficWatcher = ReturnType<typeof createTrafficWatcher>;
