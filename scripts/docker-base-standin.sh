#!/usr/bin/env bash
# CI ONLY. Builds a local stand-in for the `python:3.11-slim-bookworm` image.
#
# Why: the Dockerfile starts `FROM python:3.11-slim-bookworm`, which users pull
# from Docker Hub, but these CI machines cannot reach Docker Hub. Rather than
# giving CI its own Dockerfile (and so testing something users never build),
# this script makes an image under that exact tag from Debian bookworm packages:
# Python 3.11 with venv and pip, ca-certificates, `python`/`python3` on
# /usr/local/bin, LANG=C.UTF-8, CMD ["python3"], as the official image has.
# Differences that do not matter to our Dockerfile: Debian's CPython build
# instead of python.org's, and an /etc/pip.conf that makes pip reach PyPI the
# way this machine does (its CA bundle).
#
# If an image with that tag already exists (an earlier run, or a real pull),
# it is reused and nothing is built. Needs root (debootstrap) the first time.
set -euo pipefail

IMAGE_TAG="python:3.11-slim-bookworm"
SUITE="bookworm"
PACKAGES="python3,python3-venv,python3-pip,ca-certificates"

if docker image inspect "$IMAGE_TAG" >/dev/null 2>&1; then
  echo "docker-base-standin: $IMAGE_TAG already exists, reusing it"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "docker-base-standin: building $IMAGE_TAG needs root (debootstrap)" >&2
  exit 1
fi

# The Debian mirror apt uses on this machine (deb822 or one-line format);
# DEBIAN_MIRROR overrides it.
find_apt_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
              /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    awk '
      /^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }
      /^deb / { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*\/debian\/?$/) { print $i; exit } }
    ' "$file"
  done | head -n 1
}
mirror="${DEBIAN_MIRROR:-$(find_apt_mirror)}"
mirror="${mirror:-http://deb.debian.org/debian}"

build_root="$(mktemp -d /var/tmp/losslab-base-standin.XXXXXX)"
rootfs="$build_root/rootfs"

# debootstrap mounts /proc and /sys inside the rootfs; if it stopped midway
# they may still be mounted, and nothing may delete through them.
unmount_inside_rootfs() {
  local mount_point
  findmnt -rn -o TARGET | { grep -F "$rootfs/" || true; } | sort -r |
    while read -r mount_point; do umount -l "$mount_point" || true; done
}
cleanup() {
  unmount_inside_rootfs
  rm -rf --one-file-system "$build_root"
}
trap cleanup EXIT

echo "docker-base-standin: debootstrap $SUITE from $mirror (takes a minute or two)"
started=$SECONDS
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" \
  >"$build_root/debootstrap.log" 2>&1 || {
  tail -n 30 "$build_root/debootstrap.log" >&2
  echo "docker-base-standin: debootstrap failed" >&2
  exit 1
}
unmount_inside_rootfs

ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python3"
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
# The official image's Python is not Debian-managed, so pip may install anywhere.
rm -f "$rootfs/usr/lib/python3.11/EXTERNALLY-MANAGED"

# Trust the same CAs as this machine (it may sit behind a TLS-inspecting proxy).
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
{
  echo "[global]"
  echo "cert = /etc/ssl/certs/ca-certificates.crt"
  # Index settings this machine's pip uses, if any. File-based indexes and
  # find-links point at this machine's disk, which a build cannot see.
  for setting in index-url extra-index-url trusted-host default-timeout; do
    value="$(pip config get "global.$setting" 2>/dev/null || true)"
    env_name="PIP_$(echo "$setting" | tr 'a-z-' 'A-Z_')"
    value="${!env_name:-$value}"
    kept=()
    for item in $value; do  # values are space-separated lists
      case "$item" in file:*) ;; *) kept+=("$item") ;; esac
    done
    value="${kept[*]}"
    if [ -n "$value" ]; then
      echo "$setting = $value"
    fi
  done
} >"$rootfs/etc/pip.conf"

# Slim like the official image (debian:bookworm-slim's dpkg excludes): no apt
# lists, package cache, docs, man pages or translations.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
  "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/man/* \
  "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
  "$rootfs"/usr/share/groff/* "$rootfs"/usr/share/lintian/* "$rootfs"/var/log/*.log
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/dev" "$rootfs/proc" "$rootfs/sys" -mindepth 1 -maxdepth 1 \
  -exec rm -rf --one-file-system {} +

tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' \
  --message "losslab CI stand-in for $IMAGE_TAG (debootstrap $SUITE)" \
  - "$IMAGE_TAG" >/dev/null

echo "docker-base-standin: built $IMAGE_TAG in $((SECONDS - started)) s"
docker image ls "$IMAGE_TAG"
