#!/usr/bin/env bash
# Installs what pg_bss needs on Debian 12, skipping whatever is already there:
# PostgreSQL 15 with its server headers, libclang (pgrx's bindgen), cargo-pgrx
# at the pinned version, and `cargo pgrx init` against Debian's pg_config;
# for the chaos suite's test bed: iproute2, nftables, stress-ng, and
# pg_auto_failover (postgresql-15-auto-failover, pg-auto-failover-cli) for
# its HA bed; pgBackRest for backups and point-in-time restore; openssl
# (a private CA for TLS-only servers) and haproxy (TLS in front of tansu,
# which has none);
# for the sidecar: redis-server, the Kafka-protocol broker tansu, and a Python
# venv with confluent-kafka (the independent Kafka consumer of the tests).
# As root it installs; otherwise it prints the exact commands to run and fails.
# `setup.sh --build` installs only what building and `make check` need
# (compilers, PostgreSQL's headers, cargo-pgrx and its init, rustfmt, clippy).
source "$(dirname "$0")/lib.sh"

BUILD_ONLY=0
[ "${1:-}" = --build ] && BUILD_ONLY=1

# What compiling the workspace needs (pgrx's bindgen, librdkafka's build with TLS).
BUILD_PACKAGES=(postgresql-15 postgresql-server-dev-15 libclang-dev clang pkg-config build-essential zlib1g-dev libssl-dev)
APT_PACKAGES=("${BUILD_PACKAGES[@]}" postgresql-contrib sudo
    redis-server python3 python3-venv fonts-dejavu-core
    prometheus prometheus-alertmanager prometheus-postgres-exporter prometheus-redis-exporter
    docker-compose python3-yaml chromium valgrind
    iproute2 nftables stress-ng postgresql-15-auto-failover pg-auto-failover-cli pgbackrest
    openssl haproxy curl patch)
[ "$BUILD_ONLY" = 1 ] && APT_PACKAGES=("${BUILD_PACKAGES[@]}")

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

# make check's formatter and linter (rustup toolchains may come without them).
for tool in fmt clippy; do
    if ! cargo "$tool" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null || die "cargo $tool not found and no rustup to add it"
        log "rustup component add $([ "$tool" = fmt ] && echo rustfmt || echo clippy)"
        rustup component add "$([ "$tool" = fmt ] && echo rustfmt || echo clippy)" >&2
    fi
done
[ "$BUILD_ONLY" = 1 ] && exit 0

# The tests start their own redis-server and Prometheus on free ports; the
# services Debian starts (6379, 9090, 9093, 9100, 9187, 9121) are not needed.
if [ "$(id -u)" = 0 ] && command -v systemctl >/dev/null; then
    for svc in redis-server prometheus prometheus-alertmanager prometheus-node-exporter \
        prometheus-postgres-exporter prometheus-redis-exporter; do
        systemctl is-active --quiet "$svc" 2>/dev/null && systemctl disable --now "$svc" >/dev/null 2>&1 || true
    done
fi

# Apache Kafka cannot be installed here; tansu speaks the Kafka protocol.
# It is built with scripts/tansu's patches (see build.sh there).
if ! tansu_current; then
    log "building tansu ${TANSU_VERSION}, the Kafka-protocol broker, with scripts/tansu's patches (about 13 minutes, once)"
    "$ROOT/scripts/tansu/build.sh"
fi

# Python with confluent-kafka: reads Kafka in the tests, independently of
# the sidecar's librdkafka.
if ! "$PY_VENV/bin/python" -c "import confluent_kafka as c; assert c.version() == '${CONFLUENT_KAFKA_VERSION}'" 2>/dev/null; then
    log "creating $PY_VENV with confluent-kafka"
    /usr/bin/python3 -m venv "$PY_VENV"
    "$PY_VENV/bin/pip" install -q "confluent-kafka==${CONFLUENT_KAFKA_VERSION}" >&2
fi

# bss-intel's VADER lexicons and its Python reference, vaderSentiment 3.3.2
# from PyPI (checksums pinned and verified).
"$ROOT/scripts/intel_data.sh"
