#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a real image:
# install packages, build Slipway, start `slipway serve` with its defaults
# (API and embedded registry on 127.0.0.1:8080, data in ./.slipway), push a
# tiny base image to it, build examples/hello and print the pushed image.
#
#   bash scripts/quickstart.sh          # start the server and build the example
#   bash scripts/quickstart.sh --stop   # stop the server it started
#
# SLIPWAY_PORT (8080) chooses the port, SLIPWAY_DATA_DIR (./.slipway) the data,
# QUICKSTART_DIR (./.quickstart) where the server's log and pid go.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
port=${SLIPWAY_PORT:-8080}
qs=${QUICKSTART_DIR:-$root/.quickstart}
data=${SLIPWAY_DATA_DIR:-$root/.slipway}

if [ "${1:-}" = "--stop" ]; then
  if [ -f "$qs/slipway.pid" ]; then
    kill "$(cat "$qs/slipway.pid")" 2>/dev/null || true
    rm -f "$qs/slipway.pid"
  fi
  echo "stopped"
  exit 0
fi

bash scripts/setup-debian.sh
echo "==> building slipway (release)"
cargo build --release --quiet --bin slipway
slipway="$root/target/release/slipway"
mkdir -p "$qs"

up() { curl -fsS -o /dev/null "$1" 2>/dev/null; }
if ! up "http://127.0.0.1:$port/healthz"; then
  echo "==> starting slipway serve on 127.0.0.1:$port (data in $data)"
  nohup "$slipway" serve --listen "127.0.0.1:$port" --data-dir "$data" > "$qs/slipway.log" 2>&1 &
  echo $! > "$qs/slipway.pid"
  for _ in $(seq 300); do up "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  up "http://127.0.0.1:$port/healthz" || { echo "error: slipway did not start; see $qs/slipway.log" >&2; exit 1; }
fi
export SLIPWAY_URL="http://127.0.0.1:$port" SLIPWAY_TOKEN_FILE="$data/admin-token"

base="127.0.0.1:$port/slipway/busybox:latest"
echo "==> pushing a tiny base image to the embedded registry ($base)"
bash scripts/make-base-image.sh "$base"

echo "==> building examples/hello"
# A tag without a registry goes to the embedded registry.
ref=$("$slipway" build "$root" --context-dir examples/hello --tag slipway/hello:latest --build-arg "BASE=$base" | tail -n 1)
echo
echo "pushed: $ref"
echo "look at it:   skopeo inspect --tls-verify=false --creds \"slipway:\$(cat $data/admin-token)\" docker://$ref"
echo "list builds:  $slipway builds"
echo "stop:         bash scripts/quickstart.sh --stop"
