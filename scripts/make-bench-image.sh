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
for tool in debootstrap; do
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool" >/dev/null
done
command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null

# The mirror apt uses (deb822 sources first, then sources.list).
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $1}' | grep -v security | head -1 || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

rm -rf "$dest/rootfs.tmp" "$dest/apps" "$dest/apps-py" "$dest/apps-web" "$dest/layout"
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
# Written directly (GNU tar streamed through gzip, hashed on the way):
# buildah's vfs driver would hold a full copy of the tree per layer, more
# disk than a CI machine may have.
mkdir -p "$dest/apps-py/opt" "$dest/apps-web/opt"
cp -a "$apps/opt/app" "$apps/opt/tool" "$dest/apps-py/opt/"
cp -a "$apps/opt/web" "$dest/apps-web/opt/"
python3 - "$dest/layout" "$dest/rootfs.tmp" "$dest/apps-py" "$dest/apps-web" <<'PY'
import gzip, hashlib, json, os, subprocess, sys

layout, dirs = sys.argv[1], sys.argv[2:]
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs)

class Hashing:
    """A file that hashes what is written to it."""
    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0
    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)
    def flush(self):
        self.f.flush()

def put(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}

layers, diff_ids = [], []
for d in dirs:
    names = sorted(os.listdir(d))
    tar = subprocess.Popen(
        ["tar", "-C", d, "--sort=name", "--numeric-owner", "--xattrs", "-cf", "-", "--", *names],
        stdout=subprocess.PIPE)
    tmp = os.path.join(blobs, "layer.tmp")
    diff = hashlib.sha256()
    with open(tmp, "wb") as raw:
        out = Hashing(raw)
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
            while chunk := tar.stdout.read(1 << 20):
                diff.update(chunk)
                gz.write(chunk)
    if tar.wait() != 0:
        sys.exit(f"tar of {d} failed")
    os.rename(tmp, os.path.join(blobs, out.h.hexdigest()))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": "sha256:" + out.h.hexdigest(), "size": out.n})
    diff_ids.append("sha256:" + diff.hexdigest())

created = "2026-01-01T00:00:00Z"
config = put(json.dumps({
    "created": created, "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
    "history": [{"created": created, "created_by": f"layer {i + 1}"} for i in range(len(layers))],
}).encode())
manifest = put(json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
    "layers": layers,
}).encode())
with open(os.path.join(layout, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest,
        "annotations": {"org.opencontainers.image.ref.name": "image"}}]}, f)
PY
rm -rf "$dest/apps-py" "$dest/apps-web" "$dest/pip-venv"

# The same tree as one directory, for `trivy rootfs`.
cp -a "$apps/opt/." "$dest/rootfs.tmp/opt/"
rm -rf "$apps"
mv "$dest/rootfs.tmp" "$dest/rootfs"
du -sh "$dest/rootfs" "$dest/layout" >&2
