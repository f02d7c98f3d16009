#!/usr/bin/env bash
# Install the Debian packages Slipway needs to run and to be tested.
# Idempotent: does nothing when everything is already there. Extra
# packages (the test suite's peers: prometheus) may be named as arguments.
set -euo pipefail
packages=(buildah skopeo podman docker-registry busybox-static umoci git curl ca-certificates procps util-linux python3-venv bubblewrap rpm dpkg-dev createrepo-c ncurses-base apache2-utils shellcheck "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's docker-registry and prometheus packages start a service on all
# interfaces; Slipway's scripts and tests start their own on loopback.
for service in docker-registry prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done
command -v cargo >/dev/null || { echo "error: cargo not found; install Rust (rustup) first" >&2; exit 1; }
