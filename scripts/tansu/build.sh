#!/usr/bin/env bash
# Builds the Kafka-protocol broker the tests and benchmarks run, tansu
# ${TANSU_VERSION} from crates.io (sources checked against pinned sha256s), with
# this folder's patches to its storage crate applied, and installs it as
# $CARGO_HOME/bin/tansu with a stamp beside it naming the version and the
# patches (tansu_current in lib.sh reads it; setup.sh rebuilds when they
# change). About 13 minutes on two cores. Patches:
# - fetch-by-offset.patch: a fetch from a batch's base offset looks up each
#   batch in turn instead of listing every batch the partition ever held
#   (in tansu 0.6.0 a fetch's CPU grew with the partition, so a broker taking
#   400,000 events a minute spent most of a core listing within minutes);
# - fetch-returns-early.patch: a fetch answers as soon as it has records (and
#   the consumer's fetch.min.bytes), as Kafka does; tansu 0.6.0 always waited
#   out the consumer's fetch.wait.max.ms, which added up to twice that wait
#   to every record's way to a consumer.
# Must never install a binary built from sources it has not verified.
source "$(dirname "$0")/../lib.sh"

declare -A SHA256=(
    [tansu]=4fdd85473ec265140488cf8d55e82b844f5c051c8916fabdd4a71156ac053f6d
    [tansu-storage]=720d2ed8e6010c70f7f06e5af5a7274ebbf6e42fdcd9e46de542b10dc4d2f35d
)
[ "$TANSU_VERSION" = 0.6.0 ] || die "scripts/tansu/build.sh pins tansu 0.6.0's sources and patches, not $TANSU_VERSION"
WORK="$ROOT/target/tansu-build"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

for crate in tansu tansu-storage; do
    file="$WORK/$crate.crate"
    curl -sSfL --retry 3 "https://static.crates.io/crates/$crate/$crate-$TANSU_VERSION.crate" -o "$file"
    echo "${SHA256[$crate]}  $file" | sha256sum --check --quiet - || die "$crate $TANSU_VERSION: checksum mismatch"
    tar -xzf "$file" -C "$WORK"
done
for patch in "$ROOT"/scripts/tansu/*.patch; do
    patch -s -p1 -d "$WORK/tansu-storage-$TANSU_VERSION" <"$patch"
done
# The binary crate builds on its own (not in pg_bss's workspace), with its
# published Cargo.lock; only tansu-storage comes from the patched copy.
printf '\n[workspace]\n\n[patch.crates-io]\ntansu-storage = { path = "../tansu-storage-%s" }\n' \
    "$TANSU_VERSION" >>"$WORK/tansu-$TANSU_VERSION/Cargo.toml"
(cd "$WORK/tansu-$TANSU_VERSION" && cargo build --release --features dynostore >&2)
bin="${CARGO_HOME:-$HOME/.cargo}/bin"
mkdir -p "$bin"
install -m 0755 "$WORK/tansu-$TANSU_VERSION/target/release/tansu" "$bin/tansu"
tansu_stamp >"$bin/tansu.pg_bss"
log "installed $bin/tansu ($(tansu_stamp))"
