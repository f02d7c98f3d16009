#!/usr/bin/env bash
# The whole test suite: installs what it needs, checks formatting and lints,
# runs every unit, integration and end-to-end test, then the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
# A CI run builds everything once: incremental caches would only take disk
# (tens of GB over a few runs) and time.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${avail_kb:-0}" -lt 15000000 ]; then
  echo "warning: only $((avail_kb / 1024)) MiB free here; the suite needs about 15 GiB (cargo clean frees the most)" >&2
fi
# Prometheus scrapes /metrics in the observability test; headless Chromium
# (driven over WebDriver by chromedriver) runs the console tests; PostgreSQL
# backs the store tests of the PostgreSQL store.
bash scripts/setup-debian.sh prometheus chromium chromium-driver postgresql
# oras (PyPI) for the registry interop tests; jsonschema (PyPI) validates
# the Koji metadata and the SBOMs against docs/schemas; aiosmtpd (PyPI) is
# the SMTP server the notification tests send mail to.
if [ ! -x target/interop-venv/bin/python ] || ! target/interop-venv/bin/python -c "import oras, jsonschema, aiosmtpd" 2>/dev/null; then
  echo "==> installing oras, jsonschema and aiosmtpd (PyPI) into target/interop-venv"
  rm -rf target/interop-venv
  python3 -m venv target/interop-venv
  target/interop-venv/bin/pip install --quiet oras jsonschema aiosmtpd
fi
# moto (PyPI), the S3 server the registry's S3 blob store is tested
# against, is installed by its test fixture (slipway_test_support::S3Server)
# into target/moto-venv on first use.
# Microsoft's SARIF Multitool (npm) validates `slipway lint -f sarif` against
# the SARIF 2.1.0 schema.
if [ ! -x target/sarif-tools/node_modules/.bin/sarif-multitool ]; then
  echo "==> installing @microsoft/sarif-multitool (npm) into target/sarif-tools"
  mkdir -p target/sarif-tools
  (cd target/sarif-tools && npm install --silent --no-audit --no-fund @microsoft/sarif-multitool@5.7.0 >/dev/null)
fi
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test"
cargo test --workspace --no-fail-fast
echo "==> fuzzing each parser of untrusted input for 30 s (FUZZING.md)"
bash scripts/fuzz.sh 30
echo "==> quickstart smoke test"
qs=$(mktemp -d)
trap 'QUICKSTART_DIR=$qs bash scripts/quickstart.sh --stop >/dev/null; rm -rf "$qs"' EXIT
out=$(SLIPWAY_PORT=18080 QUICKSTART_DIR="$qs" SLIPWAY_DATA_DIR="$qs/data" bash scripts/quickstart.sh)
echo "$out" | tail -n 5
ref=$(echo "$out" | sed -n 's/^pushed: //p')
[ -n "$ref" ] || { echo "quickstart printed no image reference" >&2; exit 1; }
skopeo inspect --tls-verify=false --creds "slipway:$(cat "$qs/data/admin-token")" "docker://$ref" | grep -q '"Digest"' \
  || { echo "skopeo cannot see $ref" >&2; exit 1; }
echo "quickstart: 1 passed, 0 failed"
