# syntax=docker/dockerfile:1
# One image for every Airlock service; the service is chosen by argument:
#   docker run airlock run proxy        (identity | policy | approval | credential | audit | proxy)
#   docker run airlock up               (all services in one process, for a laptop)
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- build: install every dependency, compile all project references, then drop dev dependencies ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# manifests first so that the dependency layer is reused while only sources change
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY contracts/package.json contracts/
COPY packages/cli/package.json packages/cli/
COPY packages/config/package.json packages/config/
COPY packages/demo/package.json packages/demo/
COPY packages/masking/package.json packages/masking/
COPY packages/runtime/package.json packages/runtime/
COPY packages/stack/package.json packages/stack/
COPY packages/testkit/package.json packages/testkit/
COPY services/approval/package.json services/approval/
COPY services/audit/package.json services/audit/
COPY services/console/package.json services/console/
COPY services/credential/package.json services/credential/
COPY services/identity/package.json services/identity/
COPY services/policy/package.json services/policy/
COPY services/proxy/package.json services/proxy/
COPY test/snowflake-emulator/package.json test/snowflake-emulator/
# scripts are skipped here: the root `prepare` compiles, and the sources are not copied yet
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY contracts contracts
COPY packages packages
COPY services services
COPY test/snowflake-emulator test/snowflake-emulator
COPY deploy/config deploy/config
# the embedded demo, its Snowflake emulator and the test kit run only in a checkout (`airlock up` loads the demo in
# demo mode alone, which the image refuses): nothing the image runs imports them, so they are left out
RUN npx tsc -b \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && mkdir -p /out/deploy \
 && cp -r package.json package-lock.json node_modules /out/ \
 && cp -r deploy/config /out/deploy/ \
 && for d in contracts packages/* services/* test/snowflake-emulator; do \
      mkdir -p "/out/$d" && cp -r "$d/package.json" "$d/dist" "/out/$d/"; \
    done \
 && cp -r packages/cli/bin /out/packages/cli/ \
 && rm -rf /out/packages/demo /out/packages/testkit /out/test

# ---- runtime: compiled output and production dependencies only, as a non-root user ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
RUN groupadd --system --gid 10001 airlock \
 && useradd --system --uid 10001 --gid airlock --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin airlock
WORKDIR /app
# owned by root and read-only to the service user: the process never writes to its own code
COPY --from=build /out /app
# the state volume's mount point, owned by the service user: a fresh named volume takes the owner of the directory it
# is mounted on, so the services can keep their generated keys there (docker-compose.yml mounts one per service)
RUN mkdir -p /var/lib/airlock && chown 10001:10001 /var/lib/airlock && chmod 0700 /var/lib/airlock
USER 10001:10001
# proxy HTTP, approval API, audit API, identity dev issuer, proxy PostgreSQL wire
EXPOSE 8080 8081 8082 8083 15432
# The image runs six different services, and only some of them serve HTTP, so it carries no HEALTHCHECK of its own:
# docker-compose.yml and the Helm chart declare one per service (GET /healthz on the service's own port).
ENTRYPOINT ["node", "packages/cli/bin/airlock.js"]
# `up` without AIRLOCK_CONFIG refuses to start here (NODE_ENV=production): the demo runs only in a development checkout
CMD ["up"]
