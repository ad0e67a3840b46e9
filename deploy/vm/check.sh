#!/usr/bin/env bash
# Checks deploy/vm, the three-VM layout, on this machine without a Docker
# engine and without the VMs: the compose files parse with their .env.example
# values and refuse to run without each required secret; the configuration
# files give a reason for each setting, hold no Kafka client settings and have
# the settings the pipeline depends on; PostgreSQL, Redis and systemd read
# their files (when installed here); the sidecar accepts its TOML
# (bss-sidecar --check-config, built here with cargo if cargo is installed)
# and it has the detectors of bss-detect/detectors.toml; image tags
# are the crates' versions; users, addresses and ports agree across the
# files, the pg_auto_failover formation's included (both nodes in the
# sidecar's URL, replication between the nodes in pg_hba.conf, the monitor
# where the nodes' --monitor URL says and on a VM of its own, its tuning as
# scripts/pgaf.sh's). TLS only: no plaintext listener, no client without
# TLS, the CA and its certificate, pg_hba.conf refusing plaintext first;
# make-certs.sh's certificates (made here, into a scratch folder) are the
# files the configuration names, with the names the clients connect to;
# PostgreSQL and Redis run with them for a few seconds and refuse plaintext
# and clients without a certificate. Then it shows that these checks can
# fail, by running them on copies with one deliberate mistake each, which
# they must reject.
#
# Needs python3 (3.11, with python3-yaml), openssl and docker-compose (apt:
# docker-compose) or docker compose v2. Uses, when installed:
# PostgreSQL 15 in /usr/lib/postgresql/15/bin (postgres -C; and a throwaway
# server: initdb in a scratch folder, a unix socket and 127.0.0.1 at a free
# port, for a few seconds, as the postgres user when run as root),
# redis-server and redis-cli (a unix socket and 127.0.0.1 at a free port, for
# a few seconds), systemd-analyze.
# Ends with "check.sh: N passed, M failed"; exits 1 if anything failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
HERE="$PWD"
ROOT="$(cd ../.. && pwd)"
source ../check_lib.sh

python3 -c 'import tomllib, yaml' 2>/dev/null \
    || { echo "python3 3.11 with PyYAML is missing: apt-get install -y python3 python3-yaml" >&2; exit 1; }
if command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
else
    echo "docker-compose is missing: apt-get install -y docker-compose" >&2
    exit 1
fi
PGBIN=/usr/lib/postgresql/15/bin
POSTGRES="$PGBIN/postgres"
HAVE_POSTGRES=0
[ -x "$POSTGRES" ] && HAVE_POSTGRES=1
HAVE_REDIS=0
command -v redis-server >/dev/null && command -v redis-cli >/dev/null && HAVE_REDIS=1
HAVE_SYSTEMD_ANALYZE=0
command -v systemd-analyze >/dev/null && HAVE_SYSTEMD_ANALYZE=1
VMS=(vm1-postgres vm2-app vm3-kafka-redis)
# The sidecar checks its own configuration (--check-config), as at start.
SIDECAR="${CARGO_TARGET_DIR:-$ROOT/target}/release/bss-sidecar"
if command -v cargo >/dev/null; then
    # The same command as scripts/lib.sh's build_binaries (shared artifacts).
    (cd "$ROOT" && cargo build --release --workspace --exclude pg_bss --bins --quiet) \
        || { echo "cargo build --release --workspace --exclude pg_bss --bins failed" >&2; exit 1; }
elif [ ! -x "$SIDECAR" ]; then
    echo "$SIDECAR is missing and cargo is not installed: cargo build --release -p bss-sidecar" >&2
    exit 1
fi

# --- the checks; each takes the repository root to check (the real one or a copy) --

lint() { local root="$1"; shift; python3 "$HERE/lint.py" --root "$root" "$@"; }

# compose ROOT VM ENVFILE: docker-compose config, with nothing from this shell's
# environment, so that only ENVFILE's values are interpolated.
compose() {
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
        "${COMPOSE[@]}" --env-file "$3" -f "$1/deploy/vm/$2/compose.yml" config
}

