# Sourced by chaos/run.sh (after chaos/hosts.sh): the fault injectors of the
# test bed, each with a start and an end, so a scenario is a fault started,
# held, and ended. This kernel has no netem, so loss and partitions are
# nftables rules in each host's own table (inet bss_chaos, input and output
# chains made by chaos/testbed.sh), bandwidth is tbf on the host's veth, and
# latency, stalls and resets go through the bss-faultproxy in front of each
# server. Never touches the machine's own namespace or any `lo`.
#
#   fault_start loss PCT                 drop PCT% of the packets every host receives on its link
#   fault_start partition HOST HOST      drop everything between two hosts, both ways
#   fault_start isolate HOST             drop everything on HOST's link, both ways (its own
#                                        processes still talk to each other over lo)
#   fault_start bandwidth HOST RATE      tbf on HOST's link, e.g. 1mbit
#   fault_start latency SERVICE MS [JITTER_MS]   through SERVICE's proxy (pg, broker, redis)
#   fault_start stall|reset SERVICE      through SERVICE's proxy
#   fault_start kill SERVICE             SIGKILL (broker: a new, empty broker starts at the end)
#   fault_start pause SERVICE            SIGSTOP (SIGCONT at the end)
#   fault_start pg-crash                 PostgreSQL stopped with -m immediate (started at the end)
#   fault_start spool-full               the sidecar's spool filesystem filled up
#   fault_start redis-maxmemory          Redis at maxmemory with noeviction
#   fault_start cpu                      stress-ng on every core
#   fault_start host-kill HOST           the HA bed (BED_HA=1): HOST (pg or pg2) dies, kill -9 of
#                                        every process on it (pg_autoctl and postgres); at the end
#                                        `pg_autoctl run` again, and the node rejoins as a secondary
#   fault_end KIND ...                   undoes it (same arguments)

nft_host() { local h="$1"; shift; bed_exec "$h" nft "$@"; }

fault_start() {
    local kind="$1"; shift
    case "$kind" in
        loss)
            local h
            for h in "${BED_HOSTS[@]}"; do
                nft_host "$h" add rule inet bss_chaos input iifname eth0 numgen random mod 100 "<" "$1" drop
            done ;;
        partition)
            nft_host "$1" add rule inet bss_chaos input ip saddr "$(bed_addr "$2")" drop
            nft_host "$1" add rule inet bss_chaos output ip daddr "$(bed_addr "$2")" drop
            nft_host "$2" add rule inet bss_chaos input ip saddr "$(bed_addr "$1")" drop
            nft_host "$2" add rule inet bss_chaos output ip daddr "$(bed_addr "$1")" drop ;;
        isolate)
            nft_host "$1" add rule inet bss_chaos input iifname eth0 drop
            nft_host "$1" add rule inet bss_chaos output oifname eth0 drop ;;
        bandwidth)
            bed_exec "$1" tc qdisc replace dev eth0 root tbf rate "$2" burst 32kbit latency 400ms ;;
        latency)
            "$BIN/bss-faultproxy" latency --control "$(proxy_sock "$1")" --ms "$2" --jitter-ms "${3:-0}" >/dev/null ;;
        stall|reset)
            "$BIN/bss-faultproxy" "$kind" --control "$(proxy_sock "$1")" >/dev/null ;;
        kill)
            signal KILL "$1" || die "no $1 process to kill" ;;
        pause)
            signal STOP "$1" || die "no $1 process to pause" ;;
        pg-crash)
            pg_ctl_bed -w -m immediate stop >/dev/null ;;
        spool-full)
            # What is left of the spool's filesystem, taken by one file.
            fallocate -l "$(($(stat -f -c '%a * %S' "$BED_DIR/spool")))" "$BED_DIR/spool/filler" 2>/dev/null ||
                dd if=/dev/zero of="$BED_DIR/spool/filler" bs=1M status=none 2>/dev/null || true ;;
        redis-maxmemory)
            local used
            used="$(redis_bed info memory | awk -F: '/^used_memory:/ { print $2 + 0 }')"
            redis_bed config set maxmemory-policy noeviction >/dev/null
            redis_bed config set maxmemory "$((used + 1024 * 1024))" >/dev/null ;;
        host-kill)
            ha_kill_host "$1" ;;
        cpu)
            stress-ng --cpu 0 --cpu-load 100 --timeout 3600s --quiet >>"$BED_DIR/logs/stress-ng.log" 2>&1 &
            echo $! >"$(pid_file stress-ng)"
            disown "$!" ;;
        *) die "unknown fault $kind" ;;
    esac
}

fault_end() {
    local kind="$1"; shift
    case "$kind" in
        loss|partition|isolate)
            local h
            for h in "${BED_HOSTS[@]}"; do
                nft_host "$h" flush chain inet bss_chaos input
                nft_host "$h" flush chain inet bss_chaos output
            done ;;
        bandwidth)
            bed_exec "$1" tc qdisc del dev eth0 root 2>/dev/null || true ;;
        latency|stall|reset)
            "$BIN/bss-faultproxy" clear --control "$(proxy_sock "$1")" >/dev/null ;;
        kill)
            case "$1" in
                broker) start_broker ;;
                redis) start_redis ;;
                sidecar) ;;  # its restart loop brings it back
                *) die "no restart for $1" ;;
            esac ;;
        pause)
            signal CONT "$1" ;;
        host-kill)
            ha_restart "$1" ;;
        pg-crash)
            pg_ctl_bed -w -o "-p $PG_PORT_INNER" -l "$BED_DIR/pg/postgres.log" start >/dev/null ;;
        spool-full)
            rm -f "$BED_DIR/spool/filler" ;;
        redis-maxmemory)
            redis_bed config set maxmemory 0 >/dev/null ;;
        cpu)
            signal TERM stress-ng || true
            pkill -TERM -f "^stress-ng --cpu 0" 2>/dev/null || true ;;
        *) die "unknown fault $kind" ;;
    esac
}
