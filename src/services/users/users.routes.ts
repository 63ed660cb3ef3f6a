import { z } from "zod";
import { errors } from "../../platform/errors.ts";
import { parseInput, type FastifyInstance } from "../../platform/http.ts";
import { requireCaller, type TokenVerifier } from "../../platform/token-verifier.ts";
import { decimalInteger, personName, text, uuid } from "../../platform/validation.ts";
import type { ContentService } from "./content.service.ts";
import type { UsersService } from "./users.service.ts";

const userParams = z.object({ id: z.union([z.literal("me"), uuid]) });
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
}

/** Profiles under /api/user, content under /api/content; each handler checks the token again itself. */
export function registerUsersRoutes(app: FastifyInstance, deps: UsersRouteDeps): void {
  const caller = (authorization: string | undefined) => requireCaller(deps.verifier, authorization);

  app.get("/api/user/:id", async (request, reply) => {
    const me = await caller(request.headers.authorization);
    const { id } = parseInput(userParams, request.params, "path");
    const result = await deps.users.read(me.sub, id === "me" ? me.sub : id);
    if (!result.ok) throw result.reason === "forbidden" ? errors.forbidden("You can only read your own user.") : errors.notFound("User");
    reply.header("x-cache", result.cache === "hit" ? "HIT" : "MISS");
    return result.user;
  });

  app.patch("/api/user/:id", async (request) => {
    const me = await caller(request.headers.authorization);
    const { id } = parseInput(userParams, request.params, "path");
    const changes = parseInput(patchUserBody, request.body);
    const result = await deps.users.update(me.sub, id === "me" ? me.sub : id, changes);
    if (!result.ok) throw result.reason === "forbidden" ? errors.forbidden("You can only change your own user.") : errors.notFound("User");
    return result.user;
  });

  app.post("/api/content", async (request, reply) => {
    const me = await caller(request.headers.authorization);
    const input = parseInput(contentBody, request.body);
    const item = await deps.content.create(me.sub, input);
    return reply.code(201).header("location", `/api/content/${item.id}`).send(item);
  });

  app.get("/api/content", async (request) => {
    const me = await caller(request.headers.authorization);
    const page = parseInput(listQuery, request.query, "query");
    return { items: await deps.content.list(me.sub, page), limit: page.limit, offset: page.offset };
  });

  app.get("/api/content/:id", async (request) => {
    const me = await caller(request.headers.authorization);
    const { id } = parseInput(itemParams, request.params, "path");
    const result = await deps.content.read(me.sub, id);
    if (!result.ok) throw errors.notFound("Content");
    return result.item;
  });

  app.put("/api/content/:id", async (request) => {
    const me = await caller(request.headers.authorization);
    const { id } = parseInput(itemParams, request.params, "path");
    const input = parseInput(contentBody, request.body);
    const result = await deps.content.replace(me.sub, id, input);
    if (!result.ok) throw errors.notFound("Content");
    return result.item;
  });

  app.delete("/api/content/:id", async (request, reply) => {
    const me = await caller(request.headers.authorization);
    const { id } = parseInput(itemParams, request.params, "path");
    if (!(await deps.content.remove(me.sub, id))) throw errors.notFound("Content");
    return reply.code(204).send();
  });
}
