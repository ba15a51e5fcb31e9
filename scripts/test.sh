#!/usr/bin/env bash
# Installs what the tests need, checks the C formatting, builds starling twice (plain, and
# with ASan+UBSan) and runs every test (cmocka unit tests, integration tests against real
# redis-servers the tests start themselves, the fuzz corpora) through ctest in both builds,
# then fuzzes each parser of outside input for a bounded time (a third build, clang +
# libFuzzer + ASan+UBSan; STARLING_FUZZ_SECONDS per target, 20 by default, 0 skips it).
# Exits non-zero if anything fails.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
# clang-14 only recommends the compiler-rt package that holds libFuzzer. The load balancer
# tests run nginx with its stream module and aria2 as a real BitTorrent client; the
# deployment tests (test_deploy*.py, test_observability.py) lint and validate deploy/ with
# yamllint, promtool (prometheus), docker-compose and nginx; kubectl, node/npm and
# systemd-analyze come with the machine (each such test skips, saying so, without them).
# The MariaDB tests (tests/integration/mariadb.py) start their own mariadbd on a free port
# with its own socket: they neither need nor touch the system service.
ensure_packages "${BUILD_PACKAGES[@]}" redis-server redis-tools python3 clang-format clang \
    libclang-rt-14-dev nginx libnginx-mod-stream aria2 yamllint prometheus docker-compose \
    mariadb-server mariadb-client libmariadb-dev || exit 1

# Style never drifts: every C file as .clang-format says (Debian bookworm's clang-format 14).
c_files=(common/*.[ch] frontend/*.[ch] storage/*.[ch] aggregator/*.[ch] tests/unit/*.c tests/tools/*.c
    tests/fuzz/*.[ch])
status=0
if clang-format --dry-run --Werror "${c_files[@]}"; then
    echo "== clang-format: ${#c_files[@]} files formatted" >&2
else
    echo "== clang-format: the files above are not formatted (clang-format -i FILE...)" >&2
    status=1
fi

jobs=$(nproc)
build_and_test() { # dir, cmake args...
    local dir=$1
    shift
    echo "== $dir: build" >&2
    if ! { cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$jobs" >/dev/null; }; then
        cmake --build "$dir" -j1 2>&1 | tail -40
        return 1
    fi
    echo "== $dir: test" >&2
    (cd "$dir" && ctest --output-on-failure --timeout 300 --no-tests=error)
}

build_and_test build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON || status=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build_and_test build-asan -DCMAKE_BUILD_TYPE=Debug -DSTARLING_SANITIZE=ON -DBUILD_TESTING=ON || status=1

# Fuzzing: every libFuzzer target of tests/fuzz/ for a bounded time under ASan+UBSan; a
# finding fails the run (tests/fuzz/run.sh says where the input went).
fuzz_seconds=${STARLING_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ]; then
    echo "== build-fuzz: build" >&2
    if cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSTARLING_FUZZ=ON -DBUILD_TESTING=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
        cmake --build build-fuzz -j"$jobs" --target fuzzers >/dev/null; then
        echo "== build-fuzz: fuzz, ${fuzz_seconds}s per target" >&2
        tests/fuzz/run.sh build-fuzz "$fuzz_seconds" || status=1
    else
        cmake --build build-fuzz -j1 --target fuzzers 2>&1 | tail -40
        status=1
    fi
fi
[ $status -eq 0 ] && echo "== all tests passed" >&2 || echo "== some tests FAILED" >&2
exit $status
