#!/usr/bin/env bash
# The chaos test bed's network: one network namespace per host, each with a
# veth whose other end sits on a bridge in a namespace of its own (the
# switch), and addresses in 10.213.0.0/24 that exist only inside these
# namespaces. Nothing is added to the machine's own namespace, so no packet
# of the bed can leave the machine, and shaping a host's link never slows
# anything else (the host's `lo` is never touched).
#
#   chaos/testbed.sh up          create what is missing (idempotent)
#   chaos/testbed.sh down        kill every process inside the bed, remove it
#   chaos/testbed.sh status      hosts, addresses, processes
#   chaos/testbed.sh exec HOST COMMAND...   run COMMAND on HOST
#   chaos/testbed.sh addr HOST   the address of HOST
#
# Hosts: pg (PostgreSQL with pg_bss), sidecar, broker (tansu), redis,
# loadgen (the load generator and the checkers); pg2 (the standby) and
# monitor (pg_auto_failover's monitor) of the HA bed (chaos/hosts.sh,
# BED_HA=1); and two regions' own pg, sidecar, broker and redis (eu-pg ...
# in 10.213.0.32/28, us-pg ... in 10.213.0.48/28; the witness region's
# wt-pg in 10.213.0.64/28) for the region scenarios
# (chaos/regions.sh), which name a host as their region calls it (RPFX:
# "pg" on a region's turn is its eu-pg or us-pg; loadgen is shared). Idle
# otherwise: always created, a namespace costs nothing.
# Sourced by chaos/run.sh for the same functions. Its tools (iproute2,
# nftables, stress-ng) are Debian packages that scripts/setup.sh installs.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

BED_PREFIX="${BED_PREFIX:-bssc}"
BED_SWITCH="$BED_PREFIX-sw"
BED_NET=10.213.0
BED_HOSTS=(pg sidecar broker redis loadgen pg2 monitor
    eu-pg eu-sidecar eu-broker eu-redis us-pg us-sidecar us-broker us-redis wt-pg)
declare -A BED_ADDR=([pg]=11 [sidecar]=12 [broker]=13 [redis]=14 [loadgen]=15 [pg2]=16 [monitor]=17
    [eu-pg]=33 [eu-sidecar]=34 [eu-broker]=35 [eu-redis]=36
    [us-pg]=49 [us-sidecar]=50 [us-broker]=51 [us-redis]=52 [wt-pg]=65)

# resolve HOST: HOST as the region in effect calls it (RPFX, "eu-" on eu's
# turn: pg is eu-pg), else HOST itself.
resolve() {
    if [ -n "${RPFX:-}" ] && [ -n "${BED_ADDR[$RPFX$1]:-}" ]; then echo "$RPFX$1"; else echo "$1"; fi
}
bed_ns() { echo "$BED_PREFIX-$(resolve "$1")"; }
bed_addr() {
    local h
    h="$(resolve "$1")"
    [ -n "${BED_ADDR[$h]:-}" ] || die "no host $h in the test bed (hosts: ${BED_HOSTS[*]})"
    echo "$BED_NET.${BED_ADDR[$h]}"
}
bed_exec() { local h="$1"; shift; ip netns exec "$(bed_ns "$h")" "$@"; }
ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

# reachable ADDR: from the loadgen host, a TCP connection to a closed port of
# ADDR is refused (so the address answers) rather than left unanswered.
reachable() {
    local answer
    answer="$(bed_exec loadgen timeout 1 bash -c "exec 3<>/dev/tcp/$1/9" 2>&1 || true)"
    [[ "$answer" == *"Connection refused"* ]]
}

bed_up() {
    [ "$(id -u)" = 0 ] || die "the test bed creates network namespaces: run as root"
    ns_exists "$BED_SWITCH" || ip netns add "$BED_SWITCH"
    ip -n "$BED_SWITCH" link show br0 >/dev/null 2>&1 || ip -n "$BED_SWITCH" link add br0 type bridge
    ip -n "$BED_SWITCH" link set br0 up
    ip -n "$BED_SWITCH" link set lo up
    local h ns
    for h in "${BED_HOSTS[@]}"; do
        ns="$(bed_ns "$h")"
        ns_exists "$ns" || ip netns add "$ns"
        ip -n "$ns" link set lo up
        if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
            # Both ends are created in the host's namespace and one moved to
            # the switch, so the machine's namespace never holds either.
            ip -n "$ns" link add eth0 type veth peer name "v-$h" netns "$BED_SWITCH"
            ip -n "$BED_SWITCH" link set "v-$h" master br0 up
            ip -n "$ns" addr add "$(bed_addr "$h")/24" dev eth0
        fi
        ip -n "$ns" link set eth0 up
        # Each host's own nftables table: chaos/fault.sh fills its chains.
        ip netns exec "$ns" nft -f - <<'NFT'
table inet bss_chaos
flush table inet bss_chaos
table inet bss_chaos {
    chain input { type filter hook input priority 0; policy accept; }
    chain output { type filter hook output priority 0; policy accept; }
}
NFT
    done
    # Every host reaches every other before anything starts on them.
    for h in "${BED_HOSTS[@]}"; do
        [ "$h" = loadgen ] && continue
        for _ in $(seq 50); do
            reachable "$(bed_addr "$h")" && continue 2
            sleep 0.1
        done
        die "host loadgen cannot reach $h ($(bed_addr "$h")) in the test bed"
    done
}

# ns_kill NS: SIGKILL to every process inside network namespace NS (after
# a SIGCONT, so a stopped one dies too), waiting up to 5 s until none is
# left. Returns 1 if some process survived. A host's death: chaos/fault.sh
# kills a PostgreSQL node of the HA bed with this.
ns_kill() {
    local ns="$1" pids
    for _ in $(seq 50); do
        pids="$(ip netns pids "$ns" 2>/dev/null || true)"
        [ -z "$pids" ] && return 0
        # Again each round: a supervisor may have forked before it died.
        # shellcheck disable=SC2086
        kill -CONT $pids 2>/dev/null || true
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        sleep 0.1
    done
    return 1
}

# Kills every process inside the bed's namespaces (SIGKILL: a bed being
# removed has nothing to drain into) and deletes them.
bed_down() {
    local ns
    for ns in $(ip netns list | awk '{print $1}' | grep "^$BED_PREFIX-" || true); do
        ns_kill "$ns" || log "processes left in $ns: $(ip netns pids "$ns" 2>/dev/null | xargs)"
        ip netns del "$ns" 2>/dev/null || true
    done
}

bed_status() {
    local h ns
    for h in "${BED_HOSTS[@]}"; do
        ns="$(bed_ns "$h")"
        if ns_exists "$ns"; then
            printf '  %-8s %-12s %s\n' "$h" "$(bed_addr "$h")" \
                "$(ip netns pids "$ns" | xargs -r ps -o comm= -p | sort | uniq -c | awk '{printf "%s(%s) ", $2, $1}')"
        else
            printf '  %-8s absent\n' "$h"
        fi
    done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        up) "$ROOT/scripts/setup.sh"; bed_up; log "test bed up"; bed_status ;;
        down) bed_down; log "test bed removed" ;;
        status) bed_status ;;
        exec) shift; [ $# -ge 2 ] || die "usage: $0 exec HOST COMMAND..."; bed_exec "$@" ;;
        addr) bed_addr "${2:?usage: $0 addr HOST}" ;;
        *) die "usage: $0 up|down|status|exec HOST COMMAND...|addr HOST" ;;
    esac
fi
