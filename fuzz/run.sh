#!/usr/bin/env bash
# A deep, coverage-guided fuzz session of one target on the stable toolchain (docs/fuzzing.md):
# libFuzzer through `cargo fuzz` with `--sanitizer none` (sanitizers need nightly; the targets
# are safe Rust, so a panic is the failure signal).
#
#   fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]     e.g. fuzz/run.sh ws_frames 600 -jobs=2
#
# The growing corpus is fuzz/corpus/TARGET (ignored by git); the kept seeds and regressions are
# read as well. A failing input lands in fuzz/artifacts/TARGET/: fix the decoder, then copy the
# input to fuzz/regressions/TARGET/ so `cargo test` replays it forever.
# TIDEGATE_FUZZ_BUILD_FLAGS adds `cargo fuzz` build flags, e.g. "--debug-assertions" for
# overflow checks (a full rebuild).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]}
seconds=${2:-300}
shift $(($# < 2 ? $# : 2))
if [[ ! -f fuzz/fuzz_targets/$target.rs ]]; then
  echo "no fuzz target '$target'; targets: $(ls fuzz/fuzz_targets | sed 's/\.rs$//' | tr '\n' ' ')" >&2
  exit 2
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

corpora=("fuzz/corpus/$target" "fuzz/seeds/$target")
[[ -d fuzz/regressions/$target ]] && corpora+=("fuzz/regressions/$target")
mkdir -p "fuzz/corpus/$target"
# The workspace's release profile links with thin LTO, which makes each instrumented binary
# take minutes to link on 2 cores and buys little for fuzzing.
export CARGO_PROFILE_RELEASE_LTO=${CARGO_PROFILE_RELEASE_LTO:-false}
# shellcheck disable=SC2086 # the build flags are words on purpose
cargo fuzz run --sanitizer none --features libfuzzer ${TIDEGATE_FUZZ_BUILD_FLAGS:-} "$target" \
  "${corpora[@]}" -- \
  -dict="fuzz/dict/$target.dict" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -max_total_time="$seconds" -print_final_stats=1 "$@"
