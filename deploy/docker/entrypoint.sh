#!/bin/bash
# The container's supervisor (see the Dockerfile), run by tini: tini is PID 1,
# reaps orphans and forwards signals here. Starts nginx in the foreground and
# reloadkit beside it, and ties their lives together:
# - nginx's master exits (a crash, a kill): reloadkit is stopped and the
#   container exits 1, so the restart policy (docker run --restart, compose,
#   Kubernetes) starts both afresh; a container serving nothing never looks
#   alive.
# - reloadkit exits: nginx is stopped gracefully, and the container exits
#   with reloadkit's status.
# - SIGTERM/SIGINT (docker stop): reloadkit stops first (so no reload starts
#   while nginx goes), then nginx gets SIGQUIT: a graceful stop that lets the
#   requests in flight finish. Give it the time they need (docker stop -t,
#   stop_grace_period, terminationGracePeriodSeconds).
# Extra arguments go to `reloadkit run`.
set -u

config="${RELOADKIT_CONFIG:-/etc/reloadkit/reloadkit.yaml}"
log() { printf 'entrypoint: %s\n' "$*" >&2; }

stop_requested=0
reloadkit_pid=
on_stop() {
  stop_requested=1
  if [ -n "$reloadkit_pid" ]; then kill -TERM "$reloadkit_pid" 2>/dev/null; fi
}
trap on_stop TERM INT

# A config nginx rejects stops the start here, with nginx's own message.
if ! nginx -t -q; then
  log 'nginx -t failed; not starting'
  exit 1
fi

nginx -g 'daemon off;' &
nginx_pid=$!
reloadkit run -c "$config" "$@" &
reloadkit_pid=$!
# A signal that came before reloadkit had a pid.
if [ "$stop_requested" = 1 ]; then kill -TERM "$reloadkit_pid" 2>/dev/null; fi

# Until either ends (a stop request ends reloadkit, see on_stop).
wait -n -p ended "$nginx_pid" "$reloadkit_pid"
status=$?

# Sends a signal to a child (if it still runs) and waits until it is gone,
# through any signal that interrupts the wait; returns its exit status.
finish() {
  kill "-$2" "$1" 2>/dev/null
  local rc
  while :; do
    wait "$1"
    rc=$?
    kill -0 "$1" 2>/dev/null || return "$rc"
  done
}

if [ "$stop_requested" = 1 ]; then
  log 'stop requested: stopping reloadkit, then nginx (gracefully)'
elif [ "${ended:-}" = "$nginx_pid" ]; then
  log "nginx's master process exited (status $status); stopping reloadkit, the container exits 1"
else
  log "reloadkit exited (status $status); stopping nginx (gracefully)"
fi
finish "$reloadkit_pid" TERM
reloadkit_status=$?
finish "$nginx_pid" QUIT
if [ "$stop_requested" != 1 ] && [ "${ended:-}" = "$nginx_pid" ]; then exit 1; fi
exit "$reloadkit_status"
