# syntax=docker/dockerfile:1
# The durable-backup worker and CLI. glibc (Debian bookworm), not Alpine: the Temporal SDK's native
# module does not run on musl. Build: docker build -t durable-backup .
# Run: docker run ... durable-backup            (a worker: `backupctl worker`)
#      docker run ... durable-backup health     (any other backupctl command)

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript and bundle the workflows once (dist/workflow-bundle.js), so a
# worker does not run webpack at every start; then drop the dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/bundle-workflows.mjs scripts/
COPY src src
COPY workflows workflows
COPY activities activities
RUN npm run build && test -s dist/workflow-bundle.js && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: production dependencies, the compiled code, and the tools a worker runs:
# pg_dump/pg_restore/psql of PostgreSQL 16 (PGDG: a client at least as new as the server), gpg,
# zstd (BACKUP_COMPRESSION=zstd, the default) and Debian's pgBackRest (PITR=pgbackrest, docs/pitr.md;
# installed before the PGDG sources are added, so Debian's 2.45 and not PGDG's).
FROM ${NODE_IMAGE} AS runtime
ARG PG_MAJOR=16
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-common gnupg zstd pgbackrest \
 && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
 && apt-get install -y --no-install-recommends postgresql-client-${PG_MAJOR} \
 && rm -rf /var/lib/apt/lists/*

# A user of its own; BACKUP_DIR's default, owned by it, so a named volume mounted there starts so too.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/backup durable-backup \
 && install -d -m 0700 -o durable-backup -g durable-backup /var/backups/postgres

WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
RUN chmod 0755 dist/src/cli/main.js && ln -s /app/dist/src/cli/main.js /usr/local/bin/backupctl

ENV NODE_ENV=production BACKUP_DIR=/var/backups/postgres
# Memory (docs/scaling.md#memory): two malloc arenas, and V8's young generation at 2 MiB a semi-space,
# keep a worker of fifty databases under 300 MB through a wave.
ENV MALLOC_ARENA_MAX=2 NODE_OPTIONS=--max-semi-space-size=2
USER durable-backup
EXPOSE 9464 9465

# Alive means the worker answers on its /metrics port (served before it polls). `backupctl health`
# is not a liveness check: it reports on the backups (their age, copies, schedules), not the process.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.METRICS_PORT || 9464}/metrics`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["backupctl"]
CMD ["worker"]
