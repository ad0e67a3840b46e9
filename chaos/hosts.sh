# Sourced by chaos/run.sh (after chaos/testbed.sh): starts and stops the
# servers of the test bed on their hosts. Each server listens on its host's
# 127.0.0.1; the host's own address (10.213.0.x) is served by a
# bss-faultproxy in front of it, so every client reaches it through the
# proxy, where latency, stalls and resets are injected (chaos/fault.sh).
#
#   pg       PostgreSQL 15 with pg_bss   10.213.0.11:5432 -> 127.0.0.1:5433
#   broker   tansu (Kafka protocol)      10.213.0.13:9092 -> 127.0.0.1:19092
#   redis    redis-server                10.213.0.14:6379 -> 127.0.0.1:16379
#   sidecar  bss-sidecar, restarted 1 s after it exits (as systemd's
#            Restart=always would); its spool on a small filesystem of its
#            own; /metrics on 127.0.0.1:9187 of its host
#
# Data, logs, pid files and control sockets live under BED_DIR.
#
# BED_HA=1 (set by chaos/run.sh for the pg-* HA scenarios): PostgreSQL is
# instead a primary with a synchronous standby under pg_auto_failover, no
# proxy in front (clients connect to the nodes themselves):
#
#   monitor  pg_auto_failover's monitor  10.213.0.17:5432
#   pg       node1, first the primary    10.213.0.11:5432
#   pg2      node2, first the standby    10.213.0.16:5432
#
# Each runs `pg_autoctl run` (the supervisor of its postgres) as user
# postgres, its data, configuration, state and sockets under BED_DIR/ha/NAME.
# db_url then lists both nodes with target_session_attrs=read-write, so
# every client (sidecar, bss-loadgen, bss-listappend, the checker, psql_bed)
# finds the primary of the moment, and gives up on a silent one: a
# connection attempt after 2 s (connect_timeout), a connection whose sent
# data stays unacknowledged for 3 s (tcp_user_timeout, in seconds for the
# Rust clients; libpq counts it in milliseconds, so psql_bed leaves it out).
# Without it a client of a primary cut off by a partition waits for TCP's
# retransmissions (minutes) instead of reconnecting to the new primary.
# The monitor's health checks and the nodes' network partition timeout are
# tuned for a failover in seconds (ha.sh; pg_auto_failover's defaults take
# about 30 s).

BED_DIR="${BED_DIR:-$ROOT/target/chaos/bed}"
BIN="$ROOT/target/release"
PG_PORT_INNER=5433
BROKER_PORT_INNER=19092
REDIS_PORT_INNER=16379
SIDECAR_METRICS=9187
SPOOL_SIZE="${SPOOL_SIZE:-256m}"
SLOT=bss_chaos

BED_HA="${BED_HA:-}"
source "$ROOT/chaos/ha.sh"

db_url() {
    if [ -n "$BED_HA" ]; then
        echo "$(ha_url)&connect_timeout=2&tcp_user_timeout=3"
    else
        echo "postgresql://$PG_USER@$(bed_addr pg):5432/bss"
    fi
}
ha_url() { echo "postgresql://$PG_USER@$(bed_addr pg):5432,$(bed_addr pg2):5432/bss?target_session_attrs=read-write"; }
kafka_addr() { echo "$(bed_addr broker):9092"; }
redis_url() { echo "redis://$(bed_addr redis):6379"; }
proxy_sock() { echo "$BED_DIR/run/proxy-$1.sock"; }
pid_file() { echo "$BED_DIR/run/$1.pid"; }

# spawn HOST NAME COMMAND...: COMMAND in the background on HOST, logging to
# logs/NAME.log, its pid in run/NAME.pid.
spawn() {
    local host="$1" name="$2"; shift 2
    # `ip netns exec` execs COMMAND, so $! is COMMAND's own pid (a function
    # here would put a subshell in between, and signals would miss it).
    ip netns exec "$(bed_ns "$host")" "$@" >>"$BED_DIR/logs/$name.log" 2>&1 &
    echo $! >"$(pid_file "$name")"
}
# serve HOST NAME COMMAND...: a server, spawned and left out of the shell's
# jobs (it is never waited for; the bed's removal kills it quietly).
serve() { spawn "$@"; disown "$!"; }
pid_of() { cat "$(pid_file "$1")" 2>/dev/null; }
signal() { local p; p="$(pid_of "$2")" && [ -n "$p" ] && kill "-$1" "$p" 2>/dev/null; }

# listening HOST ADDR PORT: something accepts connections there.
listening() { bed_exec "$1" bash -c "(exec 3<>/dev/tcp/$2/$3) 2>/dev/null"; }

start_proxy() {  # start_proxy HOST SERVICE PORT INNER_PORT
    local host="$1" service="$2" port="$3" inner="$4"
    serve "$host" "proxy-$service" "$BIN/bss-faultproxy" serve --name "$service" \
        --listen "$(bed_addr "$host"):$port" --upstream "127.0.0.1:$inner" --control "$(proxy_sock "$service")"
    wait_until 10 "the $service proxy listening" listening "$host" "$(bed_addr "$host")" "$port"
}

pg_ctl_bed() { bed_exec pg runuser -u "$PG_USER" -- "$PG_BIN/pg_ctl" -D "$BED_DIR/pg/data" "$@"; }

# scripts/devdb.sh's cluster (initdb, wal_level = logical, CREATE EXTENSION
# pg_bss), under BED_DIR/pg, run on the pg host.
start_pg() {
    DEVDB="$BED_DIR/pg" PGPORT="$PG_PORT_INNER" DEVDB_SKIP_INSTALL=1 bed_exec pg "$ROOT/scripts/devdb.sh" start >/dev/null
}

