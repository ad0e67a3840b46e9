#!/usr/bin/env bash
# bss-intel ask's evaluation (make test-intel, against the devdb): a scratch
# database on the devdb with CREATE EXTENSION pg_bss, loaded with
# bss-intel/data/ask_seed.sql; every question of bss-intel/data/ask_questions.tsv
# asked at --now 2026-11-25T12:00:00Z (the seed's Wednesday noon) into
# target/intel/ask.{md,json}, failing when the accuracy is below
# MIN_ASK_ACCURACY (0.9, the target). Then "as the caller's role": a login
# role in no bss group is refused with 42501 (exit 1) where a member of
# bss_reader gets the rows, the store's statistics refuse bss_reader and
# answer pg_monitor, and a request to change the store exits 3 (cannot
# answer). The scratch database and roles are dropped on any exit.
# INTEL_NO_BUILD=1 runs the binaries as they are built.
source "$(dirname "$0")/lib.sh"
MIN_ACCURACY="${MIN_ASK_ACCURACY:-0.9}"
NOW=2026-11-25T12:00:00Z
DATA="$ROOT/target/intel"
BIN="$ROOT/target/release"
DB="bss_ask_$$"
NOBODY="bss_ask_nobody_$$"
READER="bss_ask_reader_$$"
MONITOR="bss_ask_monitor_$$"

"$ROOT/scripts/intel_data.sh"
[ -n "${INTEL_NO_BUILD:-}" ] || build_binaries
URL="$("$ROOT/scripts/devdb.sh" url)"
case "${URL%%\?*}" in
    *"://${PG_USER}@"*"/bss") ;;
    *) die "cannot read the devdb URL $URL" ;;
esac
# The devdb's URL for another role and database (its trust authentication
# lets the test roles in without a password).
url_of() {
    local base="${URL%%\?*}" query=""
    [ "$base" = "$URL" ] || query="?${URL#*\?}"
    base="${base%/bss}/$2"
    echo "${base/:\/\/${PG_USER}@/://$1@}$query"
}
psql_as() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
"$PG_BIN/pg_isready" -q -d "$URL" || die "the devdb is not running: make devdb"

cleanup() {
    psql_as "$URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" \
        -c "DROP ROLE IF EXISTS $NOBODY" -c "DROP ROLE IF EXISTS $READER" \
        -c "DROP ROLE IF EXISTS $MONITOR" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "loading bss-intel/data/ask_seed.sql into the scratch database $DB"
psql_as "$URL" -c "CREATE DATABASE $DB" >/dev/null
ADMIN_URL="$(url_of "$PG_USER" "$DB")"
psql_as "$ADMIN_URL" -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_bss" >/dev/null
psql_as "$ADMIN_URL" -f "$ROOT/bss-intel/data/ask_seed.sql" >/dev/null

log "asking bss-intel/data/ask_questions.tsv (now $NOW), failing under an accuracy of $MIN_ACCURACY"
mkdir -p "$DATA"
"$BIN/bss-intel" --data-dir "$DATA" ask --database-url "$ADMIN_URL" --now "$NOW" \
    --questions "$ROOT/bss-intel/data/ask_questions.tsv" --report "$DATA/ask.json" \
    --min-accuracy "$MIN_ACCURACY" | tee "$DATA/ask.md"

log "asking as the caller's role"
psql_as "$URL" -c "CREATE ROLE $NOBODY LOGIN" -c "CREATE ROLE $READER LOGIN IN ROLE bss_reader" \
    -c "CREATE ROLE $MONITOR LOGIN IN ROLE pg_monitor" >/dev/null

# expect WHAT STATUS PATTERN ROLE QUESTION: `bss-intel ask --json` as ROLE
# must exit STATUS saying PATTERN (extended regex).
expect() {
    local what="$1" want="$2" pattern="$3" role="$4" question="$5" out status=0
    out="$("$BIN/bss-intel" --data-dir "$DATA" ask --json --database-url "$(url_of "$role" "$DB")" \
        --now "$NOW" "$question" 2>&1)" || status=$?
    if [ "$status" != "$want" ]; then
        printf '  FAIL %s: exit %s, not %s: %s\n' "$what" "$status" "$want" "$out"
        exit 1
    fi
    if ! grep -qE "$pattern" <<<"$out"; then
        printf '  FAIL %s: exit %s, but not saying /%s/: %s\n' "$what" "$status" "$pattern" "$out"
        exit 1
    fi
    printf '  ok   %s: exit %s, %s\n' "$what" "$status" "$(grep -oE -m1 "$pattern" <<<"$out" | head -1)"
}
FAILED_YESTERDAY="how many payments failed yesterday for business customers"
DEAD_LETTERS="how many dead letters are there"
expect "a role in no bss group is refused" 1 '42501' "$NOBODY" "$FAILED_YESTERDAY"
expect "a member of bss_reader gets the rows" 0 '"rows":\[\{[^]]*"events":2[,}]' "$READER" "$FAILED_YESTERDAY"
expect "bss_reader may not read the store's statistics" 1 '42501' "$READER" "$DEAD_LETTERS"
expect "pg_monitor may" 0 '"rows":\[\{[^]]*"value":2[,}]' "$MONITOR" "$DEAD_LETTERS"
expect "pg_monitor may not read events" 1 '42501' "$MONITOR" "$FAILED_YESTERDAY"
expect "a request to change the store cannot be answered" 3 'ask only reads' "$READER" "delete customer-42"
