#!/usr/bin/env bash
# Build the fuzz targets (fuzz/) with libFuzzer's coverage instrumentation
# and run each for a while. Used by scripts/test.sh (30 s each) and by hand:
#
#   bash scripts/fuzz.sh            # every target, 30 s each
#   bash scripts/fuzz.sh 600        # every target, 10 minutes each
#   bash scripts/fuzz.sh 60 webhook # one target
#
# This is what `cargo fuzz run` does (coverage via the stable -C passes
# flags, no sanitizer, so the stable toolchain builds it); FUZZING.md says
# more. Crashes land in fuzz/artifacts/<target>/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-30}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(dockerfile image_config webhook manifest cluster_file repo_files)
fi
export RUSTFLAGS="${RUSTFLAGS:-} --cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the flags off build scripts and proc macros.
triple=$(rustc -vV | sed -n 's/^host: //p')
echo "==> building fuzz targets"
cargo build --release --quiet --bins --target "$triple"
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  # Seeds: the repository's own examples of each input.
  case "$t" in
    dockerfile) cp -n ../crates/dockerfile/tests/corpus/valid/* ../crates/dockerfile/tests/corpus/invalid/* "$corpus/" 2>/dev/null || true ;;
    repo_files) cp -n ../examples/*/slipway.yaml "$corpus/" 2>/dev/null || true ;;
  esac
  echo "==> fuzzing $t for ${seconds}s"
  ./target/"$triple"/release/"$t" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 2>&1 | tail -n 12 | sed "s/^/[$t] /"
done
