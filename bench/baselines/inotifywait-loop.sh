#!/usr/bin/env bash
# Baseline for bench/suites/e2e.ts: the reload loop operators write by hand
# on a box with Debian's inotify-tools. Wait for any change in the config
# directory, test, reload, and wait again.
#
# usage: inotifywait-loop.sh DIR [nginx options, e.g. -p PREFIX/ -c CONF]
#
# Kept as written in the wild on purpose: inotifywait exits after the first
# event, so whatever happens while nginx -t and the reload run is not seen.
dir=$1
shift
while inotifywait -e modify,close_write,move,create,delete "$dir"; do
  nginx "$@" -t && nginx "$@" -s reload
done
