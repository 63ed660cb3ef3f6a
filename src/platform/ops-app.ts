import { opsTokenNow, type OpsTokenSource } from "./ops-token.ts";
import { timingSafeEqual } from "node:crypto";
import { PassThrough } from "node:stream";
import { z } from "zod";
import type { CommandFrame, CommandIO } from "./command.ts";
import { LogEvent } from "./log-events.ts";
import { AppError } from "./errors.ts";
import { healthHttpStatus, runHealthChecks, type HealthCheck } from "./health.ts";
import { createHttpApp, parseInput, type FastifyInstance } from "./http.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import type { ListenerLimits } from "./edge.ts";
import { renderDashboardPage } from "./dashboard/dashboard-page.ts";
import type { Figures } from "./dashboard/figures.ts";

export interface OpsAppDeps {
  service: string;
  version: string;
  logger: Logger;
  metrics: Metrics;
  checks: HealthCheck[];
  isReady: () => boolean;
  /** The token operator calls must send; followed from its file when generated (see ops-token.ts). */
  opsToken: OpsTokenSource;
  /** Runs a platform command here, for a CLI in another process (the data directory has one owner). */
  runCommand?: (name: string, args: Record<string, unknown>, io: CommandIO) => Promise<number>;
  /** The last hour's key metrics and the alerts they raise (GET /dashboard, /dashboard.json, `azora metrics`). */
  figures?: () => Figures;
  /** Header limits and request/body timeouts of this listener too (edge.ts); the defaults when absent. */
  limits?: ListenerLimits;
}

const commandBody = z.strictObject({
  name: z.string().min(1).max(100),
  args: z.record(z.string(), z.unknown()).default({}),
  // The operator on the CLI's side, as the audit log names them; the ops token is what authorises.
  actor: z.string().regex(/^cli:[\w.@-]{1,64}$/).optional(),
});

/** The internal listener: probes, metrics and operator calls. Never reachable through the public port. */
export function createOpsApp(deps: OpsAppDeps): FastifyInstance {
  const app = createHttpApp({ service: deps.service, logger: deps.logger, metrics: deps.metrics, bodyLimit: 1024 * 1024, recordMetrics: false, ...(deps.limits ? { limits: deps.limits } : {}) });
  // Basic (a browser's password prompt) only where `basic` is set: the read-only dashboard pages. A browser
  // resends cached Basic credentials by itself, so a route that changes something must never accept them.
  const authorize = (header: string | undefined, options: { basic?: boolean } = {}) => {
    // The scheme is case-insensitive (RFC 9110), as on the API: "bearer" and "BEARER" are accepted too.
    const bearer = /^bearer +(\S+)\s*$/i.exec(header ?? "")?.[1];
    const given = Buffer.from(bearer ?? (options.basic ? basicPassword(header) : ""));
    const expected = Buffer.from(opsTokenNow(deps.opsToken));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError("unauthorized", "Send the ops token: Authorization: Bearer <AZORA_OPS_TOKEN>.");
    }
  };

  // 503 only when this process cannot serve; a degraded cache or a dead upstream is 200 "degraded".
  app.get("/health", async (_request, reply) => {
    const report = await runHealthChecks(deps.checks);
    return reply.code(healthHttpStatus(report.status)).send({ service: deps.service, version: deps.version, ...report });
  });
  app.get("/health/live", async () => ({ status: "ok" }));
  // Ready means "this process can serve": only its critical components count (never an upstream).
  const critical = deps.checks.filter((check) => check.critical);
  app.get("/health/ready", async (_request, reply) => {
    if (!deps.isReady()) return reply.code(503).send({ status: "not_ready" });
    const report = await runHealthChecks(critical);
    if (report.status === "down") {
      const failing = Object.entries(report.checks).filter(([, result]) => result.status === "down").map(([name]) => name);
      return reply.code(503).send({ status: "not_ready", failing });
    }
    return reply.code(200).send({ status: "ready" });
  });
  app.get("/metrics", async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  if (deps.figures) {
    const figures = deps.figures;
    // A browser shows its password prompt on this challenge; the password is the ops token (any user name).
    const challenge = (reply: { header(name: string, value: string): unknown }) => reply.header("www-authenticate", 'Basic realm="Azora ops", charset="UTF-8"');
    app.get("/dashboard", async (request, reply) => {
      challenge(reply);
      authorize(request.headers.authorization, { basic: true });
      reply.removeHeader("www-authenticate");
      return reply
        .type("text/html; charset=utf-8")
        .header("cache-control", "no-store")
        // Inline CSS and SVG only: nothing may load, run, submit, or frame the page (a framing page could
        // otherwise ride the browser's cached Basic credentials).
        .header("content-security-policy", DASHBOARD_CSP)
        .header("x-frame-options", "DENY")
        .send(renderDashboardPage(figures(), Date.now()));
    });
    app.get("/dashboard.json", async (request, reply) => {
      authorize(request.headers.authorization, { basic: true });
      return reply.header("cache-control", "no-store").send(figures());
    });
  }

  // The token is checked on the headers alone, before the body is read: without it, not one body byte is taken.
  app.post("/ops/commands", { onRequest: async (request) => authorize(request.headers.authorization) }, async (request, reply) => {
    if (!deps.runCommand) throw new AppError("not_found", "This process does not run commands.");
    const { name, args, actor } = parseInput(commandBody, request.body);
    // Every use of the ops token is on record: `azora security access-monitor` reports them.
    deps.logger.info({ event: LogEvent.OPS_TOKEN_USED, requestId: request.id, ip: request.ip, command: name }, "ops token used");
    const stream = new PassThrough();
    const gone = new AbortController();
    reply.raw.on("close", () => gone.abort());
    const send = (frame: CommandFrame) => stream.write(`${JSON.stringify(frame)}\n`);
    const io: CommandIO = {
      out: (text) => send({ stream: "out", text }),
      err: (text) => send({ stream: "err", text }),
      progress: (update) => send({ progress: update }),
      actor: `${actor ?? "ops-port"} via ops port`,
      signal: gone.signal,
    };
    deps
      .runCommand(name, args, io)
      .catch((error: unknown) => {
        request.log.error({ err: error, command: name, requestId: request.id }, "remote command failed");
        io.err(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
        return 1;
      })
      .then((exitCode) => {
        send({ exitCode });
        stream.end();
      });
    return reply.type("application/x-ndjson").send(stream);
  });
  return app;
}

const DASHBOARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The password of an `Authorization: Basic` header (what a browser sends for the ops dashboard), or "". */
function basicPassword(header: string | undefined): string {
  const encoded = /^basic +(\S+)\s*$/i.exec(header ?? "")?.[1];
  if (!encoded) return "";
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon === -1 ? "" : decoded.slice(colon + 1);
}
