import type { FastifyInstance } from "../../platform/http.ts";
import { createServiceApp, serviceBasics, type ServiceDeps, type ServiceRoutes } from "../../platform/service-app.ts";
import { createAttachmentsRepository } from "./attachments.repository.ts";
import { registerAttachmentRoutes } from "./attachments.routes.ts";
import { createAttachmentsService } from "./attachments.service.ts";
import { createBlobReferences } from "./blob-references.ts";
import { createContentRepository } from "./content.repository.ts";
import { createContentService } from "./content.service.ts";
import { createGdprSelfService } from "../gdpr/self-service.ts";
import { registerGdprRoutes } from "./gdpr.routes.ts";
import { createUsersRepository } from "./users.repository.ts";
import { registerUsersRoutes } from "./users.routes.ts";
import { createUsersService } from "./users.service.ts";
import { recordAudit } from "../../platform/audit/audit.service.ts";

/** The users service on its own listener. */
export function createUsersApp(deps: ServiceDeps): FastifyInstance {
  return createServiceApp(createUsersRoutes(deps), deps);
}

/** The users service: profiles (cache-aside) and user-generated content. */
export function createUsersRoutes(deps: ServiceDeps): ServiceRoutes {
  const { db, coherentCache, logs, blobs, config } = deps.context;
  const basics = serviceBasics("users", deps, logs.api);
  const { verifier } = basics;
  const cacheRequests = deps.metrics.cacheRequests;
  // One counter child per outcome, looked up once: a lookup by labels hashes them on every read.
  const lookups = new Map<string, { inc(): void }>();
  const users = createUsersService({
    users: createUsersRepository(db),
    cache: coherentCache,
    onCacheLookup: (result) => {
      let counter = lookups.get(result);
      if (counter === undefined) lookups.set(result, (counter = cacheRequests.labels({ cache: "user", result })));
      counter.inc();
    },
  });
  const attachmentRows = createAttachmentsRepository(db);
  const references = createBlobReferences(db, blobs);
  const content = createContentService({
    content: createContentRepository(db),
    isAdmin: users.isAdmin,
    attachmentBlobs: { keysOfContent: attachmentRows.blobKeysOfContent, release: (keys) => references.release(keys) },
  });
  const attachments = createAttachmentsService({ attachments: attachmentRows, references, blobs, maxBytes: config.attachments.maxBytes, reachableContent: content.reachable });
  const gdpr = createGdprSelfService(deps.context, deps.passwordGuard);
  return {
    ...basics,
    register: (app) => {
      registerUsersRoutes(app, { users, content, verifier, audit: (entry) => recordAudit(deps.context, entry) });
      registerGdprRoutes(app, { gdpr, verifier });
      registerAttachmentRoutes(app, { attachments, verifier, maxBytes: config.attachments.maxBytes });
    },
  };
}
