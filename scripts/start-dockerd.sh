#!/usr/bin/env bash
# Starts a Docker engine if none answers. These machines allow only loopback
# traffic, so the daemon gets no bridge, no iptables rules and no forwarding;
# images are built and run with --network host.
# Exit status 0 only when an engine answers `docker info` at the end; otherwise
# a message on stderr and exit status 1 (scripts/ensure-test-system.sh decides
# whether that stops the run: it does on CI).
set -euo pipefail

fail() { echo "start-dockerd: $*" >&2; exit 1; }

if docker info >/dev/null 2>&1; then
  exit 0
fi
command -v docker >/dev/null 2>&1 || fail "the docker CLI is not installed (Debian package docker.io)"
command -v dockerd >/dev/null 2>&1 || fail "dockerd is not installed (Debian package docker.io)"
if [ "$(id -u)" -ne 0 ]; then
  fail "no Docker engine answers and this user cannot start one (dockerd needs root)"
fi
log=/var/log/losslab-dockerd.log
echo "starting dockerd (bridge=none, iptables off); log: $log"
nohup dockerd --bridge=none --iptables=false --ip-forward=false >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    fail "dockerd exited at once; the end of $log:
$(tail -n 20 "$log" 2>/dev/null)"
  fi
  sleep 0.5
done
fail "dockerd did not answer within 30 s; the end of $log:
$(tail -n 20 "$log" 2>/dev/null)"
