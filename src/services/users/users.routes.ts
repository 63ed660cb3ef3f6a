import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { AppError, errors } from "../../platform/errors.ts";
import { parseInput, type FastifyInstance } from "../../platform/http.ts";
import { requireCaller, type TokenVerifier } from "../../platform/token-verifier.ts";
import { decimalInteger, personName, text, uuid } from "../../platform/validation.ts";
import type { AuditEntry } from "../../platform/audit/audit.service.ts";
import type { ContentService } from "./content.service.ts";
import type { UsersService } from "./users.service.ts";

const userParams = z.object({ id: z.union([z.literal("me"), uuid]) });
/**
 * A user id zod would take and give back unchanged ("me", or a lower-case UUID of its pattern): checked with one
 * regular expression on the read path, where zod's parse was a measurable cost of a cached read (docs/adr/0530).
 * Anything else goes through userParams, which gives the same answer or the same 400.
 */
const plainUserId = /^(?:me|[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$/;
const userIdOf = (params: unknown): string => {
  const id = (params as { id?: unknown }).id;
  return typeof id === "string" && plainUserId.test(id) ? id : parseInput(userParams, params, "path").id;
};
const itemParams = z.object({ id: uuid });
const patchUserBody = z.strictObject({ name: personName.nullable() });
const contentBody = z.strictObject({ title: text(1, 200), body: text(0, 100_000).default("") });
const listQuery = z.strictObject({
  limit: decimalInteger(1, 100, 20),
  offset: decimalInteger(0, 100_000, 0),
});

export interface UsersRouteDeps {
  users: UsersService;
  content: ContentService;
  verifier: TokenVerifier;
  /** Records an admin's change to someone else's account in the audit log. */
  audit(entry: AuditEntry): Promise<unknown>;
}

/** Profiles under /api/user, content under /api/content; each handler checks the token again itself. */
export function registerUsersRoutes(app: FastifyInstance, deps: UsersRouteDeps): void {
  const caller = (request: FastifyRequest) => requireCaller(deps.verifier, request);

  app.get("/api/user/:id", async (request, reply) => {
    const me = await caller(request);
    const id = userIdOf(request.params);
    const result = await deps.users.read(me.sub, id === "me" ? me.sub : id);
    if (!result.ok) throw result.reason === "forbidden" ? errors.forbidden("You can only read your own user.") : errors.notFound("User");
    reply.header("x-cache", result.cache.toUpperCase());
    // An account's profile is personal data: no shared or browser cache keeps a copy.
    reply.header("cache-control", "private, no-store");
    // The profile's JSON text as cached (the same text serialising it would give), sent as it is.
    return reply.type("application/json; charset=utf-8").send(result.json);
  });

  app.patch("/api/user/:id", async (request, reply) => {
    reply.header("cache-control", "private, no-store");
    const me = await caller(request);
    const { id } = parseInput(userParams, request.params, "path");
    const changes = parseInput(patchUserBody, request.body);
    const targetId = id === "me" ? me.sub : id;
    const result = await deps.users.update(me.sub, targetId, changes);
    if (!result.ok) throw result.reason === "forbidden" ? errors.forbidden("You can only change your own user.") : errors.notFound("User");
    // Only an admin gets here with another person's id: that is an admin action.
    if (targetId !== me.sub) await deps.audit({ actor: `user:${me.sub}`, action: "user.update", target: `user:${targetId}`, details: { fields: Object.keys(changes) } });
    return result.user;
  });

  app.post("/api/content", async (request, reply) => {
    const me = await caller(request);
    const input = parseInput(contentBody, request.body);
    const item = await deps.content.create(me.sub, input);
    if (!item) throw new AppError("invalid_token", "The account of this access token no longer exists.");
    return reply.code(201).header("location", `/api/content/${item.id}`).send(item);
  });

  app.get("/api/content", async (request) => {
    const me = await caller(request);
    const page = parseInput(listQuery, request.query, "query");
    return { items: await deps.content.list(me.sub, page), limit: page.limit, offset: page.offset };
  });

  app.get("/api/content/:id", async (request) => {
    const me = await caller(request);
    const { id } = parseInput(itemParams, request.params, "path");
    const result = await deps.content.read(me.sub, id);
    if (!result.ok) throw errors.notFound("Content");
    return result.item;
  });

  app.put("/api/content/:id", async (request) => {
    const me = await caller(request);
    const { id } = parseInput(itemParams, request.params, "path");
    const input = parseInput(contentBody, request.body);
    const result = await deps.content.replace(me.sub, id, input);
    if (!result.ok) throw errors.notFound("Content");
    return result.item;
  });

  app.delete("/api/content/:id", async (request, reply) => {
    const me = await caller(request);
    const { id } = parseInput(itemParams, request.params, "path");
    if (!(await deps.content.remove(me.sub, id))) throw errors.notFound("Content");
    return reply.code(204).send();
  });
}
