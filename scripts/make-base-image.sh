#!/usr/bin/env bash
# Make a tiny base image from Debian's busybox-static and push it to a registry.
# Base images cannot be pulled from the internet on these machines; this one is
# enough for the example and the tests (sh, echo, cat, nc, sleep, ...).
#
# usage: scripts/make-base-image.sh HOST:PORT/NAME[:TAG]
# With SLIPWAY_TOKEN_FILE set, it logs in with that token (for Slipway's
# embedded registry) through a private auth file, never on a command line.
set -euo pipefail
ref=${1:?usage: make-base-image.sh HOST:PORT/NAME[:TAG]}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "error: $busybox not found; apt-get install -y busybox-static" >&2; exit 1; }
command -v buildah >/dev/null || { echo "error: buildah not found; apt-get install -y buildah" >&2; exit 1; }

work=$(mktemp -d)
trap 'buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs rmi --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc" "$work/rootfs/root"
cp "$busybox" "$work/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
echo 'root:x:0:' > "$work/rootfs/etc/group"
chmod 1777 "$work/rootfs/tmp"
tar -C "$work/rootfs" --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" .
printf 'FROM scratch\nADD rootfs.tar /\nENV PATH=/bin\nCMD ["/bin/sh"]\n' > "$work/Containerfile"

tls=true
case "$ref" in localhost/*|localhost:*|127.*|\[::1\]*) tls=false ;; esac
b=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
auth=()
if [ -n "${SLIPWAY_TOKEN_FILE:-}" ]; then
  registry=${ref%%/*}
  (umask 077; printf '{"auths":{"%s":{"auth":"%s"}}}' "$registry" \
    "$(printf 'slipway:%s' "$(tr -d '[:space:]' < "$SLIPWAY_TOKEN_FILE")" | base64 -w0)" > "$work/auth.json")
  auth=(--authfile "$work/auth.json")
fi
"${b[@]}" bud --quiet --isolation chroot -f "$work/Containerfile" -t "$ref" "$work" >/dev/null
"${b[@]}" push --quiet --tls-verify="$tls" "${auth[@]}" "$ref" "docker://$ref"
echo "pushed base image $ref"
