import type { IncomingHttpHeaders } from "node:http";
import type { FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import { AppError } from "../../platform/errors.ts";
import { healthHttpStatus } from "../../platform/health.ts";
import { requestRecorder, type FastifyInstance } from "../../platform/http.ts";
import type { Metrics } from "../../platform/metrics.ts";
import type { ServiceRoutes } from "../../platform/service-app.ts";
import { createCircuitBreaker, type BreakerOptions } from "./circuit-breaker.ts";
import type { GatewayRoute } from "./routes.ts";
import { identityHeaders, isOutageStatus, type UpstreamEvents } from "./upstream.ts";

/** What the edge policies read of a request: a Fastify request, or the proxy's pass-through lane (pass-through.ts). */
export interface EdgeRequest {
  id: string;
  ip: string;
  headers: IncomingHttpHeaders;
}

/** What the edge policies set on an answer (the RateLimit-* headers). */
export interface EdgeReply {
  header(name: string, value: string): unknown;
}

/** The gateway's policies for one route (maintenance, token, rate limit): they return, or throw the refusal. */
export type EdgePolicies = (request: EdgeRequest, reply: EdgeReply) => Promise<void>;

export type ServiceName = GatewayRoute["upstream"];

/** A service composed into the gateway: what the gateway's breakers list and its status page asks. */
export interface InProcessService {
  name: ServiceName;
  breaker: ReturnType<typeof createCircuitBreaker>;
  healthy(): Promise<boolean>;
}

export interface InProcessOptions {
  services: Record<ServiceName, ServiceRoutes>;
  routes: GatewayRoute[];
  policiesFor(route: GatewayRoute): EdgePolicies;
  breaker: Omit<BreakerOptions, "now">;
  events(service: ServiceName): UpstreamEvents;
  metrics: Metrics;
}

/**
 * The per-request marker: the gateway's policies ran for this request and it was admitted to the service,
 * with the breaker's admission (a probe or not). Fastify registers a GET route's HEAD twin from the same
 * options, so the marker also keeps the policies (and the budget they take) to one run per request
 * whatever the route. A field every request is born with (decorateRequest), not a WeakSet entry per
 * request (docs/adr/0510).
 */
const ADMITTED_FIELD = "azoraAdmitted";
type Admitted = { [ADMITTED_FIELD]: "request" | "probe" | null };
const admissionOf = (request: FastifyRequest) => (request as unknown as Admitted)[ADMITTED_FIELD];

/** A service's answer counts against its breaker only when it was sent whole with an outage status (502/503/504). */
const healthyAnswer = (reply: FastifyReply) => !(reply.raw.writableFinished && isOutageStatus(reply.raw.statusCode));

const asArray = <T>(hooks: T | T[] | undefined): T[] => (hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]);

/**
 * `azora up`: the services' route handlers registered inside the gateway's app, each service in its own
 * encapsulated scope (its logger, its parsers), behind the same edge policies as the proxy, one parse per
 * request. Per route, in this order: the gateway's app-level hooks (request id, and whatever else the edge
 * adds for every request), then the route's policies (maintenance, token check, rate limit), the identity
 * headers dropped, the service's breaker, and the service's own handler, which verifies the token again.
 *
 * Only the gateway's route table is public: a service route that is not in it fails the start, and so does
 * a route of the table that no service registers.
 */
export function mountInProcess(app: FastifyInstance, options: InProcessOptions): Record<ServiceName, InProcessService> {
  const table = new Map(options.routes.map((route) => [`${route.method} ${route.url}`, route]));
  // Through the proxy the gateway reads every body, whatever its type, within the body limit, before a
  // service refuses the type: a body over the limit is a 413 whatever it claims to be. Same here.
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, _body, done) =>
    done(new AppError("unsupported_media_type", "Send the request body as application/json."), undefined),
  );
  app.decorateRequest(ADMITTED_FIELD, null);
  const mounted = new Set<string>();
  const mount = (name: ServiceName): InProcessService => {
    const routes = options.services[name];
    const events = options.events(name);
    const breaker = createCircuitBreaker(name, { ...options.breaker, now: Date.now }, events.breakerState);
    // The service's series, as its own listener counts them: the requests that reached its handlers.
    const record = requestRecorder(name, options.metrics);

    const hooksFor = (route: GatewayRoute) => {
      const policies = options.policiesFor(route);
      const admit = async (request: FastifyRequest, reply: FastifyReply) => {
        if (admissionOf(request) !== null) return;
        await policies(request, reply);
        // As the proxy drops them on the way to a service: read by the policies (the ops token), never by a handler.
        for (const header of identityHeaders) delete request.headers[header];
        const admission = breaker.admit();
        if (!admission.ok) {
          events.error("breaker_open");
          throw new AppError("upstream_unavailable", `The ${name} service is unavailable. Try again in ${admission.retryAfterSeconds} s.`, {
            headers: { "retry-after": String(admission.retryAfterSeconds) },
          });
        }
        (request as unknown as Admitted)[ADMITTED_FIELD] = admission.probe ? "probe" : "request";
        // A probe is settled on 'close', which comes for every answer, finished or cut, so a breaker is never
        // left waiting on one. Other answers are recorded when they finish (counted, below): a listener per
        // request was a measurable cost, and an answer whose client went away tells nothing either way.
        if (admission.probe) reply.raw.once("close", () => breaker.record(healthyAnswer(reply), true));
      };
      const counted = (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
        const admission = admissionOf(request);
        if (admission !== null) {
          // The table's template is the route's own (request.routeOptions builds an object on every read).
          record(request.method, route.url, reply.statusCode, reply.elapsedTime / 1000);
          if (admission === "request") breaker.record(healthyAnswer(reply), false);
        }
        done();
      };
      return { admit, counted };
    };

    app.register(async (scope) => {
      // The handlers' own lines (errors, events) go to the service's log, as on its own listener.
      scope.setChildLoggerFactory(() => routes.logger);
      scope.addHook("onRoute", (routeOptions: RouteOptions) => {
        const methods = asArray(routeOptions.method);
        const method = methods.length === 1 && methods[0] === "HEAD" ? "GET" : methods[0];
        const route = methods.length === 1 ? table.get(`${method} ${routeOptions.url}`) : undefined;
        if (!route || route.upstream !== name) {
          throw new Error(`the ${name} service registers ${methods.join(",")} ${routeOptions.url}, which is not in the gateway's route table`);
        }
        mounted.add(`${route.method} ${route.url}`);
        const { admit, counted } = hooksFor(route);
        routeOptions.onRequest = [admit, ...asArray(routeOptions.onRequest)] as RouteOptions["onRequest"];
        routeOptions.onResponse = [...asArray(routeOptions.onResponse), counted] as RouteOptions["onResponse"];
      });
      routes.register(scope);
    });
    return { name, breaker, healthy: async () => healthHttpStatus((await routes.health()).status) === 200 };
  };
  const services = { auth: mount("auth"), users: mount("users") };
  app.addHook("onReady", async () => {
    const missing = options.routes.filter((route) => !mounted.has(`${route.method} ${route.url}`));
    if (missing.length > 0) throw new Error(`no service serves ${missing.map((route) => `${route.method} ${route.url}`).join(", ")}`);
  });
  return services;
}
