#!/usr/bin/env bash
# make check: fails when a build of the workspace without its tests would
# resolve any crate with other features than a build with them. Such a crate
# is compiled twice, and so is everything that depends on it: `make test`'s
# cargo test steps and the scripts' build_binaries would not share their
# artifacts (workspace-hack/src/lib.rs). The fix it names: the crate and its
# features in workspace-hack/Cargo.toml.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
resolved() { # the edges to follow -> "crate version features" per build unit
    cargo tree -q --workspace --exclude pg_bss -e "$1" -f '{p} {f}' --prefix none |
        sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u
}
without="$(resolved normal,build)" || die "cargo tree failed"
with="$(resolved normal,build,dev)" || die "cargo tree failed"
crates_without="$(awk '{ print $1 "@" $2 }' <<<"$without" | sort -u)"
# Crates (at a version) only the tests use are compiled once either way:
# only those both builds compile, resolved differently, count.
differ="$(comm -3 <(echo "$without") <(echo "$with") | sed 's/^\t//' | awk '{ print $1 "@" $2 }' | sort -u |
    comm -12 - <(echo "$crates_without"))"
if [ -n "$differ" ]; then
    for c in $differ; do
        printf '%s\n  without tests: %s\n  with tests:    %s\n' "$c" \
            "$(grep "^${c%@*} ${c#*@} " <<<"$without" | cut -d' ' -f3- | paste -sd'|' | sed 's/|/ | /g')" \
            "$(grep "^${c%@*} ${c#*@} " <<<"$with" | cut -d' ' -f3- | paste -sd'|' | sed 's/|/ | /g')" >&2
    done
    die "the crates above resolve with other features when tests are built (HINT: add each with the features its test build has to workspace-hack/Cargo.toml)"
fi
log "features: the workspace's crates resolve alike with and without its tests"
