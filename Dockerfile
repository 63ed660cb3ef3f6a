# syntax=docker/dockerfile:1
# One image for every process: the command picks the service.
#   docker run azora/api-gateway:v1.2.3 serve gateway   (also: serve auth, serve users, migrate, backup full, …)
# The guide's image names azora/api-gateway, azora/auth-service and azora/user-service are tags of this image.
# Node 24 LTS in production; trixie's postgresql-client (17) brings pg_dump for `azora backup full`.
ARG NODE_IMAGE=node:24.11.1-trixie-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; tsx is one of them, so the TypeScript runs without a build step.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends postgresql-client \
  && rm -rf /var/lib/apt/lists/* \
  && mkdir -p /var/lib/azora \
  && chown 1000:1000 /var/lib/azora
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY backup ./backup
COPY scripts ./scripts
# The security policy every process loads at start (src/services/security/policy.ts).
COPY deployment/security ./deployment/security
# Read-only root filesystem: the process writes only to DATA_DIR and /tmp (tsx's compile cache),
# both mounted as writable volumes on Kubernetes. On PostgreSQL DATA_DIR holds logs and state only.
ENV NODE_ENV=production \
    DATA_DIR=/var/lib/azora \
    HOST=0.0.0.0 \
    PORT=8080 \
    OPS_PORT=9090
# The node image's unprivileged user, by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 8080 9090
# Liveness on the ops port (never the public one); node's fetch, because the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.OPS_PORT||9090)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/azora.js"]
CMD ["serve", "gateway"]