# The compose file parses with its .env.example, and what it mounts exists.
check_compose() {
    local root="$1" vm="$2"
    compose "$root" "$vm" "$root/deploy/vm/$vm/.env.example" >"$TMP/config-$vm.yml" \
        && echo "docker-compose config: OK" \
        && lint "$root" mounts "$TMP/config-$vm.yml" "deploy/vm/$vm/compose.yml"
}

# Each ${VAR:?} of the compose file stops config, naming VAR, when VAR is
# missing from the env file: no secret is ever silently empty.
check_guards() {
    local root="$1" vm="$2" var n=0
    local vars
    vars="$(grep -o '\${[A-Z_][A-Z0-9_]*:?' "$root/deploy/vm/$vm/compose.yml" | sed 's/^\${//; s/:?$//' | sort -u)"
    [ -n "$vars" ] || { echo "no \${VAR:?} guards in $vm/compose.yml"; return 1; }
    for var in $vars; do
        grep -v "^$var=" "$root/deploy/vm/$vm/.env.example" >"$TMP/env-without-$var"
        if compose "$root" "$vm" "$TMP/env-without-$var" >"$TMP/guard.out" 2>&1; then
            echo "config ran without $var"
            return 1
        elif ! grep -q "$var" "$TMP/guard.out"; then
            sed 's/^/   /' "$TMP/guard.out"
            echo "config failed without $var, but did not name it"
            return 1
        fi
        echo "without $var: $(grep -m1 "$var" "$TMP/guard.out" | sed 's/.*: //' | cut -c1-100)"
        n=$((n + 1))
    done
    echo "$n required variables, each refused when missing"
}

