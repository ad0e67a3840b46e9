# Shared by the scripts in this folder: paths, logging, and running commands as
# the unprivileged OS user that owns PostgreSQL clusters when we are root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR=15
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="${PG_BIN}/pg_config"
PGRX_VERSION="0.18.1"
TANSU_VERSION="0.6.0"
CONFLUENT_KAFKA_VERSION="2.16.1"
PY_VENV="$ROOT/target/py"

# The tansu binary: the one scripts/tansu/build.sh installs in cargo's bin
# folder, else one on PATH; fails if absent.
tansu_bin() {
    local built="${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
    if [ -x "$built" ]; then echo "$built"; else command -v tansu 2>/dev/null; fi
}

# What the installed tansu must be built from: its version and a digest of
# scripts/tansu's patches (build.sh writes it beside the binary as
# tansu.pg_bss).
tansu_stamp() {
    printf '%s patches %s\n' "$TANSU_VERSION" "$(cat "$ROOT"/scripts/tansu/*.patch | sha256sum | cut -c1-16)"
}

# Succeeds when tansu_bin was built from this tree's version and patches.
tansu_current() {
    local bin
    bin="$(tansu_bin)" && [ "$(cat "$bin.pg_bss" 2>/dev/null)" = "$(tansu_stamp)" ]
}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# expect_refused WHAT PATTERN COMMAND...: for the tests: COMMAND must fail,
# saying PATTERN (extended regex, any case). Prints "ok" with the line that
# says it, or "FAIL" and exits 1.
expect_refused() {
    local what="$1" pattern="$2" out
    shift 2
    if out="$("$@" 2>&1)"; then printf '  FAIL %s: accepted (%s)\n' "$what" "$out"; exit 1; fi
    if ! grep -qiE "$pattern" <<<"$out"; then
        printf '  FAIL %s: refused, but not saying /%s/: %s\n' "$what" "$pattern" "$out"
        exit 1
    fi
    printf '  ok   %s: %s\n' "$what" "$(grep -iE -m1 "$pattern" <<<"$out" | sed 's/^ *//' | cut -c1-170)"
}

# For the TLS checks: the SQL that counts a server's TCP sessions without
# TLS (0 on a TLS-only server; local socket sessions are not counted).
PLAINTEXT_TCP_SESSIONS_SQL="SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                            WHERE a.client_addr IS NOT NULL AND NOT s.ssl"

# PostgreSQL refuses to run as root: as root, run it as the 'postgres' user.
if [ "$(id -u)" = 0 ]; then
    PG_USER=postgres
    as_pg() { runuser -u "$PG_USER" -- "$@"; }
else
    PG_USER="$(id -un)"
    as_pg() { "$@"; }
fi

# A master key file for pg_bss's personal data (bss.master_key_file): 64
# random hex digits, readable by the server's user only. Kept if it exists.
make_master_key() {
    [ -s "$1" ] && return 0
    (umask 077 && openssl rand -hex 32 >"$1")
    [ "$(id -u)" = 0 ] && chown "$PG_USER" "$1"
    return 0
}

# The `postgres` user must be able to reach a folder under the repository.
make_pg_dir() {
    mkdir -p "$1"
    if [ "$(id -u)" = 0 ]; then
        chown "$PG_USER" "$1"
        # Absolute, so that the walk up ends at / (dirname of "." is ".").
        local d
        d="$(cd "$1" && pwd)"
        while [ "$d" != "/" ]; do chmod o+x "$d" 2>/dev/null || true; d="$(dirname "$d")"; done
    fi
}

# build_binaries: this checkout's programs (bss-sidecar, bss-loadgen and the
# chaos suite's), release, all at once. Every script builds them with this
# one command: cargo resolves features per build, so a package built alone
# (-p) compiled its dependencies again with other features, several minutes
# each time (workspace-hack/src/lib.rs).
build_binaries() {
    log "building the binaries (release)"
    (cd "$ROOT" && cargo build -q --release --workspace --exclude pg_bss --bins)
}

# Build pg_bss and install it into the system's PostgreSQL: the library, the
# control file, the install script and every pg_bss--A--B.sql update script.
install_pg_bss() {
    log "building and installing pg_bss (release)"
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(--sudo)
    (cd "$ROOT/pg_bss" && cargo pgrx install --release --pg-config "$PG_CONFIG" "${sudo[@]}" >&2)
}
