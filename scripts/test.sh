#!/usr/bin/env bash
# Installs what the tests need, checks the C formatting, builds starling twice (plain, and
# with ASan+UBSan) and runs every test (cmocka unit tests, integration tests against real
# redis-servers the tests start themselves) through ctest in both builds. Exits non-zero if
# anything fails.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}" redis-server redis-tools python3 clang-format || exit 1

# Style never drifts: every C file as .clang-format says (Debian bookworm's clang-format 14).
c_files=(common/*.[ch] frontend/*.[ch] storage/*.[ch] aggregator/*.[ch] tests/unit/*.c tests/tools/*.c)
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
[ $status -eq 0 ] && echo "== all tests passed" >&2 || echo "== some tests FAILED" >&2
exit $status
