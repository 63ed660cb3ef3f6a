import { timingSafeEqual } from "node:crypto";
import { PassThrough } from "node:stream";
import { z } from "zod";
import type { CommandFrame, CommandIO } from "./command.ts";
import { AppError } from "./errors.ts";
import { runHealthChecks, type HealthCheck } from "./health.ts";
import { createHttpApp, parseInput, type FastifyInstance } from "./http.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";

export interface OpsAppDeps {
  service: string;
  version: string;
  logger: Logger;
  metrics: Metrics;
  checks: HealthCheck[];
  isReady: () => boolean;
  opsToken: string;
  /** Runs a platform command here, for a CLI in another process (the data directory has one owner). */
  runCommand?: (name: string, args: Record<string, unknown>, io: CommandIO) => Promise<number>;
}

const commandBody = z.strictObject({ name: z.string().min(1).max(100), args: z.record(z.string(), z.unknown()).default({}) });

/** The internal listener: probes, metrics and operator calls. Never reachable through the public port. */
export function createOpsApp(deps: OpsAppDeps): FastifyInstance {
  const app = createHttpApp({ service: deps.service, logger: deps.logger, metrics: deps.metrics, bodyLimit: 1024 * 1024, recordMetrics: false });
  const expected = Buffer.from(`Bearer ${deps.opsToken}`);
  const authorize = (header: string | undefined) => {
    const given = Buffer.from(header ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError("unauthorized", "Send the ops token: Authorization: Bearer <AZORA_OPS_TOKEN>.");
    }
  };

  app.get("/health", async (_request, reply) => {
    const report = await runHealthChecks(deps.checks);
    return reply.code(report.status === "ok" ? 200 : 503).send({ service: deps.service, version: deps.version, ...report });
  });
  app.get("/health/live", async () => ({ status: "ok" }));
  app.get("/health/ready", async (_request, reply) => {
    if (!deps.isReady()) return reply.code(503).send({ status: "not_ready" });
    const report = await runHealthChecks(deps.checks);
    return reply.code(report.status === "ok" ? 200 : 503).send({ status: report.status === "ok" ? "ready" : "not_ready" });
  });
  app.get("/metrics", async (_request, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  app.post("/ops/commands", async (request, reply) => {
    authorize(request.headers.authorization);
    if (!deps.runCommand) throw new AppError("not_found", "This process does not run commands.");
    const { name, args } = parseInput(commandBody, request.body);
    const stream = new PassThrough();
    const send = (frame: CommandFrame) => stream.write(`${JSON.stringify(frame)}\n`);
    const io: CommandIO = { out: (text) => send({ stream: "out", text }), err: (text) => send({ stream: "err", text }) };
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
