#!/usr/bin/env bash
# Installs Node.js and npm from Debian's packages when npm is missing (axe-core for the
# accessibility tests, Lighthouse for the benchmark come from the npm registry).
set -euo pipefail
command -v npm >/dev/null 2>&1 && exit 0
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
echo "installing system packages: nodejs npm"
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
command -v npm >/dev/null 2>&1 || { echo "ensure-npm: npm is still missing after installing nodejs and npm" >&2; exit 1; }
