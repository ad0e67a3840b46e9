# What deploy/monitoring/check.sh and deploy/vm/check.sh share: a scratch
# folder, the pass/fail count, `run` (a check that must pass), `rejects` (a
# self-test: a check on a copy with one mistake, which must fail for the
# right reason), `replace_once` (how a self-test makes its mistake) and
# `finish`. Sourced, after `set -euo pipefail`.

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

run() {  # run WHAT COMMAND...: the command must succeed
    local what="$1"; shift
    echo "== $what"
    if "$@" >"$TMP/out" 2>&1; then
        sed 's/^/   /' "$TMP/out"
        echo "ok: $what"
        passed=$((passed + 1))
    else
        sed 's/^/   /' "$TMP/out"
        echo "FAILED: $what"
        failed=$((failed + 1))
    fi
}

rejects() {  # rejects WHAT PATTERN COMMAND...: the command must fail, saying PATTERN
    local what="$1" pattern="$2"; shift 2
    echo "== self-test: $what"
    if "$@" >"$TMP/out" 2>&1; then
        sed 's/^/   /' "$TMP/out"
        echo "FAILED: the check accepted it"
        failed=$((failed + 1))
    elif grep -q -- "$pattern" "$TMP/out"; then
        echo "ok: rejected: $(grep -m1 -- "$pattern" "$TMP/out" | sed 's/^ *//' | cut -c1-200)"
        passed=$((passed + 1))
    else
        sed 's/^/   /' "$TMP/out"
        echo "FAILED: it failed, but not for '$pattern'"
        failed=$((failed + 1))
    fi
}

# replace_once FILE FROM TO: FROM, which must occur exactly once in FILE,
# becomes TO.
replace_once() {
    python3 - "$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path, encoding="utf-8").read()
if text.count(old) != 1:
    sys.exit(f"self-test cannot apply its mistake: {old!r} occurs {text.count(old)} times in {path}")
open(path, "w", encoding="utf-8").write(text.replace(old, new))
EOF
}

finish() {  # the last line, and the exit status: 1 if anything failed
    echo "check.sh: $passed passed, $failed failed"
    [ "$failed" = 0 ]
}
