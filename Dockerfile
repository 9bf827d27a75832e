# reloadkit + nginx in one image: nginx serves, reloadkit watches
# /etc/nginx, validates, reloads and verifies every change.
#
# Not built in CI or in the development sandbox (no Docker engine there);
# kept deliberately simple. Build and run:
#   docker build -t reloadkit-nginx .
#   docker run --init -p 8080:80 -v "$PWD/conf.d:/etc/nginx/conf.d" reloadkit-nginx
# `--init` (or tini) matters: PID 1 must reap exited processes.

# ---- build: compile and bundle the CLI ----------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY bin ./bin
RUN npm run build && npm prune --omit=dev

# ---- runtime: node, nginx, the built CLI ----------------------------------
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx tini \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sf /dev/stdout /var/log/nginx/access.log
WORKDIR /opt/reloadkit
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
RUN ln -s /opt/reloadkit/bin/reloadkit.js /usr/local/bin/reloadkit \
 && mkdir -p /etc/reloadkit /run/reloadkit /var/lib/reloadkit
COPY examples/nginx/reloadkit.yaml /etc/reloadkit/reloadkit.yaml
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
EXPOSE 80
# reloadkit's HTTP endpoints (/health, /ready, /metrics) stay on loopback;
# use `docker exec … reloadkit status` or publish them explicitly
# (RELOADKIT_HTTP=0.0.0.0:9111 plus --http-allow-remote).
HEALTHCHECK --interval=30s --timeout=5s CMD ["reloadkit", "status"]
ENTRYPOINT ["tini", "--", "docker-entrypoint.sh"]