# psql_bed ARGS...: psql on the bss database, from the pg host itself (not
# through the proxy, so a fault on the link never slows the runner's own
# checks); on the HA bed, on whichever node is the primary at the time
# (libpq tries both, read-write only), from the loadgen host.
psql_bed() {
    if [ -n "$BED_HA" ]; then
        bed_exec loadgen runuser -u "$PG_USER" -- "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 \
            "$(ha_url)&connect_timeout=3" "$@"
    else
        bed_exec pg runuser -u "$PG_USER" -- "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT_INNER" -d bss "$@"
    fi
}

start_broker() {
    serve broker broker "$(tansu_bin)" broker --listener-url "tcp://127.0.0.1:$BROKER_PORT_INNER" \
        --advertised-listener-url "tcp://$(kafka_addr)" --storage-engine memory://tansu/ --cluster-id bss-chaos
    wait_until 20 "tansu listening" listening broker 127.0.0.1 "$BROKER_PORT_INNER"
}

start_redis() {
    serve redis redis redis-server --port "$REDIS_PORT_INNER" --bind 127.0.0.1 --save "" --appendonly no
    wait_until 20 "redis listening" listening redis 127.0.0.1 "$REDIS_PORT_INNER"
}
redis_bed() { bed_exec redis redis-cli -p "$REDIS_PORT_INNER" "$@"; }

# sidecar_args: the sidecar's settings (also those of its replay).
sidecar_args() {
    printf '%s\n' --database-url "$(db_url)" --spool-dir "$BED_DIR/spool/data" \
        --slot "$SLOT" --kafka-brokers "$(kafka_addr)" --redis-url "$(redis_url)"
    [ -n "${CHAOS_DETECTORS-$ROOT/bss-detect/detectors.toml}" ] &&
        printf '%s\n' --config "${CHAOS_DETECTORS-$ROOT/bss-detect/detectors.toml}"
    return 0
}
# The sidecar under a restart loop: run/sidecar.pid is the bss-sidecar
# process of the moment, run/sidecar-loop.pid the loop; the loop ends when
# run/sidecar.stop exists. Every start is logged as "start" in
# logs/sidecar-starts.log, so the report counts restarts.
start_sidecar() {
    mkdir -p "$BED_DIR/spool"
    mountpoint -q "$BED_DIR/spool" || mount -t tmpfs -o "size=$SPOOL_SIZE" bss-chaos-spool "$BED_DIR/spool"
    rm -f "$BED_DIR/run/sidecar.stop"
    local args
    mapfile -t args < <(sidecar_args)
    bed_exec sidecar bash -c '
        while [ ! -f "$1/run/sidecar.stop" ]; do
            echo "start $(date +%s.%N)" >>"$1/logs/sidecar-starts.log"
            "${@:2}" &
            echo $! >"$1/run/sidecar.pid"
            wait $! || true
            [ -f "$1/run/sidecar.stop" ] || sleep 1
        done' _ "$BED_DIR" "$BIN/bss-sidecar" "${args[@]}" \
        --metrics-addr "127.0.0.1:$SIDECAR_METRICS" >>"$BED_DIR/logs/sidecar.log" 2>&1 &
    echo $! >"$(pid_file sidecar-loop)"
    disown "$!"
    wait_until 60 "bss-sidecar healthy (log: $BED_DIR/logs/sidecar.log)" sidecar_healthy
}
# stop_sidecar_loop: ends the restart loop and the sidecar in it (SIGTERM:
# it drains), as an operator stops the service.
stop_sidecar_loop() {
    touch "$BED_DIR/run/sidecar.stop"
    kill -TERM "$(cat "$BED_DIR/run/sidecar.pid" 2>/dev/null)" 2>/dev/null || true
    local loop
    loop="$(cat "$(pid_file sidecar-loop)" 2>/dev/null)"
    for _ in $(seq 300); do kill -0 "$loop" 2>/dev/null || return 0; sleep 0.1; done
    die "the sidecar's restart loop did not end within 30 s"
}
# sidecar_metrics: the sidecar's /metrics (OpenMetrics text), headers included.
sidecar_metrics() {
    bed_exec sidecar bash -c "exec 3<>/dev/tcp/127.0.0.1/$SIDECAR_METRICS && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3"
}
sidecar_healthy() {
    bed_exec sidecar bash -c "exec 3<>/dev/tcp/127.0.0.1/$SIDECAR_METRICS && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && head -1 <&3 | grep -q ' 200 '" 2>/dev/null
}

# Everything up: the bed, the servers and their proxies, the sidecar.
hosts_up() {
    bed_down
    if mountpoint -q "$BED_DIR/spool" 2>/dev/null; then umount "$BED_DIR/spool"; fi
    rm -rf "$BED_DIR"
    mkdir -p "$BED_DIR/run" "$BED_DIR/logs"
    bed_up
    if [ -n "$BED_HA" ]; then
        start_pg_ha
    else
        start_pg
        start_proxy pg pg 5432 "$PG_PORT_INNER"
    fi
    start_broker
    start_proxy broker broker 9092 "$BROKER_PORT_INNER"
    start_redis
    start_proxy redis redis 6379 "$REDIS_PORT_INNER"
    start_sidecar
}

# Everything down, whatever state a scenario left it in.
hosts_down() {
    touch "$BED_DIR/run/sidecar.stop" 2>/dev/null || true
    if [ -f "$BED_DIR/pg/data/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$BED_DIR/pg/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    bed_down
    if mountpoint -q "$BED_DIR/spool" 2>/dev/null; then umount -l "$BED_DIR/spool" || true; fi
}
