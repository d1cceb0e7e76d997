#!/usr/bin/env bash
# Installs and starts the system parts the test suite drives for real:
# Chromium + ChromeDriver (browser tests) and a Docker engine (container tests).
# Debian packages only; needs root (or sudo) the first time, is a no-op afterwards.
# On CI (bench.harness.on_ci: CI set to anything but '', '0', 'false', 'no';
# .ci/run sets CI=1) a Docker engine that cannot be started stops the run;
# elsewhere it is a warning and the Docker tests skip.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="$root/.venv/bin/python"
[ -x "$python" ] || python=python3

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
on_ci() {
  "$python" -c 'import sys; sys.path.insert(0, sys.argv[1]); from bench.harness import on_ci; sys.exit(0 if on_ci() else 1)' "$root"
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! bash "$root/scripts/start-dockerd.sh"; then
  if on_ci; then
    echo "ensure-test-system: CI is set and no Docker engine could be started; stopping" >&2
    exit 1
  fi
  echo "ensure-test-system: warning: no Docker engine; the Docker tests will skip (they fail on CI)" >&2
fi
