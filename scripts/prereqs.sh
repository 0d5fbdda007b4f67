#!/usr/bin/env bash
# Installs, from Debian's packages, what gocompose and its tests need and the
# host lacks. Safe to run again: it installs only what is missing.
set -euo pipefail

pkgs=(containerd runc busybox-static tini containernetworking-plugins iptables git)
[ "${GOCOMPOSE_NEED_MMDEBSTRAP:-0}" = 1 ] && pkgs+=(mmdebstrap curl ca-certificates)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "prereqs: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "prereqs: installing ${missing[*]}" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
