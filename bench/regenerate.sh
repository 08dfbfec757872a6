#!/usr/bin/env bash
# Regenerates every number in docs/benchmarks.md, in one run on this machine:
#   1. builds the release binaries and the criterion benches, back to back, and copies them to
#      target/bench-bin/; everything below runs those copies, so a source change or a rebuild
#      while this runs cannot mix builds (the doc records the commit and uncommitted changes
#      the build started from);
#   2. runs the criterion suite (bench/run.sh) and writes its table between the
#      `<!-- bench:criterion -->` markers (bench/report.py reads target/criterion/*/*/new/);
#   3. runs the end-to-end load tests (loadtest/run-all.sh), which write their tables between the
#      `<!-- tidegate-load:NAME -->` markers and JSON reports + SVG plots to docs/loadtest/;
#   4. writes the tidegate / nginx + nchan / raw-writer ratios (`bench:headline`), a description
#      of this run (`bench:run`: source, toolchain, phase times, load average) and the list of
#      commands it ran (`bench:commands`).
# Prose around the markers is hand-written and holds no measured numbers.
# About 5 minutes on 2 cores once the build is done. Needs python3; installs nginx + nchan
# (Debian) when missing. No arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

doc=docs/benchmarks.md
out=docs/loadtest
report=bench/report.py
work=$(mktemp -d)
export TIDEGATE_BENCH_COMMANDS=$work/commands
: >"$TIDEGATE_BENCH_COMMANDS"

# The 1-minute load average every 5 s while this runs: the VM is shared.
(while :; do cut -d' ' -f1 /proc/loadavg; sleep 5; done) >"$work/load" &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true; rm -rf "$work"' EXIT

step() { printf '%s\n' "$*" >>"$TIDEGATE_BENCH_COMMANDS"; "$@"; }
splice() { python3 "$report" splice "$doc" "$1"; }
mins() { echo "$(($1 / 60)) min $(($1 % 60)) s"; }

started=$(date +%s)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git rev-parse --short HEAD)
# What was built: HEAD plus any uncommitted changes to tracked files (the generated docs aside).
changed=$(git --no-optional-locks status --porcelain --untracked-files=no -- . \
    ":(exclude)$doc" ":(exclude)$out" | awk '{print $NF}' | paste -sd' ' -)

echo "=== build"
step cargo build --release --locked --workspace
bench/run.sh --build-only
bin=target/bench-bin
step cp target/release/tidegate target/release/tidegate-load "$bin"/
built=$(date +%s)

echo "=== criterion micro-benchmarks"
target_dir=$(cargo metadata --format-version 1 --no-deps \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
touch "$work/since"
bench/run.sh --no-build
python3 "$report" criterion "$target_dir/criterion" --since "$work/since" | splice criterion
echo "python3 $report criterion target/criterion --since <start of bench/run.sh> | python3 $report splice $doc criterion" \
    >>"$TIDEGATE_BENCH_COMMANDS"

criterion_done=$(date +%s)

echo "=== end-to-end load tests"
loadtest/run-all.sh --doc "$doc" --out "$out" --bin "$bin"
step python3 "$report" headline "$out" | splice headline
loadtest_done=$(date +%s)

# This run.
elapsed=$(($(date +%s) - started))
rustc_version=$(rustc --version)
criterion_version=$(awk '/^name = "criterion"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
nginx_version=$(/usr/sbin/nginx -v 2>&1 | sed 's/.*nginx\///')
nchan_version=$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo unknown)
hypervisor=$(lscpu | sed -n 's/^Hypervisor vendor: *//p')
threads_per_core=$(lscpu | sed -n 's/^Thread(s) per core: *//p')
load=$(sort -n "$work/load" | awk '{v[NR] = $1} END {printf "%s / %s / %s (%d samples)", v[1], v[int((NR + 1) / 2)], v[NR], NR}')
{
    echo "- Run: \`bench/regenerate.sh\`, started ${started_at}: $(mins $((elapsed))) in all; build $(mins $((built - started))), criterion $(mins $((criterion_done - built))), load tests $(mins $((loadtest_done - criterion_done)))."
    if [ -n "$changed" ]; then
        echo "- Source: commit \`${commit}\` plus uncommitted changes to: ${changed}."
    else
        echo "- Source: commit \`${commit}\`."
    fi
    echo "- Virtualisation: ${hypervisor:-none reported} guest, ${threads_per_core:-?} thread(s) per core (\`lscpu\`)."
    echo "- Toolchain: ${rustc_version}; criterion ${criterion_version}; nginx ${nginx_version} with nchan ${nchan_version}."
    echo "- 1-minute load average every 5 s during the run, min / median / max: ${load}. This run keeps up to 2 cores busy itself; the rest is other work on the VM."
} | splice run

{
    echo '```sh'
    cat "$TIDEGATE_BENCH_COMMANDS"
    echo '```'
} | splice commands

echo "=== ${doc} regenerated in $(mins "$elapsed")"
