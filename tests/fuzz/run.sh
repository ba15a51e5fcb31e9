#!/usr/bin/env bash
# Runs each libFuzzer target of a STARLING_FUZZ build for a bounded time, under the ASan and
# UBSan it was built with. New inputs go to a scratch directory (the committed corpus/ is
# only read); a crash, sanitizer report, leak, timeout or failed FUZZ_CHECK fails the run
# and leaves the input as BUILD_DIR/fuzz-<target>-crash-* (add it to corpus/<target>/ once
# fixed, so ctest replays it for good). Prints the executions per target.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_EACH [TARGET...]]
set -uo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 BUILD_DIR [SECONDS_EACH [TARGET...]]" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
seconds=${2:-20}
shift $(($# < 2 ? $# : 2))
src=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http query udp redis_reply config)

# Largest input per target: what the frontend would read at most (an 8 KiB request, a
# 2048-byte datagram), and a few KiB for replies and config files.
max_len() {
    case $1 in
    http | query) echo 8192 ;;
    udp) echo 2048 ;;
    *) echo 4096 ;;
    esac
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
    bin=$build/tests/fuzz/fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "== fuzz $t: $bin not built (cmake -DCMAKE_C_COMPILER=clang -DSTARLING_FUZZ=ON)" >&2
        status=1
        continue
    fi
    mkdir -p "$scratch/$t"
    dict=()
    [ -f "$src/$t.dict" ] && dict=(-dict="$src/$t.dict")
    log=$build/fuzz-$t.log
    # -timeout: an input taking 10 s is a finding (they take microseconds; 10 s, not less,
    # so a busy machine's stall is not one); -rss_limit_mb: a growing process is one too
    # (they stay near 550 MB with ASan's quarantine), long before the machine suffers.
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len="$(max_len "$t")" \
        -print_final_stats=1 -artifact_prefix="$build/fuzz-$t-" "${dict[@]}" \
        "$scratch/$t" "$src/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ $rc -eq 0 ]; then
        echo "== fuzz $t: ${runs:-?} runs in ${seconds}s, no finding" >&2
    else
        echo "== fuzz $t: FINDING (exit $rc), log $log:" >&2
        grep -E "ERROR|SUMMARY|fuzz check|Test unit written|runtime error" "$log" | head -20 >&2
        status=1
    fi
done
exit $status
