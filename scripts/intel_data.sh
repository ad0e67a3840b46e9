#!/usr/bin/env bash
# Fetches the data bss-intel's sentiment needs and its Python reference:
# vaderSentiment ${VADER_VERSION}'s wheel from PyPI (pip download, checked
# against a pinned sha256), whose two lexicons go to target/intel/vader/
# (each checked against its own pinned sha256), and the same verified wheel
# installed into the target/py venv, where bss-intel's parity test runs it
# as the reference. Skips whatever is already there and verified.
# Must never leave an unverified lexicon where bss-intel loads it from: the
# files are checked before they are moved into place.
source "$(dirname "$0")/lib.sh"

VADER_VERSION=3.3.2
VADER_WHEEL="vaderSentiment-${VADER_VERSION}-py2.py3-none-any.whl"
VADER_WHEEL_SHA256=3bf1d243b98b1afad575b9f22bc2cb1e212b94ff89ca74f8a23a588d024ea311
declare -A LEXICON_SHA256=(
    [vader_lexicon.txt]=1ec9c6e9ee19aade328f8beb393a6afa71a5bb3acf7d3cc22d4ef568df374bf5
    [emoji_utf8_lexicon.txt]=b8d54223ae1ce22a3e12c1f745316b71678c328eb5f5d3063a842f37cfbe2823
)
INTEL_VADER_DIR="$ROOT/target/intel/vader"

# Succeeds when every lexicon in folder $1 is there with its pinned sha256.
lexicons_verified() {
    local name
    for name in "${!LEXICON_SHA256[@]}"; do
        [ -f "$1/$name" ] || return 1
        echo "${LEXICON_SHA256[$name]}  $1/$name" | sha256sum --check --quiet --status - || return 1
    done
}

# Succeeds when the venv imports vaderSentiment at the pinned version, with
# the pinned lexicons beside its module (so reference and port read the same).
reference_installed() {
    local dir
    dir="$("$PY_VENV/bin/python" - "$VADER_VERSION" 2>/dev/null <<'EOF'
import importlib.metadata, os, sys
import vaderSentiment.vaderSentiment as v
assert importlib.metadata.version("vaderSentiment") == sys.argv[1]
print(os.path.dirname(v.__file__))
EOF
    )" && lexicons_verified "$dir"
}

if lexicons_verified "$INTEL_VADER_DIR" && reference_installed; then
    log "vaderSentiment ${VADER_VERSION}: lexicons in $INTEL_VADER_DIR and the Python reference are present and verified"
    exit 0
fi

if [ ! -x "$PY_VENV/bin/pip" ]; then
    log "creating $PY_VENV"
    python3 -m venv "$PY_VENV"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
log "downloading vaderSentiment ${VADER_VERSION} from PyPI"
"$PY_VENV/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    "vaderSentiment==${VADER_VERSION}" -d "$WORK" >&2
[ -f "$WORK/$VADER_WHEEL" ] || die "pip download did not produce $VADER_WHEEL"
echo "$VADER_WHEEL_SHA256  $WORK/$VADER_WHEEL" | sha256sum --check --quiet - ||
    die "$VADER_WHEEL: checksum mismatch (pinned $VADER_WHEEL_SHA256)"

mkdir -p "$WORK/lexicons"
"$PY_VENV/bin/python" - "$WORK/$VADER_WHEEL" "$WORK/lexicons" "${!LEXICON_SHA256[@]}" <<'EOF'
import os, sys, zipfile
wheel, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        with open(os.path.join(out, name), "wb") as f:
            f.write(z.read("vaderSentiment/" + name))
EOF
for name in "${!LEXICON_SHA256[@]}"; do
    echo "${LEXICON_SHA256[$name]}  $WORK/lexicons/$name" | sha256sum --check --quiet - ||
        die "$name from $VADER_WHEEL: checksum mismatch (pinned ${LEXICON_SHA256[$name]})"
done
mkdir -p "$INTEL_VADER_DIR"
for name in "${!LEXICON_SHA256[@]}"; do
    mv -f "$WORK/lexicons/$name" "$INTEL_VADER_DIR/$name"
done
log "lexicons of vaderSentiment ${VADER_VERSION} in $INTEL_VADER_DIR"

if ! reference_installed; then
    log "installing vaderSentiment ${VADER_VERSION} (the Python reference) into $PY_VENV"
    "$PY_VENV/bin/pip" install -q --disable-pip-version-check --no-deps --no-index --force-reinstall "$WORK/$VADER_WHEEL" >&2
    reference_installed || die "vaderSentiment ${VADER_VERSION} is not importable from $PY_VENV after installing it"
fi
