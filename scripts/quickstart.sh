#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a real image:
# install packages, build Slipway, start a loopback registry and `slipway serve`
# with its defaults, then build examples/hello and print the pushed image.
#
#   bash scripts/quickstart.sh          # start everything and build the example
#   bash scripts/quickstart.sh --stop   # stop the server and registry it started
#
# SLIPWAY_PORT (8080) and REGISTRY_PORT (5000) choose the ports;
# QUICKSTART_DIR (./.quickstart) holds the registry data and logs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
port=${SLIPWAY_PORT:-8080}
reg_port=${REGISTRY_PORT:-5000}
qs=${QUICKSTART_DIR:-$root/.quickstart}
data=${SLIPWAY_DATA_DIR:-$root/.slipway}

stop() {
  for f in "$qs/slipway.pid" "$qs/registry.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  echo "stopped"
}
if [ "${1:-}" = "--stop" ]; then stop; exit 0; fi

bash scripts/setup-debian.sh
echo "==> building slipway (release)"
cargo build --release --quiet --bin slipway
slipway="$root/target/release/slipway"
mkdir -p "$qs"

up() { curl -fsS -o /dev/null "$1" 2>/dev/null; }

if ! up "http://127.0.0.1:$reg_port/v2/"; then
  echo "==> starting a registry on 127.0.0.1:$reg_port"
  cat > "$qs/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $qs/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$reg_port
YML
  nohup docker-registry serve "$qs/registry.yml" > "$qs/registry.log" 2>&1 &
  echo $! > "$qs/registry.pid"
  for _ in $(seq 100); do up "http://127.0.0.1:$reg_port/v2/" && break; sleep 0.1; done
  up "http://127.0.0.1:$reg_port/v2/" || { echo "error: registry did not start; see $qs/registry.log" >&2; exit 1; }
fi

base="127.0.0.1:$reg_port/slipway/busybox:latest"
echo "==> pushing a tiny base image ($base)"
bash scripts/make-base-image.sh "$base"

if ! up "http://127.0.0.1:$port/healthz"; then
  echo "==> starting slipway serve on 127.0.0.1:$port (data in $data)"
  nohup "$slipway" serve --listen "127.0.0.1:$port" --data-dir "$data" > "$qs/slipway.log" 2>&1 &
  echo $! > "$qs/slipway.pid"
  for _ in $(seq 300); do up "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  up "http://127.0.0.1:$port/healthz" || { echo "error: slipway did not start; see $qs/slipway.log" >&2; exit 1; }
fi

echo "==> building examples/hello"
export SLIPWAY_URL="http://127.0.0.1:$port" SLIPWAY_TOKEN_FILE="$data/admin-token"
image="127.0.0.1:$reg_port/slipway/hello:latest"
ref=$("$slipway" build "$root" --context-dir examples/hello --tag "$image" --build-arg "BASE=$base" | tail -n 1)
echo
echo "pushed: $ref"
echo "look at it:   skopeo inspect --tls-verify=false docker://$ref"
echo "list builds:  $slipway builds"
echo "stop:         bash scripts/quickstart.sh --stop"