# systemd-analyze verify: the units and the drop-ins over the Debian units they
# change (or a stub when that package is not installed here). A binary that is
# installed only on the VM is the one complaint accepted.
check_units() {
    local root="$1" dir="$TMP/units-$RANDOM" unit base out rc=0
    mkdir -p "$dir"
    cp "$root/deploy/vm/systemd/bss-sidecar.service" "$dir/"
    cp "$root/deploy/vm/systemd/kafka@.service" "$dir/kafka@.service"
    for d in "$root"/deploy/vm/systemd/*.service.d; do
        unit="$(basename "$d" .d)"
        base="/lib/systemd/system/$unit"
        if [ -f "$base" ]; then
            cp "$base" "$dir/$unit"
        else
            printf '[Unit]\nDescription=stub of %s\n[Service]\nExecStart=/bin/true\n' "$unit" >"$dir/$unit"
            echo "$unit is not installed here: its drop-in is verified over a stub"
        fi
        mkdir -p "$dir/$unit.d"
        cp "$d"/*.conf "$dir/$unit.d/"
    done
    local units=("$dir/bss-sidecar.service" "$dir/kafka@1.service")
    for d in "$root"/deploy/vm/systemd/*.service.d; do units+=("$dir/$(basename "$d" .d)"); done
    local accepted='Command /usr/local/bin/bss-sidecar is not executable: No such file or directory'
    out="$(cd "$dir" && systemd-analyze verify "${units[@]}" 2>&1)" || rc=$?
    if [ "$rc" != 0 ] && ! grep -qF "$accepted" <<<"$out"; then
        printf '%s\n' "$out"
        echo "systemd-analyze verify exited $rc"
        return 1
    fi
    out="$(grep -v '^$' <<<"$out" | grep -vF "$accepted" || true)"
    if [ -n "$out" ]; then
        printf '%s\n' "$out"
        return 1
    fi
    [ -x /usr/local/bin/bss-sidecar ] || echo "(/usr/local/bin/bss-sidecar is installed on VM2 only: not found here, accepted)"
    echo "systemd-analyze verify: ${#units[@]} units with their drop-ins, nothing else to say (exit $rc)"
}

# --- running them ---------------------------------------------------------------

# mutated NAME FILE FROM TO: a copy of the repository in which FILE (under
# deploy/vm, or deploy/monitoring/prometheus.yml) has FROM replaced by TO (FROM
# must occur exactly once); prints the copy's root. The copy links to the real
# repository for everything else, so the compose files' relative paths hold.
mutated() {
    local copy="$TMP/$1" e
    mkdir -p "$copy/deploy/monitoring"
    for e in "$ROOT"/* "$ROOT"/.[!.]*; do
        if [ -e "$e" ] && [ "$(basename "$e")" != deploy ]; then ln -s "$e" "$copy/$(basename "$e")"; fi
    done
    for e in "$ROOT"/deploy/*; do
        case "$(basename "$e")" in vm | monitoring) ;; *) ln -s "$e" "$copy/deploy/$(basename "$e")" ;; esac
    done
    for e in "$ROOT"/deploy/monitoring/*; do
        if [ "$(basename "$e")" != prometheus.yml ]; then ln -s "$e" "$copy/deploy/monitoring/$(basename "$e")"; fi
    done
    cp "$ROOT/deploy/monitoring/prometheus.yml" "$copy/deploy/monitoring/"
    cp -r "$HERE" "$copy/deploy/vm"
    # The operators' secrets, if any, stay out of the copy.
    find "$copy/deploy/vm" \( -name .env -o -name users.acl -o -name sidecar.env -o -name kafka.env \) -delete
    replace_once "$copy/$2" "$3" "$4"
    echo "$copy"
}

# The three VMs' certificates as make-certs.sh makes them (scripts/certs.sh,
# one CA), in a scratch folder: what the TLS checks below point the files'
# /etc/bss/tls at. The self-tests' copies use the same.
CERTS="$TMP/certs"
run "make-certs.sh: the three VMs' certificates, into a scratch folder" "$HERE/make-certs.sh" "$CERTS"

for vm in "${VMS[@]}"; do
    run "$vm/compose.yml: docker-compose config with .env.example; its mounts and build context exist" \
        check_compose "$ROOT" "$vm"
    run "$vm/compose.yml: config stops, naming the variable, without each required secret" \
        check_guards "$ROOT" "$vm"
done
run "postgresql.conf, redis.conf, server.properties: every setting gives its reason" lint "$ROOT" reasons
run "server.properties: no producer or consumer settings" lint "$ROOT" client-keys
run "the settings the pipeline depends on (WAL, durability, replication, eviction)" lint "$ROOT" required
run "TLS only: no plaintext listener, client or sslmode; certificates in /etc/bss/tls, mounted where used" lint "$ROOT" tls
run "make-certs.sh's certificates are the files named, each VM's, with the names its clients connect to" \
    lint "$ROOT" certs "$CERTS"
if [ "$HAVE_POSTGRES" = 1 ]; then
    run "postgres -C reads postgresql.conf (names, values, units)" lint "$ROOT" postgres "$POSTGRES"
    run "PostgreSQL runs postgresql.conf with VM1's certificates and each pg_hba.conf: plaintext and clients without their certificate refused" \
        lint "$ROOT" pg-tls "$PGBIN" "$CERTS"
else
    echo "== $POSTGRES is not installed: skipped postgres -C and the TLS run"
fi
if [ "$HAVE_REDIS" = 1 ]; then
    run "redis-server runs redis.conf (TLS only, VM3's certificates) with users.acl.example; each ACL user may do its job" \
        lint "$ROOT" redis "$(command -v redis-server)" "$(command -v redis-cli)" "$CERTS"
else
    echo "== redis-server is not installed (apt-get install -y redis-server): skipped the Redis run"
fi
if [ "$HAVE_SYSTEMD_ANALYZE" = 1 ]; then
    run "systemd-analyze verify: the units and drop-ins of systemd/" check_units "$ROOT"
else
    echo "== systemd-analyze is not installed: skipped the units"
fi
run "bss-sidecar.toml: bss-sidecar --check-config accepts it (VM2's certificates), bss-detect/detectors.toml's detectors" \
    lint "$ROOT" sidecar "$SIDECAR" "$CERTS"
run "images: versions as in Cargo.toml, every workspace member copied" lint "$ROOT" images
run "users, addresses and ports agree across the files" lint "$ROOT" consistency

# The same checks must reject a copy with one mistake each.
copy="$(mutated no-reason deploy/vm/postgres/postgresql.conf \
    '# per sort/hash node; the read and bss.stats queries sort little, 16MB keeps them in memory' '')"
rejects "a postgresql.conf setting without its reason" "work_mem has no reason" lint "$copy" reasons

copy="$(mutated no-reason-redis deploy/vm/redis/redis.conf \
    '# Log to stdout: docker logs, or journald under systemd.
logfile ""' 'logfile ""')"
rejects "a redis.conf directive without its reason" "logfile has no reason" lint "$copy" reasons

copy="$(mutated client-key deploy/vm/kafka/server.properties \
    'num.io.threads=4' 'num.io.threads=4
# The producer waits for every in-sync replica.
acks=all')"
rejects "a producer setting (acks=all) in server.properties" "acks is a producer/consumer setting" \
    lint "$copy" client-keys

copy="$(mutated replication-factor deploy/vm/kafka/server.properties \
    'default.replication.factor=3' 'default.replication.factor=1')"
rejects "default.replication.factor=1" "default.replication.factor = 1, want 3" lint "$copy" required

copy="$(mutated async-commit deploy/vm/postgres/postgresql.conf \
    'synchronous_commit = on ' 'synchronous_commit = off')"
rejects "synchronous_commit = off" "synchronous_commit = off, want on" lint "$copy" required

copy="$(mutated eviction deploy/vm/redis/redis.conf \
    'maxmemory-policy noeviction' 'maxmemory-policy allkeys-lru')"
rejects "Redis evicting keys (allkeys-lru)" "maxmemory-policy = allkeys-lru, want noeviction" lint "$copy" required

copy="$(mutated missing-env deploy/vm/vm2-app/compose.yml \
    '      BSS_LOG: "info"' '      BSS_LOG: "info"
      BSS_NEW_SECRET: "${BSS_NEW_SECRET:?set BSS_NEW_SECRET in .env}"')"
rejects "a compose file needing a variable its .env.example lacks" "BSS_NEW_SECRET" check_compose "$copy" vm2-app

copy="$(mutated missing-mount deploy/vm/vm1-postgres/compose.yml \
    '../postgres/pg_hba.conf:/etc' '../postgres/pg_hba.cnf:/etc')"
rejects "a compose file mounting a file that does not exist" "pg_hba.cnf, which does not exist" \
    check_compose "$copy" vm1-postgres

copy="$(mutated toml-key deploy/vm/sidecar/bss-sidecar.toml 'spool_max_events = ' 'spool_max_event = ')"
rejects "a misspelt key in bss-sidecar.toml" 'unknown field `spool_max_event`' lint "$copy" sidecar "$SIDECAR" "$CERTS"

copy="$(mutated toml-kafka-key deploy/vm/sidecar/bss-sidecar.toml 'delivery_timeout_ms = ' 'delivery_timeout = ')"
rejects "a misspelt key in bss-sidecar.toml's [kafka]" '\[kafka\] settings: unknown field `delivery_timeout`' \
    lint "$copy" sidecar "$SIDECAR" "$CERTS"

copy="$(mutated detector deploy/vm/sidecar/bss-sidecar.toml 'threshold = 4.5' 'threshold = 5.5')"
rejects "a detector that differs from bss-detect/detectors.toml" "(cell-drop) differs" lint "$copy" sidecar "$SIDECAR" "$CERTS"

# The self-tests below tag an image with a version that is not pg_bss's.
PG_BSS_VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pg_bss/Cargo.toml")"
copy="$(mutated image-tag deploy/vm/vm1-postgres/compose.yml "image: pg_bss/postgres:$PG_BSS_VERSION" 'image: pg_bss/postgres:0.0.1')"
rejects "an image tag that is not pg_bss's version" "want pg_bss/postgres:" lint "$copy" images

copy="$(mutated hba-user deploy/vm/postgres/pg_hba.conf \
    'hostssl bss            bss_sidecar                10.0.0.6/32' 'hostssl bss            bss_sidecr                 10.0.0.6/32')"
rejects "a pg_hba.conf line for a role bootstrap.sql does not create" "role bss_sidecr is not created" \
    lint "$copy" consistency

copy="$(mutated kafka-target deploy/monitoring/prometheus.yml '"10.0.0.7:7072", ' '')"
rejects "Prometheus scraping two of the three Kafka nodes" "prometheus.yml kafka targets" lint "$copy" consistency

copy="$(mutated brokers deploy/vm/sidecar/bss-sidecar.toml 'vm3.bss.internal:9092,vm3.bss.internal:9093,vm3.bss.internal:9094' 'vm3.bss.internal:9092,vm3.bss.internal:9093')"
rejects "the sidecar bootstrapping from two of the three brokers" "brokers vs the CLIENT listeners" lint "$copy" consistency

copy="$(mutated default-user deploy/vm/redis/users.acl.example \
    'user default off resetpass resetchannels -@all' 'user default on nopass resetchannels -@all +ping')"
rejects "the Redis default user on without a password (protected-mode refuses VM2)" \
    "the default user is on without a password" lint "$copy" consistency

# The pg_auto_failover formation: the sidecar's URL, pg_hba.conf, the monitor, the tuning.
copy="$(mutated sidecar-one-node deploy/vm/vm2-app/compose.yml '@vm1.bss.internal:5432,vm2.bss.internal:5432/bss?' '@vm1.bss.internal:5432/bss?')"
rejects "the sidecar's URL without node2" "FAIL deploy/vm/vm2-app/compose.yml: the sidecar's hosts (resolved by deploy/vm/hosts) vs node1's and node2's" lint "$copy" consistency

copy="$(mutated sidecar-timeout deploy/vm/sidecar/bss-sidecar.toml '&connect_timeout=2&tcp_user_timeout=3"' '&connect_timeout=2"')"
rejects "the sidecar's URL without tcp_user_timeout" "FAIL deploy/vm/sidecar/bss-sidecar.toml: the sidecar's URL has tcp_user_timeout=None, want 3" lint "$copy" consistency

copy="$(mutated libpq-timeout deploy/vm/vm2-app/compose.yml 'sslkey=/etc/bss/tls/postgres_exporter.key"' \
    'sslkey=/etc/bss/tls/postgres_exporter.key&tcp_user_timeout=3"')"
rejects "tcp_user_timeout=3 in postgres_exporter's libpq URL (3 ms there)" "FAIL deploy/vm/vm2-app/compose.yml: tcp_user_timeout in a libpq client's URL" \
    lint "$copy" consistency

copy="$(mutated hba-replication deploy/vm/postgres/pg_hba.conf \
    'hostssl replication    pgautofailover_replicator  10.0.0.6/32' '# hostssl replication  pgautofailover_replicator  10.0.0.6/32')"
rejects "pg_hba.conf without node2's replication line" "FAIL deploy/vm/postgres/pg_hba.conf: node1 does not let node2 (10.0.0.6) replicate" lint "$copy" consistency

copy="$(mutated hba-monitor deploy/vm/postgres/pg_hba.monitor.conf \
    'hostssl pg_auto_failover  autoctl_node   10.0.0.6/32' '# hostssl pg_auto_failover  autoctl_node   10.0.0.6/32')"
rejects "the monitor's pg_hba.conf without node2's keeper" "FAIL deploy/vm/postgres/pg_hba.monitor.conf: no hostssl line lets autoctl_node into pg_auto_failover from node2" \
    lint "$copy" consistency

copy="$(mutated monitor-port deploy/vm/vm3-kafka-redis/compose.yml 'PGAF_PORT: "5431"' 'PGAF_PORT: "5433"')"
rejects "the monitor on another port than the nodes' --monitor URL" "FAIL deploy/vm/vm1-postgres/compose.yml: node1's PGAF_MONITOR_URL user, host, port, database vs the monitor" \
    lint "$copy" consistency

copy="$(mutated monitor-vm deploy/vm/vm3-kafka-redis/compose.yml 'PGAF_HOSTNAME: "10.0.0.7"' 'PGAF_HOSTNAME: "10.0.0.5"')"
rejects "the monitor on node1's VM" "FAIL the formation's members share a VM" lint "$copy" consistency

copy="$(mutated monitor-tuning deploy/vm/postgres/pgaf-entrypoint.sh 'health_check_timeout = 1000;' 'health_check_timeout = 2000;')"
rejects "the monitor's health checks tuned unlike scripts/pgaf.sh's" "FAIL deploy/vm/postgres/pgaf-entrypoint.sh vs scripts/pgaf.sh: the monitor's tuned pgautofailover.\* settings" \
    lint "$copy" consistency

copy="$(mutated sync-names deploy/vm/postgres/postgresql.conf 'wal_compression = lz4 ' \
    "synchronous_standby_names = '*'           # every standby synchronous
wal_compression = lz4 ")"
rejects "synchronous_standby_names in postgresql.conf (pg_auto_failover's to set)" \
    "FAIL deploy/vm/postgres/postgresql.conf: synchronous_standby_names = \*: pg_auto_failover sets it" lint "$copy" required

copy="$(mutated node2-image deploy/vm/vm2-app/compose.yml "    image: pg_bss/postgres:$PG_BSS_VERSION" '    image: pg_bss/postgres:0.0.1')"
rejects "node2 on another image than node1" "FAIL deploy/vm/vm2-app/compose.yml: services.node2.image is pg_bss/postgres:0.0.1" lint "$copy" images

copy="$(mutated exporter-target deploy/monitoring/prometheus.yml '      - targets: ["10.0.0.6:9188"]
        labels: {vm: vm2}
' '')"
rejects "Prometheus scraping node1's postgres_exporter only" "FAIL prometheus.yml postgres_exporter targets" lint "$copy" consistency

# TLS only: plaintext creeping back, a certificate file that is not there,
# a name a certificate lacks.
copy="$(mutated sslmode-prefer deploy/vm/vm1-postgres/compose.yml '@127.0.0.1:5432/bss?sslmode=verify-full' '@127.0.0.1:5432/bss?sslmode=prefer')"
rejects "postgres_exporter's URL with sslmode=prefer" "sslmode=prefer: TLS only" lint "$copy" tls

copy="$(mutated redis-plain-url deploy/vm/sidecar/sidecar.env.example 'BSS_REDIS_URL=rediss://' 'BSS_REDIS_URL=redis://')"
rejects "a redis:// URL for the sidecar" "a plaintext Redis URL (redis://)" lint "$copy" tls

copy="$(mutated redis-port deploy/vm/redis/redis.conf 'rediss:// URLs).
port 0' 'rediss:// URLs).
port 6379')"
rejects "redis.conf with a plaintext port (port 6379)" "port 6379, want port 0" lint "$copy" tls

copy="$(mutated hba-host deploy/vm/postgres/pg_hba.conf 'hostssl bss            +bss_writer' 'host    bss            +bss_writer')"
rejects "a pg_hba.conf host line (TLS or not)" 'line lets +bss_writer in (bss, 10.0.1.0/24): TLS only, want hostssl' lint "$copy" tls

copy="$(mutated hba-order deploy/vm/postgres/pg_hba.conf 'local   all            postgres                                    peer' \
    'local   all            postgres                                    peer
hostssl bss            postgres_exporter          127.0.0.1/32     scram-sha-256 clientcert=verify-full')"
rejects "a pg_hba.conf line letting a client in above the hostnossl rejections" \
    'postgres_exporter 127.0.0.1/32` lets clients in before `hostnossl all all 0.0.0.0/0 reject`' lint "$copy" tls

copy="$(mutated hba-no-reject deploy/vm/postgres/pg_hba.monitor.conf \
    'hostnossl replication     all            0.0.0.0/0        reject' '')"
rejects "the monitor's pg_hba.conf without its hostnossl replication rejection" \
    'no `hostnossl replication all 0.0.0.0/0 reject`' lint "$copy" tls

copy="$(mutated hba-no-clientcert deploy/vm/postgres/pg_hba.conf '10.0.1.0/24      scram-sha-256 clientcert=verify-full' '10.0.1.0/24      scram-sha-256')"
rejects "a hostssl line without clientcert=verify-full (the writers')" \
    "want scram-sha-256 clientcert=verify-full" lint "$copy" tls

copy="$(mutated kafka-plaintext deploy/vm/kafka/server.properties 'REPLICATION:SSL' 'REPLICATION:PLAINTEXT')"
rejects "a Kafka listener mapped to PLAINTEXT (replication, on loopback)" "listener REPLICATION is PLAINTEXT, want SSL" lint "$copy" tls

copy="$(mutated kafka-client-auth deploy/vm/kafka/server.properties 'ssl.client.auth=required' 'ssl.client.auth=requested')"
rejects "Kafka not requiring client certificates" "ssl.client.auth=requested, want required" lint "$copy" tls

copy="$(mutated sidecar-kafka-plain deploy/vm/sidecar/bss-sidecar.toml '"security.protocol" = "SSL"' '"security.protocol" = "PLAINTEXT"')"
rejects "the sidecar's Kafka client in PLAINTEXT" "security.protocol = PLAINTEXT, want SSL" lint "$copy" tls

copy="$(mutated tls-mount deploy/vm/vm3-kafka-redis/compose.yml "key owned by uid 59000 (the image's user), mode 0600.
      - /etc/bss/tls:/etc/bss/tls:ro" "key owned by uid 59000 (the image's user), mode 0600.
      - /etc/bss/tls:/etc/bss/tls")"
rejects "redis_exporter's certificates mounted writable" "redis-exporter uses /etc/bss/tls but does not mount it" lint "$copy" tls

copy="$(mutated autoctl-no-ssl deploy/vm/postgres/pgaf-entrypoint.sh '--skip-pg-hba "${PGAF_SSL[@]}"
    pg_stop' '--skip-pg-hba --no-ssl
    pg_stop')"
rejects "pg_autoctl create monitor --no-ssl" 'pg_autoctl create monitor without' lint "$copy" tls

copy="$(mutated monitor-sslmode deploy/vm/vm3-kafka-redis/compose.yml 'PGSSLMODE: verify-full' 'PGSSLMODE: prefer')"
rejects "the monitor's health checks without verify-full" "the monitor's PGSSLMODE = prefer" lint "$copy" tls

copy="$(mutated cert-missing deploy/vm/sidecar/bss-sidecar.toml '"ssl.key.location" = "/etc/bss/tls/bss_sidecar.key"' \
    '"ssl.key.location" = "/etc/bss/tls/sidecar.key"')"
rejects "the sidecar naming a key file VM2 does not get" "names /etc/bss/tls/sidecar.key, which is not among VM2's certificates" \
    lint "$copy" certs "$CERTS"

copy="$(mutated cert-san deploy/vm/vm1-postgres/compose.yml 'PGAF_HOSTNAME: "10.0.0.5"' 'PGAF_HOSTNAME: "10.0.0.9"')"
rejects "node1 registered at an address its certificate lacks" "VM1's server.crt does not carry 10.0.0.9" lint "$copy" certs "$CERTS"

copy="$(mutated cert-kafka-san deploy/vm/kafka/node-2.env 'CLIENT://vm3.bss.internal:9093' 'CLIENT://kafka.bss.internal:9093')"
rejects "a Kafka node advertising a name its certificate lacks" "VM3's kafka.crt does not carry kafka.bss.internal" lint "$copy" certs "$CERTS"

copy="$(mutated cert-cn deploy/vm/vm1-postgres/compose.yml 'sslcert=/etc/bss/tls/autoctl_node.crt' 'sslcert=/etc/bss/tls/postgres_exporter.crt')"
rejects "the keeper's monitor URL with another role's certificate" "has CN postgres_exporter, but" lint "$copy" certs "$CERTS"

copy="$(mutated kafka-advertised deploy/vm/kafka/node-2.env 'CLIENT://vm3.bss.internal:9093' 'CLIENT://vm2.bss.internal:9093')"
rejects "a Kafka node advertising a name that resolves to another VM" \
    "advertised CLIENT://vm2.bss.internal:9093 (10.0.0.6:9093 as deploy/vm/hosts resolves it) is not a listener" lint "$copy" consistency

copy="$(mutated redis-url-port deploy/vm/sidecar/bss-sidecar.toml 'vm3.bss.internal:6380/0"' 'vm3.bss.internal:6379/0"')"
rejects "the sidecar's Redis URL on another port than tls-port" "vm3.bss.internal:6379 is not where redis.conf listens" lint "$copy" consistency

copy="$(mutated hosts-address deploy/vm/hosts '10.0.0.6      vm2.bss.internal' '10.0.0.16     vm2.bss.internal')"
rejects "deploy/vm/hosts giving VM2 another address than the compose files" "deploy/vm/hosts: VM2's address vs" lint "$copy" consistency

copy="$(mutated sidecar-tls-key deploy/vm/sidecar/bss-sidecar.toml 'tls_key_file = "/etc/bss/tls/bss_sidecar.key"' '# tls_key_file')"
rejects "the sidecar's Redis client certificate without its key" "tls_cert_file and tls_key_file go together" \
    lint "$copy" sidecar "$SIDECAR" "$CERTS"

if [ "$HAVE_POSTGRES" = 1 ]; then
    copy="$(mutated pg-value deploy/vm/postgres/postgresql.conf 'wal_compression = lz4 ' 'wal_compression = lz5 ')"
    rejects "an invalid postgresql.conf value (wal_compression = lz5)" "postgres -C wal_level failed" \
        lint "$copy" postgres "$POSTGRES"
    copy="$(mutated pg-no-clientcert deploy/vm/postgres/pg_hba.conf '127.0.0.1/32     scram-sha-256 clientcert=verify-full' \
        '127.0.0.1/32     scram-sha-256')"
    rejects "postgres_exporter's pg_hba.conf line without clientcert: the running server lets it in without a certificate" \
        "TLS without a client certificate: let in" lint "$copy" pg-tls "$PGBIN" "$CERTS"
    copy="$(mutated pg-key deploy/vm/postgres/postgresql.conf "ssl_key_file = '/etc/bss/tls/server.key'" "ssl_key_file = '/etc/bss/tls/server.pem'")"
    rejects "postgresql.conf naming a key file that is not there" "PostgreSQL did not start" lint "$copy" pg-tls "$PGBIN" "$CERTS"
fi
if [ "$HAVE_REDIS" = 1 ]; then
    copy="$(mutated acl-expireat deploy/vm/redis/users.acl.example ' +hincrby +expireat' ' +hincrby')"
    rejects "a Redis ACL without a command the sink's library runs (EXPIREAT)" \
        "bss-sidecar may not run EXPIREAT" lint "$copy" redis "$(command -v redis-server)" "$(command -v redis-cli)" "$CERTS"
    copy="$(mutated redis-auth-clients deploy/vm/redis/redis.conf 'tls-auth-clients yes' 'tls-auth-clients no')"
    rejects "Redis taking TLS clients without a certificate" "a client without a certificate got" \
        lint "$copy" redis "$(command -v redis-server)" "$(command -v redis-cli)" "$CERTS"
    copy="$(mutated redis-directive deploy/vm/redis/redis.conf 'latency-monitor-threshold 100' 'latency-monitor-treshold 100')"
    rejects "a misspelt redis.conf directive" "redis-server did not start" \
        lint "$copy" redis "$(command -v redis-server)" "$(command -v redis-cli)" "$CERTS"
fi
if [ "$HAVE_SYSTEMD_ANALYZE" = 1 ]; then
    copy="$(mutated unit-key deploy/vm/systemd/bss-sidecar.service 'TimeoutStopSec=60s' 'TimeoutStopSecs=60s')"
    rejects "a misspelt key in bss-sidecar.service" "Unknown key" check_units "$copy"
fi

finish
