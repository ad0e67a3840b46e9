#!/usr/bin/env bash
# The ticket classifier (make intel-classifier; make test-intel evaluates it):
# bss-loadgen's labelled ticket texts (TICKETS_SEED, TICKETS_PER_CLASS of each
# class) embedded with all-MiniLM-L6-v2 and fitted by `bss-intel train` into
# target/intel/classifier.json. The same seed and count give the same file.
# With --evaluate, then scores it on bss-intel/data/tickets_heldout.tsv
# (written apart from the generator) into target/intel/evaluation.{md,json},
# and fails when macro-F1 is below MIN_MACRO_F1 (0.88: the target is 0.9,
# measured 0.907; a floor a little under it, so that a broken model or
# generator fails while a setting's noise does not).
source "$(dirname "$0")/lib.sh"
SEED="${TICKETS_SEED:-26}"
PER_CLASS="${TICKETS_PER_CLASS:-600}"
MIN_MACRO_F1="${MIN_MACRO_F1:-0.88}"
DATA="$ROOT/target/intel"
BIN="$ROOT/target/release"

"$ROOT/scripts/intel_data.sh"
build_binaries
log "training the ticket classifier on $PER_CLASS generated tickets of each class (seed $SEED)"
"$BIN/bss-loadgen" tickets --seed "$SEED" --per-class "$PER_CLASS" |
    "$BIN/bss-intel" --data-dir "$DATA" train \
        --source "bss-loadgen tickets --seed $SEED --per-class $PER_CLASS" --out "$DATA/classifier.json"
if [ "${1:-}" = --evaluate ]; then
    log "scoring it on the held-out tickets"
    "$BIN/bss-intel" --data-dir "$DATA" evaluate --heldout "$ROOT/bss-intel/data/tickets_heldout.tsv" \
        --json "$DATA/evaluation.json" --min-macro-f1 "$MIN_MACRO_F1" | tee "$DATA/evaluation.md"
fi
