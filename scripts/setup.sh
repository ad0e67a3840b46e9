#!/usr/bin/env bash
# Installs what pg_bss needs on Debian 12, skipping whatever is already there:
# PostgreSQL 15 with its server headers, libclang (pgrx's bindgen), cargo-pgrx
# at the pinned version, and `cargo pgrx init` against Debian's pg_config.
# As root it installs; otherwise it prints the exact commands to run and fails.
source "$(dirname "$0")/lib.sh"

APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libclang-dev clang pkg-config build-essential sudo)

missing_apt=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$p")
done
if [ ${#missing_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "installing apt packages: ${missing_apt[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/dev/null
    else
        die "missing packages; run: sudo apt-get update && sudo apt-get install -y ${missing_apt[*]}"
    fi
fi

# Debian's postgresql package starts a cluster on 5432; ours are separate and
# need nothing from it.
command -v cargo >/dev/null || die "cargo not found; install Rust $(grep rust-version "$ROOT/Cargo.toml" | cut -d'"' -f2) or newer (rustup)"

if ! cargo pgrx --version 2>/dev/null | grep -q " ${PGRX_VERSION}\$"; then
    log "installing cargo-pgrx ${PGRX_VERSION} (a few minutes, once)"
    cargo install cargo-pgrx --version "${PGRX_VERSION}" --locked >&2
fi

PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -qs "^pg${PG_MAJOR} = \"${PG_CONFIG}\"" "$PGRX_HOME/config.toml"; then
    log "cargo pgrx init --pg${PG_MAJOR} ${PG_CONFIG}"
    cargo pgrx init --pg${PG_MAJOR} "$PG_CONFIG" >&2
fi
