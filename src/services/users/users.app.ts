import type { FastifyInstance } from "../../platform/http.ts";
import { createServiceApp, type ServiceDeps } from "../../platform/service-app.ts";
import { createContentRepository } from "./content.repository.ts";
import { createContentService } from "./content.service.ts";
import { createUsersRepository } from "./users.repository.ts";
import { registerUsersRoutes } from "./users.routes.ts";
import { createUsersService } from "./users.service.ts";

/** The users service: profiles (cache-aside) and user-generated content. */
export function createUsersApp(deps: ServiceDeps): FastifyInstance {
  const { db, cache, logs } = deps.context;
  const { app, verifier } = createServiceApp("users", deps, logs.api);
  const cacheRequests = deps.metrics.cacheRequests;
  const users = createUsersService({
    users: createUsersRepository(db),
    cache,
    onCacheLookup: (result) => cacheRequests.inc({ cache: "user", result }),
  });
  const content = createContentService({ content: createContentRepository(db), isAdmin: users.isAdmin });
  registerUsersRoutes(app, { users, content, verifier });
  return app;
}
