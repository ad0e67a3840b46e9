#!/usr/bin/env bash
# make test-upgrade: pg_bss installed at its oldest release, 0.1.0, then
# updated one released step at a time (ALTER EXTENSION pg_bss UPDATE TO each
# version of the pg_bss--A--B.sql chain in pg_bss/sql/) up to the crate's
# version, writing at each version what that version brought (steps/<v>.sql).
# It fails when:
#   - the chain of update scripts does not lead from 0.1.0 to the crate's version;
#   - an update changes, adds or removes a row of a table that was there
#     before it (state.sql, taken before and after each step);
#   - the updated database's schema differs from a fresh install's that ran
#     the same steps (pg_dump --schema-only --binary-upgrade, which writes out
#     every object of the extension, unlike a plain dump).
# Runs its own cluster in target/upgrade-test on UPGRADE_PGPORT (default
# 28819), removed with everything it installed on any exit.
source "$(dirname "$0")/../../../scripts/lib.sh"

HERE="$ROOT/pg_bss/tests/upgrade"
PORT="${UPGRADE_PGPORT:-28819}"
DIR="$ROOT/target/upgrade-test"
DATA="$DIR/data"
OLDEST=0.1.0
EXT_DIR="$("$PG_CONFIG" --sharedir)/extension"
FIXTURE="$EXT_DIR/pg_bss--$OLDEST.sql"

psql_db() {
    local db=$1
    shift
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -d "$db" "$@"
}

cleanup() {
    if [ -f "$DATA/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -w -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -f "$FIXTURE"
}
trap cleanup EXIT

# The versions from OLDEST to the crate's, following pg_bss--A--B.sql files.
chain() {
    local target v=$OLDEST next
    target="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pg_bss/Cargo.toml")"
    echo "$v"
    while [ "$v" != "$target" ]; do
        next="$(cd "$ROOT/pg_bss/sql" && ls pg_bss--"$v"--*.sql 2>/dev/null | sed -n 's/^pg_bss--[^-]*--\(.*\)\.sql$/\1/p')"
        [ "$(echo "$next" | wc -w)" = 1 ] ||
            die "pg_bss/sql: want exactly one update script from $v on the way to $target, found: ${next:-none}"
        v=$next
        echo "$v"
    done
}

# The schema as pg_dump writes it for pg_upgrade (extension members included),
# without what differs between any two databases: object ids, frozen xids,
# the random key of \restrict.
schema_of() {
    as_pg "$PG_BIN/pg_dump" -h "$DIR" -p "$PORT" --schema-only --binary-upgrade "$1"
}
normalized_schema() {
    schema_of "$1" | grep -v -e 'binary_upgrade_set_' -e 'relfrozenxid' -e 'relminmxid' -e 'datfrozenxid' \
        -e "^WHERE oid = '[0-9]*';\$" -e '^\\restrict ' -e '^\\unrestrict ' -e '^--' -e '^$' |
        sed '/binary_upgrade_create_empty_extension/s/[0-9]\{4,\}/OID/g'
}

versions=()
mapfile -t versions < <(chain)
log "update chain: ${versions[*]}"

install_pg_bss
install -m 0644 "$HERE/pg_bss--$OLDEST.sql" "$FIXTURE"

rm -rf "$DIR"
make_pg_dir "$DIR"
as_pg "$PG_BIN/initdb" -D "$DATA" -U "$PG_USER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
make_master_key "$DIR/master.key"
cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$DIR'
wal_level = logical
fsync = off
bss.master_key_file = '$DIR/master.key'
CONF
as_pg "$PG_BIN/pg_ctl" -D "$DATA" -w -o "-p $PORT" -l "$DIR/postgres.log" start >/dev/null
as_pg "$PG_BIN/createdb" -h "$DIR" -p "$PORT" bss_updated
as_pg "$PG_BIN/createdb" -h "$DIR" -p "$PORT" bss_fresh

failed=0
psql_db bss_updated -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_bss VERSION '$OLDEST'"
psql_db bss_updated -f "$HERE/steps/$OLDEST.sql" >"$DIR/upgraded-$OLDEST.out"
for v in "${versions[@]:1}"; do
    psql_db bss_updated -f "$HERE/state.sql" >"$DIR/before-$v.state"
    psql_db bss_updated -c "SET client_min_messages = warning" -c "ALTER EXTENSION pg_bss UPDATE TO '$v'"
    have="$(psql_db bss_updated -tAc "SELECT extversion FROM pg_extension WHERE extname = 'pg_bss'")"
    [ "$have" = "$v" ] || die "ALTER EXTENSION pg_bss UPDATE TO '$v' left version $have"
    # Tables the update created (not named before it) may come with rows of
    # their own, and columns it added with values of their own: the rows as
    # they were must be intact.
    python3 "$HERE/rows_as_before.py" "$DIR/before-$v.state" <"$DIR/before-$v.state" >"$DIR/before-$v.rows"
    psql_db bss_updated -f "$HERE/state.sql" | python3 "$HERE/rows_as_before.py" "$DIR/before-$v.state" >"$DIR/after-$v.rows"
    if ! diff -u "$DIR/before-$v.rows" "$DIR/after-$v.rows" >"$DIR/state-$v.diff"; then
        printf 'FAIL: the update to %s changed stored rows:\n' "$v"
        head -40 "$DIR/state-$v.diff"
        failed=1
    else
        log "updated to $v, rows intact"
    fi
    [ -f "$HERE/steps/$v.sql" ] && psql_db bss_updated -f "$HERE/steps/$v.sql" >"$DIR/upgraded-$v.out"
done

psql_db bss_fresh -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_bss"
for v in "${versions[@]}"; do
    [ -f "$HERE/steps/$v.sql" ] && psql_db bss_fresh -f "$HERE/steps/$v.sql" >"$DIR/fresh-$v.out"
done

normalized_schema bss_updated >"$DIR/upgraded.schema"
normalized_schema bss_fresh >"$DIR/fresh.schema"
[ -s "$DIR/fresh.schema" ] || die "pg_dump wrote no schema for database bss_fresh"
if ! diff -u "$DIR/fresh.schema" "$DIR/upgraded.schema" >"$DIR/schema.diff"; then
    printf 'FAIL: the schema updated from %s differs from a fresh install of %s (- fresh, + updated):\n' \
        "$OLDEST" "${versions[-1]}"
    head -80 "$DIR/schema.diff"
    failed=1
fi
members="$(psql_db bss_fresh -tAc "SELECT count(*) FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_bss') AND deptype = 'e'")"
if [ "$failed" = 0 ]; then
    printf 'upgrade: %s updated to %s step by step: rows intact at each of %d steps, schema (%d objects of the extension, %d lines of pg_dump) equal to a fresh install\n' \
        "$OLDEST" "${versions[-1]}" "$((${#versions[@]} - 1))" "$members" "$(wc -l <"$DIR/fresh.schema")"
else
    echo "upgrade: FAILED (files in $DIR)"
    exit 1
fi
