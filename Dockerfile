# reloadkit + nginx in one image: nginx serves, reloadkit watches /etc/nginx,
# validates, reloads and verifies every change.
#
# UNTESTED WITHOUT A DOCKER ENGINE: CI and the development machines have none,
# so this image has never been built there. What can be checked without one
# is (test/package/deploy.test.ts, test/integration/entrypoint.test.ts): the base
# images, the HEALTHCHECK command, STOPSIGNAL, that every copied path exists
# after `npm run build`, and the supervisor script with a real nginx and the
# built daemon. Kept deliberately small. Build and run:
#   docker build -t reloadkit-nginx .
#   docker run -p 8080:8080 -v "$PWD/conf.d:/etc/nginx/conf.d:ro" reloadkit-nginx
# tini is already PID 1 (the ENTRYPOINT): do not add `docker run --init`.
#
# Bind mounts on Docker Desktop (macOS, Windows) deliver no inotify events for
# edits made on the host: reloadkit's periodic rescan (every 10 s here, see
# deploy/docker/reloadkit.yaml) is what notices them. On Linux hosts edits are
# seen at once.

# ---- build: compile and bundle the CLI -------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY bin ./bin
RUN npm run build
# Only what the bundled CLI needs at run time: every dependency is inside the
# bundle (no node_modules), and no sources, tests or source maps.
RUN mkdir -p /out/dist/admin \
 && cp -r package.json bin /out/ \
 && cp dist/cli.js /out/dist/ \
 && cp -r dist/chunks /out/dist/ \
 && rm -f /out/dist/chunks/*.map \
 && cp -r dist/admin/page /out/dist/admin/

# ---- runtime: node, nginx, tini, the bundled CLI ---------------------------
FROM node:24-bookworm-slim
LABEL org.opencontainers.image.title="reloadkit-nginx" \
      org.opencontainers.image.description="nginx with reloadkit: every config change validated (nginx -t), reloaded and verified" \
      org.opencontainers.image.source="https://github.com/reloadkit/reloadkit" \
      org.opencontainers.image.documentation="https://github.com/reloadkit/reloadkit/blob/main/docs/daemon.md" \
      org.opencontainers.image.licenses="MIT"
# nginx runs as www-data too (it listens on 8080), so every directory it or
# reloadkit writes belongs to www-data; reloadkit signals nginx as the same user.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx tini \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d/* \
 && rm -f /var/log/nginx/*.log \
 && mkdir -p /run/nginx /run/reloadkit /var/lib/reloadkit /var/log/nginx /var/lib/nginx/body /var/lib/nginx/proxy \
      /var/lib/nginx/fastcgi /var/lib/nginx/uwsgi /var/lib/nginx/scgi \
 && chown -R www-data:www-data /run/nginx /run/reloadkit /var/lib/reloadkit /var/log/nginx /var/lib/nginx
COPY --from=build /out /opt/reloadkit
RUN ln -s /opt/reloadkit/bin/reloadkit.js /usr/local/bin/reloadkit
COPY deploy/docker/nginx.conf /etc/nginx/nginx.conf
COPY deploy/docker/default.conf /etc/nginx/conf.d/default.conf
COPY deploy/docker/reloadkit.yaml /etc/reloadkit/reloadkit.yaml
COPY deploy/docker/entrypoint.sh /usr/local/bin/reloadkit-entrypoint
USER www-data
EXPOSE 8080
# Healthy means reloadkit answers and nginx serves a valid config (/ready;
# a refused reload leaves the last good config serving: still healthy, and
# /ready lists it as degraded). The HTTP endpoints stay on loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9111/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tini forwards it to the supervisor, which stops reloadkit, then nginx with SIGQUIT.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "reloadkit-entrypoint"]
