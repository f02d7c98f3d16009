#!/usr/bin/env bash
# Make the scan benchmark's image, once (kept in DEST between runs):
#   DEST/rootfs  a real Debian 12 root filesystem: `debootstrap
#                --variant=minbase bookworm` from the mirror apt uses, then
#                python3-pip and npm installed in it with its own apt (whose node modules live under
#                /usr/share/nodejs), plus Python packages installed with pip
#                into /opt/app (site-packages) and /opt/tool (--target), and
#                an npm application under /opt/web;
#   DEST/layout  the same as an OCI image layout (tag `image`) of three
#                layers: the Debian system, the Python applications, the npm
#                application.
# Usage: scripts/make-bench-image.sh DEST
set -euo pipefail
dest=${1:?usage: make-bench-image.sh DEST}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [ -f "$dest/layout/index.json" ] && [ -d "$dest/rootfs/usr" ]; then
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "error: debootstrap needs root" >&2; exit 1; }
for tool in debootstrap buildah; do
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool" >/dev/null
done
command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null

# The mirror apt uses (deb822 sources first, then sources.list).
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $1}' | grep -v security | head -1 || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

rm -rf "$dest/rootfs.tmp" "$dest/apps" "$dest/storage" "$dest/run" "$dest/layout"
echo "==> debootstrap --variant=minbase bookworm from $mirror (a few minutes, once)" >&2
debootstrap --variant=minbase bookworm "$dest/rootfs.tmp" "$mirror" >"$dest/debootstrap.log" 2>&1 \
  || { tail -20 "$dest/debootstrap.log" >&2; exit 1; }
# debootstrap's own resolver cannot install npm's dependencies; apt in
# the new system can.
echo "==> apt-get install python3-pip npm in it" >&2
chroot "$dest/rootfs.tmp" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip npm && apt-get clean' \
  >>"$dest/debootstrap.log" 2>&1 || { tail -20 "$dest/debootstrap.log" >&2; exit 1; }
rm -rf "$dest/rootfs.tmp/var/lib/apt/lists/"*

echo "==> Python and npm packages" >&2
apps="$dest/apps"
python3 -m venv "$dest/pip-venv"
"$dest/pip-venv/bin/pip" install -q --upgrade pip >/dev/null
"$dest/pip-venv/bin/pip" install -q --no-compile \
  --target "$apps/opt/app/lib/python3.11/site-packages" flask numpy requests packaging
"$dest/pip-venv/bin/pip" install -q --no-compile --target "$apps/opt/tool" six attrs
mkdir -p "$apps/opt/web"
cat >"$apps/opt/web/package.json" <<'EOF'
{"name": "bench-web", "version": "1.2.3", "license": "MIT", "private": true}
EOF
(cd "$apps/opt/web" && npm install --silent --no-audit --no-fund express@4 left-pad >/dev/null)

echo "==> the OCI layout (three layers)" >&2
b=(buildah --root "$dest/storage" --runroot "$dest/run" --storage-driver vfs)
layer() { # FROM SRC-DIR NAME
  local ctr mnt
  ctr=$("${b[@]}" from --quiet "$1")
  mnt=$("${b[@]}" mount "$ctr")
  cp -a "$2/." "$mnt/"
  "${b[@]}" umount "$ctr" >/dev/null
  "${b[@]}" commit --quiet "$ctr" "$3" >/dev/null
  "${b[@]}" rm "$ctr" >/dev/null
}
mkdir -p "$dest/apps-py/opt" "$dest/apps-web/opt"
cp -a "$apps/opt/app" "$apps/opt/tool" "$dest/apps-py/opt/"
cp -a "$apps/opt/web" "$dest/apps-web/opt/"
layer scratch "$dest/rootfs.tmp" bench-base
layer bench-base "$dest/apps-py" bench-py
layer bench-py "$dest/apps-web" bench-image
"${b[@]}" push --quiet bench-image "oci:$dest/layout:image"
"${b[@]}" rmi --all >/dev/null 2>&1 || true
rm -rf "$dest/storage" "$dest/run" "$dest/apps-py" "$dest/apps-web" "$dest/pip-venv"

# The same tree as one directory, for `trivy rootfs`.
cp -a "$apps/opt/." "$dest/rootfs.tmp/opt/"
rm -rf "$apps"
mv "$dest/rootfs.tmp" "$dest/rootfs"
du -sh "$dest/rootfs" "$dest/layout" >&2
