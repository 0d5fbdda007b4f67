#!/usr/bin/env bash
# Makes the offline Python base image localhost/python-flask:bookworm from
# Debian with mmdebstrap (using this machine's own apt sources), and loads it
# into containerd with `gocompose image load`. The image archive is cached
# outside the checkout, so a second run takes seconds.
#
# With registry access you would not need this: the Dockerfiles can start
# FROM python:3.12-slim and RUN pip install -r requirements.txt.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
GOCOMPOSE=${GOCOMPOSE:-$repo/bin/gocompose}
NAME=${BASE_IMAGE:-localhost/python-flask:bookworm}
CACHE=${GOCOMPOSE_CACHE:-$HOME/.cache/gocompose}
image="$CACHE/python-flask-bookworm.oci.tar"
archive_only=false
[ "${1:-}" = "--archive-only" ] && archive_only=true

if ! $archive_only && "$GOCOMPOSE" image ls -q 2>/dev/null | grep -qx "$NAME"; then
  echo "base image $NAME is already loaded"
  exit 0
fi

if [ ! -s "$image" ]; then
  command -v mmdebstrap >/dev/null || { echo "make-base: mmdebstrap is not installed (apt-get install mmdebstrap)" >&2; exit 1; }
  # The machine's apt sources: a deb822 file that names the Debian archive,
  # else the classic sources.list.
  sources=""
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    if [ -s "$f" ] && grep -Eq '^[^#]*(URIs:|deb ).*debian' "$f"; then sources=$f; break; fi
  done
  [ -n "$sources" ] || { echo "make-base: no Debian apt source found in /etc/apt" >&2; exit 1; }
  mkdir -p "$CACHE"
  rootfs=$(mktemp "$CACHE/rootfs.XXXXXX.tar")
  trap 'rm -f "$rootfs"' EXIT
  echo "make-base: building a Debian bookworm rootfs with python3-flask (sources from $sources)"
  mmdebstrap --quiet --variant=essential \
    --include=python3,python3-flask,python3-requests,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    bookworm "$rootfs" "$sources"
  (cd "$repo" && go run ./examples/base/mkimage -rootfs "$rootfs" -name "$NAME" -o "$image")
fi
if $archive_only; then
  echo "$image"
  exit 0
fi
"$GOCOMPOSE" image load -i "$image"
