#!/usr/bin/env bash
# Starts a Docker engine if none answers. These machines allow only loopback
# traffic, so the daemon gets no bridge, no iptables rules and no forwarding;
# images are built and run with --network host.
set -euo pipefail

if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "start-dockerd: Docker is not running and this user cannot start it (needs root)" >&2
  exit 0
fi
echo "starting dockerd (bridge=none, iptables off)"
nohup dockerd --bridge=none --iptables=false --ip-forward=false \
  >/var/log/losslab-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
echo "start-dockerd: dockerd did not answer within 30 s; see /var/log/losslab-dockerd.log" >&2
exit 1
