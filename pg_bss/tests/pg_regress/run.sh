#!/usr/bin/env bash
# make test-regress: what a psql user sees, pinned. PostgreSQL's own
# pg_regress runs each sql/<test>.sql in a temporary instance (its own initdb,
# port REGRESS_PGPORT, default 28820) with pg_bss created, and compares psql's
# output with expected/<test>.out: results, errors with their SQLSTATE,
# DETAIL and HINT, notices. The layout is cargo pgrx regress's.
#
#   pg_bss/tests/pg_regress/run.sh            every test, in the order of TESTS
#   pg_bss/tests/pg_regress/run.sh --accept   then copy the results over expected/
#                                             (review the diff before committing)
source "$(dirname "$0")/../../../scripts/lib.sh"

HERE="$ROOT/pg_bss/tests/pg_regress"
OUT="$ROOT/target/pg_regress"
PORT="${REGRESS_PGPORT:-28820}"
PG_REGRESS="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"
# The tests share one database and build on each other's events.
TESTS=(appending reading time_travel data_quality errors privileges audit tenants personal_data)

[ -x "$PG_REGRESS" ] || die "no pg_regress at $PG_REGRESS (package postgresql-server-dev-$PG_MAJOR)"
install_pg_bss
rm -rf "$OUT"
make_pg_dir "$OUT"
make_master_key "$OUT/master.key"
cat >"$OUT/test.conf" <<CONF
wal_level = logical
fsync = off
bss.master_key_file = '$OUT/master.key'
CONF
if [ "${1:-}" = --accept ]; then
    # pg_regress stops at a test without expected output: start a new one empty.
    for t in "${TESTS[@]}"; do [ -f "$HERE/expected/$t.out" ] || : >"$HERE/expected/$t.out"; done
fi
status=0
# A Rust backtrace (RUST_BACKTRACE in the environment) would land in the DETAIL
# of errors that pass through the append path: the server runs without it.
(cd "$OUT" && as_pg env -u RUST_BACKTRACE "$PG_REGRESS" --temp-instance="$OUT/instance" --port="$PORT" --bindir="$PG_BIN" \
    --temp-config="$OUT/test.conf" --inputdir="$HERE" --outputdir="$OUT" --load-extension=pg_bss \
    --dbname=bss_regress "${TESTS[@]}") || status=$?
if [ "${1:-}" = --accept ]; then
    for t in "${TESTS[@]}"; do cp "$OUT/results/$t.out" "$HERE/expected/$t.out"; done
    log "copied results/ over expected/: review git diff pg_bss/tests/pg_regress/expected"
    exit 0
fi
if [ "$status" != 0 ]; then
    [ -f "$OUT/regression.diffs" ] && head -150 "$OUT/regression.diffs"
    die "pg_regress: output differs from expected/ (all of it: $OUT/regression.diffs)"
fi
