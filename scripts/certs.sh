#!/usr/bin/env bash
# A private certificate authority and the certificates signed by it, for
# servers and clients that speak TLS only (make test-tls, the local layout).
#
#   scripts/certs.sh DIR [--server NAME]... [--client CN]... [--peer FILE]...
#
# Writes into DIR (created 0700): ca.crt and ca.key (made once, kept if
# present); server.crt/server.key for the names given with --server (DNS
# names or IP addresses; localhost and 127.0.0.1 always), as the subject
# alternative names that verify-full checks; and <CN>.crt/<CN>.key for each
# --client, CN being the role the client logs in as (PostgreSQL's cert
# authentication maps the CN to the role); and <FILE>.crt/<FILE>.key for
# each --peer: the server's names, for a server that is also its peers'
# client with the same certificate (a Kafka broker: serverAuth and
# clientAuth). All X.509 v3 (rustls refuses v1),
# ECDSA P-256, valid 825 days. Keys are 0600. A certificate already in DIR
# and signed by its CA is kept; run with a fresh DIR for new ones.
set -euo pipefail

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: scripts/certs.sh DIR [--server NAME]... [--client CN]... [--peer FILE]..."
DIR="$1"
shift
servers=(localhost 127.0.0.1)
clients=()
peers=()
while [ $# -gt 0 ]; do
    case "$1" in
        --server) servers+=("$2"); shift 2 ;;
        --client) clients+=("$2"); shift 2 ;;
        --peer) peers+=("$2"); shift 2 ;;
        *) die "unknown argument $1" ;;
    esac
done
command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"
mkdir -p "$DIR"
chmod 700 "$DIR"
DAYS=825

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }
signed_by_ca() { [ -f "$1" ] && openssl verify -CAfile "$DIR/ca.crt" "$1" >/dev/null 2>&1; }

if [ ! -f "$DIR/ca.crt" ] || [ ! -f "$DIR/ca.key" ]; then
    key "$DIR/ca.key"
    openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days "$DAYS" -subj "/CN=pg_bss private CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$DIR/ca.crt" 2>/dev/null
fi

# sign NAME CN EXTENSIONS: NAME.key and NAME.crt, signed by the CA.
sign() {
    local name="$1" cn="$2" ext="$3"
    signed_by_ca "$DIR/$name.crt" && return 0
    key "$DIR/$name.key"
    openssl req -new -key "$DIR/$name.key" -subj "/CN=$cn" -out "$DIR/$name.csr" 2>/dev/null
    printf '%s\n' "$ext" >"$DIR/$name.ext"
    openssl x509 -req -in "$DIR/$name.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
        -days "$DAYS" -sha256 -extfile "$DIR/$name.ext" -out "$DIR/$name.crt" 2>/dev/null
    rm -f "$DIR/$name.csr" "$DIR/$name.ext"
}

san=""
for s in "${servers[@]}"; do
    if [[ "$s" =~ ^[0-9.]+$ || "$s" == *:* ]]; then san+="IP:$s,"; else san+="DNS:$s,"; fi
done
sign server "${servers[0]}" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=${san%,}"
# haproxy reads a certificate and its key from one file.
cat "$DIR/server.crt" "$DIR/server.key" >"$DIR/server.pem"
chmod 600 "$DIR/server.pem"

for p in "${peers[@]}"; do
    sign "$p" "${servers[2]:-localhost}" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=${san%,}"
done

for c in "${clients[@]}"; do
    sign "$c" "$c" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
done
printf '%s\n' "$DIR"
