#!/usr/bin/env bash
# The layering rules of the source tree (README "Source tour"), checked on every include:
#   common/     includes nothing of ours from another folder, and no hiredis;
#   storage/    includes common/, storage/ and the build's generated/ (the lua/ scripts);
#   frontend/   includes common/, frontend/ and storage/'s public headers (not *_internal.h);
#   aggregator/ includes common/ and storage/'s public headers;
#   only storage/ includes hiredis, and only storage/gazelle_*.c the MySQL connector
#   (mysql.h, errmsg.h); every include of ours names its folder.
# Also: no product source file over 600 lines. Prints each violation; exits 1 if any.
set -u
self=$(readlink -f "$0")

# --self-test: each rule, broken once in a scratch tree, must be reported, and a clean
# tree must pass.
if [ "${1:-}" = --self-test ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    fails=0
    scratch() { # file, its text: a tree with one other, clean file
        rm -rf "$tmp/t" && mkdir -p "$tmp/t"/{common,frontend,storage,aggregator}
        printf '#include <stdio.h>\n' >"$tmp/t/common/ok.h"
        printf '%s\n' "$2" >"$tmp/t/$1"
    }
    expect_violation() { # file, its text, what
        scratch "$1" "$2"
        if bash "$self" "$tmp/t" 2>/dev/null >&2; then
            echo "layers self-test: not caught: $3" >&2
            fails=1
        fi
    }
    expect_violation common/a.c '#include "frontend/http.h"' "common including frontend"
    expect_violation common/a.c '#include "storage/redis.h"' "common including storage"
    expect_violation storage/a.c '#include "frontend/tracker.h"' "storage including frontend"
    expect_violation frontend/a.c '#include "storage/x_internal.h"' "frontend including a private header"
    expect_violation frontend/a.c '#include "aggregator/x.h"' "frontend including aggregator"
    expect_violation aggregator/a.c '#include "frontend/http.h"' "aggregator including frontend"
    expect_violation frontend/a.c '#include "config.h"' "an include without its folder"
    expect_violation frontend/a.c '#include <hiredis/hiredis.h>' "hiredis outside storage"
    expect_violation aggregator/a.c '#include <mysql.h>' "mysql.h outside storage/gazelle_*"
    expect_violation storage/a.c '#include <errmsg.h>' "errmsg.h outside storage/gazelle_*"
    expect_violation common/a.c "$(seq 601)" "a file over 600 lines"
    scratch frontend/a.c "$(printf '#include "common/ok.h"\n#include "storage/x.h"\n')"
    bash "$self" "$tmp/t" >/dev/null || { echo "layers self-test: a clean tree failed" >&2; fails=1; }
    [ $fails -eq 0 ] && echo "layers self-test: ok"
    exit $fails
fi

cd "${1:-$(dirname "$0")/..}" || exit 2
bad=0
shopt -s nullglob
violation() {
    echo "layers: $*" >&2
    bad=1
}

for f in common/*.[ch] frontend/*.[ch] storage/*.[ch] aggregator/*.[ch]; do
    layer=${f%%/*}
    while IFS= read -r line; do
        inc=${line#*\"}
        inc=${inc%%\"*}
        case $inc in
        */*) ;;
        *) violation "$f: include \"$inc\" does not name its folder" ;;
        esac
        dir=${inc%%/*}
        case "$layer:$dir" in
        common:common | storage:common | storage:storage | storage:generated) ;;
        frontend:common | frontend:frontend | aggregator:common | aggregator:aggregator) ;;
        frontend:storage | aggregator:storage)
            case $inc in
            *_internal.h) violation "$f: includes $inc, which is private to storage/" ;;
            esac
            ;;
        *) violation "$f: $layer/ must not include $inc" ;;
        esac
    done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$f")
    if [ "$layer" != storage ] && grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]+<hiredis' "$f"; then
        violation "$f: only storage/ talks to Redis (includes hiredis)"
    fi
    case $f in
    storage/gazelle_*) ;;
    *) if grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]+<(mysql|errmsg)\.h>' "$f"; then
        violation "$f: only storage/gazelle_* talks to MySQL (includes the connector)"
    fi ;;
    esac
    lines=$(wc -l <"$f")
    [ "$lines" -le 600 ] || violation "$f: $lines lines (at most 600: split it by job)"
done

[ $bad -eq 0 ] && echo "layers: ok"
exit $bad
