#!/usr/bin/env bash
# The certificates of the three-VM layout, one folder per VM, made with
# scripts/certs.sh (one private CA; server certificates whose subject
# alternative names are the VM's name and address from deploy/vm/hosts;
# client certificates whose CN is the role or user they log in as).
#
#   deploy/vm/make-certs.sh OUT [HOSTS]
#
# OUT (made 0700; keep it off the VMs, on the operator's machine):
#   OUT/ca/ca.key   the CA's key: signs everything; never copied to a VM
#   OUT/ca/ca.crt   the CA
#   OUT/vm1/, OUT/vm2/, OUT/vm3/
#                   what goes into /etc/bss/tls on that VM, nothing else
#                   (deploy/README.md, "Certificates", says who reads which)
# HOSTS: deploy/vm/hosts by default (its "# VM1", "# VM2", "# VM3" lines).
#
# Run again, it keeps what exists and is signed by OUT/ca (scripts/certs.sh
# does the same): delete a VM's certificate and key to have them made anew
# (rotation), or OUT/ca for a new CA. deploy/vm/check.sh runs it into a
# scratch folder and checks the result against the configuration files.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
die() { printf 'make-certs.sh: %s\n' "$*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: deploy/vm/make-certs.sh OUT [HOSTS]"
OUT="$1"
HOSTS="${2:-$HERE/hosts}"
[ -r "$HOSTS" ] || die "no $HOSTS"
command -v openssl >/dev/null || die "openssl is missing (apt-get install openssl)"

# vm N: "ADDRESS NAME" of the line tagged "# VMN" in HOSTS.
vm() {
    local line
    line="$(grep -E "^[^#]+#[[:space:]]*VM$1:" "$HOSTS" | head -1)"
    [ -n "$line" ] || die "$HOSTS has no line tagged '# VM$1:'"
    awk '{print $1, $2}' <<<"$line"
}
read -r VM1_ADDR VM1_NAME <<<"$(vm 1)"
read -r VM2_ADDR VM2_NAME <<<"$(vm 2)"
read -r VM3_ADDR VM3_NAME <<<"$(vm 3)"

mkdir -p "$OUT"
chmod 700 "$OUT"
# The CA (scripts/certs.sh makes one, and a server certificate for
# localhost that nothing uses).
"$ROOT/scripts/certs.sh" "$OUT/ca" >/dev/null
rm -f "$OUT/ca/server.crt" "$OUT/ca/server.key" "$OUT/ca/server.pem"

# certs N ARGS...: scripts/certs.sh into OUT/vmN with the CA of OUT/ca, then
# only what the VM needs is left there (no CA key, no haproxy bundle).
certs() {
    local dir="$OUT/vm$1" n="$1"
    shift
    mkdir -p "$dir"
    cp "$OUT/ca/ca.crt" "$OUT/ca/ca.key" "$dir/"
    # The CA's key never stays in a VM's folder, even when certs.sh fails.
    "$ROOT/scripts/certs.sh" "$dir" "$@" >/dev/null || { rm -f "$dir/ca.key"; die "scripts/certs.sh failed for VM$n"; }
    rm -f "$dir/ca.key" "$dir/ca.srl" "$dir/server.pem"
}

# VM1, node1: its server certificate (the sidecar connects by name,
# pg_autoctl's libpq and the monitor's health checks by address,
# postgres_exporter over 127.0.0.1, which scripts/certs.sh always adds);
# pg_autoctl's client certificates (to node2 as pgautofailover_replicator,
# to the monitor as autoctl_node); postgres_exporter's.
certs 1 --server "$VM1_NAME" --server "$VM1_ADDR" \
    --client pgautofailover_replicator --client autoctl_node --client postgres_exporter
# VM2, node2 as node1; and the sidecar's one client certificate, for
# PostgreSQL (CN = its role, bss_sidecar), Kafka and Redis.
certs 2 --server "$VM2_NAME" --server "$VM2_ADDR" \
    --client pgautofailover_replicator --client autoctl_node --client postgres_exporter --client bss_sidecar
# VM3: the server certificate of the monitor's PostgreSQL and of Redis; the
# monitor's health checks' client certificate (pgautofailover_monitor);
# redis_exporter's; admin's (redis-cli, the containers' healthchecks); and
# Kafka's (--peer): each node is a TLS server and, to the other nodes
# (replication, the controller quorum) with ssl.client.auth=required, a TLS
# client with the same certificate. Java refuses a client certificate
# without the clientAuth extended key usage, which server certificates do
# not have: this one has both.
certs 3 --server "$VM3_NAME" --server "$VM3_ADDR" \
    --client pgautofailover_monitor --client redis-exporter --client admin --peer kafka
for n in 1 2 3; do
    printf 'VM%s: %s\n' "$n" "$(cd "$OUT/vm$n" && ls | tr '\n' ' ')"
done
