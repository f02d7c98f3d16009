#!/usr/bin/env bash
# Make the data dir the upgrade test starts from: run an older `slipway`
# binary, apply a config, build it once (a build, its scan and SBOMs, its
# tags, a repository), stop, and pack the data dir (without buildah's
# storage and the work dir, which a start cleans anyway), with the port it
# listened on.
#
# usage: scripts/make-upgrade-fixture.sh OLD_SLIPWAY_BINARY OUT.tar.gz
# The fixture in crates/slipway/tests/fixtures/ was made with the release
# build of commit c0b33ef (before projects and roles).
set -euo pipefail
old=${1:?usage: make-upgrade-fixture.sh OLD_SLIPWAY_BINARY OUT.tar.gz}
out=$(realpath -m "${2:?usage: make-upgrade-fixture.sh OLD_SLIPWAY_BINARY OUT.tar.gz}")
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export HOME=$work/home XDG_STATE_HOME=$work/state
mkdir -p "$HOME"
"$old" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --workers 1 >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
export SLIPWAY_URL=http://127.0.0.1:$port SLIPWAY_TOKEN_FILE=$work/data/admin-token
SLIPWAY_TOKEN_FILE=$work/data/admin-token bash "$here/scripts/make-base-image.sh" "127.0.0.1:$port/lib/busybox:latest"
git init -q -b main "$work/repo"
printf 'FROM 127.0.0.1:%s/lib/busybox:latest\nLABEL name=team/app version=1.0 component=app\nRUN echo old > /old\n' "$port" >"$work/repo/Dockerfile"
git -C "$work/repo" add Dockerfile
git -C "$work/repo" -c user.name=t -c user.email=t@t commit -qm init
printf 'name: app\nsource: { url: %s, branch: main }\noutput: team/app\n' "$work/repo" >"$work/app.yaml"
"$old" apply -f "$work/app.yaml"
"$old" start app
for _ in $(seq 120); do
  phase=$("$old" builds -o json | python3 -c 'import json,sys; b=json.load(sys.stdin); print(b[0]["phase"] if b else "")')
  case "$phase" in Complete) break ;; Failed|Error|Cancelled) echo "the build ended $phase" >&2; exit 1 ;; esac
  sleep 1
done
[ "$phase" = Complete ] || { echo "the build did not complete" >&2; exit 1; }
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
rm -rf "$work/data/buildah" "$work/data/work"
# The port it ran on: the images and configs name it (127.0.0.1:PORT/…),
# so the upgraded server must listen there too.
echo "$port" >"$work/port"
tar -C "$work" -czf "$out" data port
echo "wrote $out ($(du -h "$out" | cut -f1))"
