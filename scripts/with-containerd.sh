#!/usr/bin/env bash
# Runs a command with the system containerd answering. When none answers,
# it starts one detached (own session, output to a log file) and stops it
# again after the command, so nothing it started is left running.
set -uo pipefail

sock=${CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
started=""
answers() { [ -S "$sock" ] && timeout 5 ctr --address "$sock" version >/dev/null 2>&1; }

if ! answers; then
  if [ "$(id -u)" != 0 ] || ! command -v containerd >/dev/null; then
    echo "with-containerd: no containerd at $sock and cannot start one (not root, or not installed)" >&2
  else
    log=${TMPDIR:-/tmp}/gocompose-containerd.log
    setsid containerd </dev/null >"$log" 2>&1 &
    started=$!
    for _ in $(seq 1 100); do answers && break; sleep 0.1; done
    answers || { echo "with-containerd: containerd did not start, see $log" >&2; kill "$started" 2>/dev/null; exit 1; }
    echo "with-containerd: started containerd (pid $started), log in $log" >&2
  fi
fi

"$@"
rc=$?

if [ -n "$started" ]; then
  kill -TERM "$started" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$started" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$started" 2>/dev/null || true
  echo "with-containerd: stopped containerd (pid $started)" >&2
fi
exit $rc
