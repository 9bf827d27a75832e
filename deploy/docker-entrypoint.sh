#!/bin/sh
# Container entrypoint (see Dockerfile): check and start nginx (it
# daemonizes; tini, PID 1, reaps it), then run reloadkit in the foreground.
# When reloadkit exits, tini exits and the container stops with nginx.
set -eu
nginx -t
nginx
exec reloadkit run -c "${RELOADKIT_CONFIG:-/etc/reloadkit/reloadkit.yaml}" "$@"
