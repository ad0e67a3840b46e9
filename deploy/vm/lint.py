#!/usr/bin/env python3
"""The lints of deploy/vm/check.sh, one subcommand each, run on a repository
root (the real one, or check.sh's copy with one deliberate mistake).

Each prints what it checked and exits 1, naming the file, line and setting,
when something is wrong. Needs Python 3.11 (tomllib) and PyYAML (python3-yaml).
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib

import yaml

VM = "deploy/vm"
PG_CONF = f"{VM}/postgres/postgresql.conf"
PG_HBA = f"{VM}/postgres/pg_hba.conf"
PG_HBA_MONITOR = f"{VM}/postgres/pg_hba.monitor.conf"
BOOTSTRAP = f"{VM}/postgres/bootstrap.sql"
# The extension's group roles (CREATE EXTENSION makes them, NOLOGIN).
PRIVILEGES_SQL = "pg_bss/sql/privileges.sql"
PGAF_ENTRYPOINT = f"{VM}/postgres/pgaf-entrypoint.sh"
PGAF_SH = "scripts/pgaf.sh"
REDIS_CONF = f"{VM}/redis/redis.conf"
REDIS_ACL = f"{VM}/redis/users.acl.example"
KAFKA_PROPS = f"{VM}/kafka/server.properties"
SIDECAR_TOML = f"{VM}/sidecar/bss-sidecar.toml"
SIDECAR_ENV = f"{VM}/sidecar/sidecar.env.example"
COMPOSE = {name: f"{VM}/{name}/compose.yml" for name in ("vm1-postgres", "vm2-app", "vm3-kafka-redis")}
# The VMs' names and addresses (/etc/hosts lines tagged "# VM1:" ...).
HOSTS = f"{VM}/hosts"
# Where each VM keeps its certificates (deploy/vm/make-certs.sh's OUT/vmN),
# mounted read-only into the containers at the same path.
TLS_DIR = "/etc/bss/tls"
VM_OF = {"vm1-postgres": "vm1", "vm2-app": "vm2", "vm3-kafka-redis": "vm3"}
# The files that name each VM's certificates: every TLS_DIR path in them
# must be one make-certs.sh puts into that VM's folder.
TLS_SOURCES = {
    "vm1": [COMPOSE["vm1-postgres"], PG_CONF, PGAF_ENTRYPOINT, f"{VM}/systemd/prometheus-postgres-exporter.service.d/bss.conf"],
    "vm2": [COMPOSE["vm2-app"], PG_CONF, PGAF_ENTRYPOINT, SIDECAR_TOML, SIDECAR_ENV,
            f"{VM}/systemd/prometheus-postgres-exporter.service.d/bss.conf"],
    "vm3": [COMPOSE["vm3-kafka-redis"], PGAF_ENTRYPOINT, REDIS_CONF, KAFKA_PROPS, f"{VM}/kafka/kafka-node.sh",
            f"{VM}/systemd/kafka@.service", f"{VM}/systemd/prometheus-redis-exporter.service.d/bss.conf"],
}
# Protocol versions a TLS setting may allow.
TLS_VERSIONS = {"TLSv1.2", "TLSv1.3"}

# Producer and consumer settings: a broker ignores them (with a warning in its
# log at most), so in server.properties they only mislead the reader.
CLIENT_KEYS = {
    "acks", "request.required.acks", "enable.idempotence", "linger.ms", "queue.buffering.max.ms",
    "batch.size", "buffer.memory", "max.block.ms", "retries", "message.send.max.retries",
    "delivery.timeout.ms", "max.in.flight.requests.per.connection", "transactional.id",
    "partitioner.class", "key.serializer", "value.serializer", "key.deserializer",
    "value.deserializer", "bootstrap.servers", "group.id", "group.instance.id",
    "auto.offset.reset", "enable.auto.commit", "auto.commit.interval.ms", "session.timeout.ms",
    "heartbeat.interval.ms", "max.poll.records", "max.poll.interval.ms", "isolation.level",
    "fetch.min.bytes", "fetch.max.wait.ms",
}

# The pg_auto_failover formation: each member's service in its compose file.
PGAF_MEMBERS = {"node1": ("vm1-postgres", "node1"), "node2": ("vm2-app", "node2"), "monitor": ("vm3-kafka-redis", "monitor")}
# Roles pg_autoctl makes (not bootstrap.sql): on the nodes, and on the monitor.
PGAF_NODE_ROLES = {"pgautofailover_replicator": "LOGIN SUPERUSER REPLICATION", "pgautofailover_monitor": "LOGIN"}
PGAF_MONITOR_ROLES = {"postgres": "LOGIN", "autoctl_node": "LOGIN"}
# Set per node by pg_auto_failover (pg_autoctl's -h and -p, the standby's
# recovery settings, the monitor's ALTER SYSTEM): in postgresql.conf, which
# both nodes share, they would be wrong on one node or overridden unseen.
PGAF_MANAGED = ("synchronous_standby_names", "listen_addresses", "port", "primary_conninfo", "primary_slot_name")

problems = []


def bad(msg):
    problems.append(msg)
    print("FAIL " + msg)


class Checks:
    """check(ok, msg): counts a check and reports it through bad() when it fails."""

    def __init__(self):
        self.n = 0

    def __call__(self, ok, msg):
        self.n += 1
        if not ok:
            bad(msg)


def finish(summary):
    if problems:
        print(f"{len(problems)} problem(s)")
        sys.exit(1)
    print("OK: " + summary)


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        return f.read()


def lines(root, rel):
    return read(root, rel).splitlines()


def vm_hosts(root):
    """{'vm1': (address, name), ...} from deploy/vm/hosts."""
    out = {}
    for n, line in enumerate(lines(root, HOSTS), 1):
        m = re.match(r"^\s*([\d.]+)\s+([\w.-]+)\s*#\s*VM(\d):", line)
        if m:
            out[f"vm{m.group(3)}"] = (m.group(1), m.group(2))
        elif line.strip() and not line.lstrip().startswith("#"):
            bad(f"{HOSTS}:{n}: cannot parse (want 'ADDRESS NAME  # VMn: ...'): {line.strip()}")
    return out


def resolve(root, host):
    """The address deploy/vm/hosts gives a name (an address stays itself)."""
    return {name: addr for addr, name in vm_hosts(root).values()}.get(host, host)


def is_address(host):
    return bool(re.fullmatch(r"[\d.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*", host))


def url_params(url):
    url = re.sub(r"\$\{[^}]*\}", "VAR", url)
    query = url.split("?", 1)[1] if "?" in url else ""
    return dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)


def hba_entries(root, rel):
    """(line number, type, databases, users, address, method, options) of each line of a pg_hba.conf."""
    out = []
    for i, line in enumerate(lines(root, rel), 1):
        f = line.split("#")[0].split()
        if not f:
            continue
        if f[0] == "local" and len(f) >= 4:
            out.append((i, f[0], f[1], f[2], None, f[3], f[4:]))
        elif f[0].startswith("host") and len(f) >= 5:
            out.append((i, f[0], f[1], f[2], f[3], f[4], f[5:]))
        else:
            out.append((i, None, None, None, None, None, f))
    return out


# --- the three configuration files ----------------------------------------------


def pg_settings(root):
    """(line number, name, value, reason) of each setting of postgresql.conf."""
    out = []
    pat = re.compile(r"""^\s*([A-Za-z_][\w.]*)\s*=?\s*('(?:[^'\\]|\\.|'')*'|[^#\s]+)\s*(?:#\s*(.*))?$""")
    for n, line in enumerate(lines(root, PG_CONF), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = pat.match(line)
        if not m:
            bad(f"{PG_CONF}:{n}: cannot parse: {line.strip()}")
            continue
        value = m.group(2)
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'")
        out.append((n, m.group(1).lower(), value, (m.group(3) or "").strip()))
    return out


def directives(root, rel, sep):
    """(line number, key, value, the line above) of each directive of a file
    whose comments are whole lines: redis.conf (sep None: whitespace) or a
    Java properties file (sep '=')."""
    text = lines(root, rel)
    out = []
    for i, line in enumerate(text):
        s = line.strip()
        if not s or s.startswith("#") or s.startswith("!"):
            continue
        if sep is None:
            key, _, value = s.partition(" ")
        else:
            key, _, value = s.partition(sep)
        above = text[i - 1].strip() if i > 0 else ""
        out.append((i + 1, key.strip().lower() if sep is None else key.strip(), value.strip(), above))
    return out


def is_reason(comment_line):
    """A comment line that gives a reason, not a blank '#' or a '# --- section ---' header."""
    if not comment_line.startswith(("#", "!")):
        return False
    text = comment_line.lstrip("#!").strip()
    return bool(text) and not text.startswith("---")


def duplicates(rel, entries):
    seen = {}
    for n, key, *_ in entries:
        if key in seen:
            bad(f"{rel}:{n}: {key} is set again (first on line {seen[key]}); the last one wins, unseen")
        seen.setdefault(key, n)


def cmd_reasons(root):
    pg = pg_settings(root)
    for n, name, _, reason in pg:
        if not reason:
            bad(f"{PG_CONF}:{n}: {name} has no reason (an end-of-line # comment)")
    duplicates(PG_CONF, pg)

    redis = directives(root, REDIS_CONF, None)
    for n, key, value, above in redis:
        if not is_reason(above):
            bad(f"{REDIS_CONF}:{n}: {key} has no reason on the comment line above it")
        if re.search(r"(^|\s)#", value):
            bad(f"{REDIS_CONF}:{n}: {key}: redis.conf has no end-of-line comments; '#' would be read as an argument")
    duplicates(REDIS_CONF, redis)

    kafka = directives(root, KAFKA_PROPS, "=")
    for n, key, value, above in kafka:
        if not is_reason(above):
            bad(f"{KAFKA_PROPS}:{n}: {key} has no comment line directly above it")
        if re.search(r"\s#", value):
            bad(f"{KAFKA_PROPS}:{n}: {key}: properties files have no end-of-line comments; '#...' becomes part of the value")
    duplicates(KAFKA_PROPS, kafka)
    finish(f"{len(pg)} PostgreSQL, {len(redis)} Redis and {len(kafka)} Kafka settings, each with its reason")


def cmd_client_keys(root):
    kafka = directives(root, KAFKA_PROPS, "=")
    for n, key, _, _ in kafka:
        if key in CLIENT_KEYS or key.startswith(("producer.", "consumer.")):
            bad(f"{KAFKA_PROPS}:{n}: {key} is a producer/consumer setting, not a broker one: "
                f"it belongs in the client's configuration (the sidecar's: {SIDECAR_TOML} [kafka.properties])")
    finish(f"{len(kafka)} broker settings, none of them a client's ({len(CLIENT_KEYS)} client keys refused)")


def cmd_required(root):
    pg = {name: value for _, name, value, _ in pg_settings(root)}
    redis = {key: value for _, key, value, _ in directives(root, REDIS_CONF, None)}
    kafka = {key: value for _, key, value, _ in directives(root, KAFKA_PROPS, "=")}
    checked = 0

    def want(rel, have, key, ok, expect, why):
        nonlocal checked
        checked += 1
        value = have.get(key)
        if value is None or not ok(value):
            bad(f"{rel}: {key} = {value if value is not None else '(not set)'}, want {expect}: {why}")

    want(PG_CONF, pg, "wal_level", lambda v: v == "logical", "logical", "the sidecar reads the events by logical decoding")
    want(PG_CONF, pg, "max_slot_wal_keep_size", lambda v: v not in ("-1", "0"), "a size, not -1",
         "without it a dead sidecar's slot keeps WAL until VM1's disk is full")
    want(PG_CONF, pg, "synchronous_commit", lambda v: v == "on", "on",
         "an acknowledged append must be on disk before anything forwards it")
    want(KAFKA_PROPS, kafka, "default.replication.factor", lambda v: v == "3", "3", "one copy per broker")
    want(KAFKA_PROPS, kafka, "min.insync.replicas", lambda v: v == "2", "2",
         "with acks=all a write needs two copies: one broker may be down")
    want(KAFKA_PROPS, kafka, "unclean.leader.election.enable", lambda v: v == "false", "false",
         "an out-of-sync leader drops acknowledged events")
    want(KAFKA_PROPS, kafka, "auto.create.topics.enable", lambda v: v == "false", "false",
         "topics are created by the sidecar with their replication factor, not by a typo")
    want(REDIS_CONF, redis, "appendonly", lambda v: v == "yes", "yes",
         "the sidecar moves its Redis cursor once Redis answers; what Redis then loses is never resent")
    want(REDIS_CONF, redis, "appendfsync", lambda v: v == "always", "always",
         "everysec may lose the last second of acknowledged writes on a power loss")
    want(REDIS_CONF, redis, "maxmemory-policy", lambda v: v == "noeviction", "noeviction",
         "an evicted stream entry or aggregate is lost for good")
    want(REDIS_CONF, redis, "maxmemory", lambda v: v not in ("0", "0b"), "a limit",
         "noeviction only refuses writes at a limit; without one the kernel kills a process of VM3")

    for key in PGAF_MANAGED:
        checked += 1
        if key in pg:
            bad(f"{PG_CONF}: {key} = {pg[key]}: pg_auto_failover sets it on each node (synchronous_standby_names "
                "follows the nodes' states; listen_addresses and port are pg_autoctl's --listen and --pgport); "
                "this file, which both nodes share, must not")

    # The sidecar creates its topics: the same replication factor and min ISR.
    toml = tomllib.loads(read(root, SIDECAR_TOML))
    k = toml.get("kafka", {})
    checked += 1
    if str(k.get("replication_factor")) != kafka.get("default.replication.factor"):
        bad(f"{SIDECAR_TOML}: [kafka] replication_factor = {k.get('replication_factor')}, but the brokers' "
            f"default.replication.factor = {kafka.get('default.replication.factor')}")
    checked += 1
    if k.get("topic_config", {}).get("min.insync.replicas") != kafka.get("min.insync.replicas"):
        bad(f"{SIDECAR_TOML}: [kafka.topic_config] min.insync.replicas = "
            f"{k.get('topic_config', {}).get('min.insync.replicas')}, but the brokers' is {kafka.get('min.insync.replicas')}")
    finish(f"{checked} required settings have their values")


# --- PostgreSQL and Redis themselves, when installed --------------------------------


def cmd_postgres(root, postgres):
    """postgres -C reads postgresql.conf as the server would (names, values,
    units) without starting; as root too, since -C comes first. It loads no
    certificate: the pg-tls check starts a server with them."""
    conf = os.path.join(root, PG_CONF)
    want = {"wal_level": "logical", "synchronous_commit": "on", "max_slot_wal_keep_size": None,
            "wal_compression": None, "shared_buffers": None, "bss.region": None,
            "ssl": "on", "ssl_min_protocol_version": None, "ssl_cert_file": None}
    with tempfile.TemporaryDirectory() as empty:
        for name, expect in want.items():
            r = subprocess.run([postgres, "-C", name, "-D", empty, "-c", f"config_file={conf}"],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                for line in r.stderr.splitlines():
                    if "skipping missing configuration file" not in line:
                        print("   " + line)
                bad(f"{PG_CONF}: postgres -C {name} failed: the server would not start with this file")
                break
            value = r.stdout.strip()
            print(f"   {name} = {value}")
            if expect is not None and value != expect:
                bad(f"{PG_CONF}: the server reads {name} = {value}, want {expect}")
            if name == "max_slot_wal_keep_size" and value == "-1":
                bad(f"{PG_CONF}: the server reads max_slot_wal_keep_size = -1 (unlimited)")
    finish(f"{postgres} reads {PG_CONF}")


def cmd_pg_tls(root, bindir, certs):
    """A throwaway PostgreSQL (initdb in a scratch folder), started for a few
    seconds with postgresql.conf (its memory settings made small, VM1's
    certificates of make-certs.sh's scratch output in place of TLS_DIR) and
    each pg_hba.conf in turn, on a unix socket and 127.0.0.1 at a free port.
    The server must start with each (a pg_hba.conf line it cannot read stops
    it). Then, over TCP as postgres_exporter (the line for 127.0.0.1):
    plaintext is refused; TLS without a client certificate, with another
    role's, or with a wrong password is refused; TLS with its own
    certificate and password gets in, encrypted."""
    import pwd
    import shutil
    as_user = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            bad("running as root, and there is no postgres user to run the server as")
            return finish("")
        as_user = ["runuser", "-u", "postgres", "--"]
    tmp = tempfile.mkdtemp(prefix="pg-tls-")
    data, tls, log = os.path.join(tmp, "data"), os.path.join(tmp, "tls"), os.path.join(tmp, "postgres.log")
    port = str(free_port())
    started = False

    def run(*cmd, env=None, timeout=120):
        r = subprocess.run(as_user + list(cmd), capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})})
        return r.returncode, (r.stdout + r.stderr).strip()

    def fatal(out):
        m = re.search(r"FATAL:\s+(.*)", out)
        return (m.group(1) if m else out.splitlines()[-1] if out else "")[:110]

    def show_log():
        if os.path.exists(log):
            with open(log, encoding="utf-8", errors="replace") as f:
                for line in f.read().splitlines()[-12:]:
                    print("   " + line)

    try:
        shutil.copytree(os.path.join(certs, "vm1"), tls)
        conf = os.path.join(tmp, "postgresql.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(read(root, PG_CONF).replace(TLS_DIR + "/", tls + "/"))
        hbas = {}
        for rel in (PG_HBA, PG_HBA_MONITOR):
            hbas[rel] = os.path.join(tmp, os.path.basename(rel))
            shutil.copy(os.path.join(root, rel), hbas[rel])
        if owner:
            for d, dirs, files in os.walk(tmp):
                for x in [d] + [os.path.join(d, y) for y in dirs + files]:
                    os.chown(x, owner.pw_uid, owner.pw_gid)
        rc, out = run(os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync")
        if rc != 0:
            print("   " + out[-800:])
            bad("initdb failed")
            return finish("")
        # The VM's memory and connection sizes would not fit here; everything else is the file's.
        small = ("-c shared_buffers=32MB -c effective_cache_size=128MB -c maintenance_work_mem=64MB "
                 "-c max_connections=20 -c max_wal_senders=4 -c max_replication_slots=4 -c max_wal_size=1GB "
                 "-c min_wal_size=80MB")
        for rel, hba in hbas.items():
            opts = (f"-c config_file={conf} -c hba_file={hba} -c listen_addresses=127.0.0.1 -c port={port} "
                    f"-c unix_socket_directories={tmp} {small}")
            rc, out = run(os.path.join(bindir, "pg_ctl"), "start", "-D", data, "-w", "-t", "60", "-o", opts, "-l", log)
            if rc != 0:
                show_log()
                bad(f"PostgreSQL did not start with {PG_CONF} (ssl on, VM1's certificates) and {rel}")
                continue
            started = True
            sql = lambda *c: run(os.path.join(bindir, "psql"), "-X", "-qtA", "-h", tmp, "-p", port, "-d", "postgres",
                                 *[x for q in c for x in ("-c", q)])
            rc, out = sql("SELECT line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL")
            if rc != 0 or out:
                bad(f"{rel}: pg_hba_file_rules: {out}")
            rc, out = sql("SHOW ssl", "SHOW ssl_min_protocol_version")
            print(f"   {os.path.basename(rel)}: the server starts with it; ssl, ssl_min_protocol_version = {out.split()}")

            def tcp(user, password, **params):
                conninfo = " ".join([f"host=127.0.0.1 port={port} dbname=bss user={user} connect_timeout=5"]
                                    + [f"{k}={v}" for k, v in params.items()])
                return run(os.path.join(bindir, "psql"), "-X", "-qtA", "-d", conninfo, "-c",
                           "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                           env={"PGPASSWORD": password}, timeout=30)

            ca = os.path.join(tls, "ca.crt")
            cert = lambda name: {"sslcert": os.path.join(tls, name + ".crt"), "sslkey": os.path.join(tls, name + ".key")}
            rc, out = tcp("postgres_exporter", "x", sslmode="disable")
            if rc == 0 or "no encryption" not in out:
                bad(f"{rel}: a plaintext connection from 127.0.0.1 was not refused by a hostnossl reject line: {out}")
            else:
                print("   plaintext (sslmode=disable): refused: " + fatal(out))
            if rel != PG_HBA:
                run(os.path.join(bindir, "pg_ctl"), "stop", "-D", data, "-m", "fast", "-w")
                started = False
                continue
            rc, out = sql("CREATE DATABASE bss", "CREATE ROLE postgres_exporter LOGIN PASSWORD 'x'")
            if rc != 0:
                bad(f"cannot create the test role: {out}")
            nocert = {"sslcert": os.path.join(tmp, "none.crt"), "sslkey": os.path.join(tmp, "none.key")}
            for what, user, password, params in (
                    ("TLS without a client certificate", "postgres_exporter", "x", nocert),
                    ("TLS with autoctl_node's certificate (CN another role's; reported as a failed password)", "postgres_exporter", "x", cert("autoctl_node")),
                    ("TLS with its certificate and a wrong password", "postgres_exporter", "wrong", cert("postgres_exporter"))):
                rc, out = tcp(user, password, sslmode="verify-full", sslrootcert=ca, **params)
                if rc == 0:
                    bad(f"{rel}: {what}: let in as {user} ({out})")
                else:
                    print(f"   {what}: refused: " + fatal(out))
            rc, out = tcp("postgres_exporter", "x", sslmode="verify-full", sslrootcert=ca, **cert("postgres_exporter"))
            if rc != 0 or not out.startswith("t|TLSv1."):
                bad(f"{rel}: postgres_exporter with its certificate and password over TLS (verify-full, 127.0.0.1): {out}")
            else:
                print(f"   TLS with postgres_exporter's certificate and password (verify-full): in, pg_stat_ssl {out}")
            run(os.path.join(bindir, "pg_ctl"), "stop", "-D", data, "-m", "fast", "-w")
            started = False
    finally:
        if started:
            run(os.path.join(bindir, "pg_ctl"), "stop", "-D", data, "-m", "immediate", "-w")
        shutil.rmtree(tmp, ignore_errors=True)
    finish(f"PostgreSQL runs {PG_CONF} with VM1's certificates and each pg_hba.conf: TLS only, a client certificate per role")


# Arguments for ACL DRYRUN of each command the sink's function library runs,
# on a key under the sink's prefix. A command missing here fails the check:
# add it, and to users.acl.example if the sink needs it.
DRYRUN_ARGS = {
    "HMGET": ["bss:agg:x", "version"],
    "XADD": ["bss:events:x", "1-0", "f", "v"],
    "HSET": ["bss:agg:x", "f", "v"],
    "HINCRBY": ["bss:count:x", "f", "1"],
    "EXPIREAT": ["bss:count:x", "1"],
}


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd_redis(root, redis_server, redis_cli, certs):
    """Starts redis-server with redis.conf and users.acl.example for a few
    seconds, on a unix socket and, for TLS, on 127.0.0.1 at a free port
    (redis.conf's bind and tls-port are the VM's) with VM3's certificates of
    make-certs.sh's scratch output in place of TLS_DIR; asks it what it runs
    with, and tries its TLS port with and without a client certificate."""
    lua = os.path.join(root, "bss-sidecar/src/sink/redis_functions.lua")
    acl_users = {}
    for line in lines(root, REDIS_ACL):
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "user":
            acl_users[parts[1]] = parts[2:]
    passwords = {u: next((r[1:] for r in rules if r.startswith(">")), "") for u, rules in acl_users.items()}
    vm3 = os.path.join(certs, "vm3")
    tls_port = str(free_port())
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "redis.sock")
        acl = os.path.join(tmp, "users.acl")
        with open(acl, "w", encoding="utf-8") as f:
            f.write(read(root, REDIS_ACL))
        conf = os.path.join(tmp, "redis.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(read(root, REDIS_CONF).replace(TLS_DIR + "/", vm3 + "/"))
        log = open(os.path.join(tmp, "redis.log"), "w+", encoding="utf-8")
        # Only the listening addresses differ from the file's: the VM's
        # address is not this machine's. Its port (0), TLS files and settings stay.
        proc = subprocess.Popen(
            [redis_server, conf, "--bind", "127.0.0.1", "--tls-port", tls_port, "--unixsocket", sock,
             "--unixsocketperm", "700", "--dir", tmp, "--pidfile", os.path.join(tmp, "redis.pid"),
             "--aclfile", acl, "--daemonize", "no", "--logfile", ""],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 5
            while not os.path.exists(sock) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if not os.path.exists(sock):
                log.seek(0)
                for line in log.read().splitlines()[-15:]:
                    print("   " + line)
                bad(f"{REDIS_CONF}: redis-server did not start with it and {REDIS_ACL}")
                return finish("")

            def cli(user, *args, stdin=None):
                cmd = [redis_cli, "-s", sock, "--no-auth-warning"]
                if user:
                    cmd += ["--user", user, "--pass", passwords.get(user, "")]
                r = subprocess.run(cmd + list(args), input=stdin, capture_output=True, text=True, timeout=10)
                return (r.stdout + r.stderr).strip()

            for key in ("appendonly", "appendfsync", "maxmemory-policy", "maxmemory", "protected-mode",
                        "port", "tls-auth-clients", "tls-protocols"):
                out = cli("admin", "CONFIG", "GET", key).splitlines()
                print(f"   {key} = {out[1] if len(out) > 1 else out}")
            # TLS: the exporter with its certificate gets in; without one, or
            # without TLS, nobody gets an answer.
            def tls_cli(cert, tls=True):
                cmd = [redis_cli, "-h", "127.0.0.1", "-p", tls_port, "--no-auth-warning",
                       "--user", "exporter", "--pass", passwords.get("exporter", "")]
                if tls:
                    cmd += ["--tls", "--cacert", os.path.join(vm3, "ca.crt")]
                if cert:
                    cmd += ["--cert", os.path.join(vm3, cert + ".crt"), "--key", os.path.join(vm3, cert + ".key")]
                try:
                    r = subprocess.run(cmd + ["PING"], capture_output=True, text=True, timeout=10)
                    return (r.stdout + r.stderr).strip()
                except subprocess.TimeoutExpired:
                    return "(no answer in 10 s)"
            out = tls_cli("redis-exporter")
            if out != "PONG":
                bad(f"{REDIS_CONF}: redis_exporter's certificate over TLS (127.0.0.1:{tls_port}) got {out!r}, want PONG")
            else:
                print(f"   TLS with redis-exporter's certificate: PONG (tls-port {tls_port} here)")
            out = tls_cli(None)
            if "PONG" in out or "NOAUTH" in out:
                bad(f"{REDIS_CONF}: a client without a certificate got {out!r}: tls-auth-clients does not refuse it")
            else:
                print(f"   TLS without a client certificate: refused ({out.splitlines()[-1][:80] if out else 'closed'})")
            out = tls_cli(None, tls=False)
            if "PONG" in out or "NOAUTH" in out:
                bad(f"{REDIS_CONF}: a plaintext client on the TLS port got {out!r}")
            else:
                print(f"   plaintext on the TLS port: refused ({out.splitlines()[-1][:80] if out else 'closed'})")
            # Left on without a password, the default user makes protected-mode
            # refuse every client not on loopback: the sidecar on VM2 included.
            out = cli(None, "PING")
            if "NOAUTH" not in out:
                bad(f"{REDIS_ACL}: an unauthenticated PING got {out!r}: the default user is on without a password, "
                    "so with protected-mode yes Redis refuses (DENIED) every client not on VM3's loopback; "
                    "turn it off: user default off resetpass resetchannels -@all")
            else:
                print("   unauthenticated PING: NOAUTH (the default user is off)")
            # The sidecar: its library loads, and each command it runs is allowed on bss:* keys.
            with open(lua, encoding="utf-8") as f:
                library = f.read()
            out = cli("bss-sidecar", "-x", "FUNCTION", "LOAD", "REPLACE", stdin=library)
            m = re.match(r"#!lua name=(\S+)", library)
            if not m or out != m.group(1):
                bad(f"{REDIS_ACL}: bss-sidecar cannot FUNCTION LOAD the sink's library: {out}")
            else:
                print(f"   bss-sidecar: FUNCTION LOAD REPLACE -> {out}")
            commands = sorted(set(re.findall(r"redis\.p?call\(\s*'([A-Za-z]+)'", library)))
            checks = [["FCALL", "bss_apply_events_v2", "1", "bss:events:x"]]
            for c in commands:
                if c.upper() not in DRYRUN_ARGS:
                    bad(f"bss-sidecar/src/sink/redis_functions.lua runs {c}, which lint.py has no DRYRUN arguments for")
                    continue
                checks.append([c.upper()] + DRYRUN_ARGS[c.upper()])
            for c in checks:
                out = cli("admin", "ACL", "DRYRUN", "bss-sidecar", *c)
                if out != "OK":
                    bad(f"{REDIS_ACL}: bss-sidecar may not run {' '.join(c)}: {out}")
            print(f"   bss-sidecar may run {', '.join(c[0] for c in checks)} on bss:* keys")
            for c in (["SET", "bss:x", "1"], ["HSET", "other", "f", "v"], ["FLUSHALL"]):
                if cli("admin", "ACL", "DRYRUN", "bss-sidecar", *c) == "OK":
                    bad(f"{REDIS_ACL}: bss-sidecar may run {' '.join(c)}, which the sink never needs")
            # redis_exporter: what it reads, and no writes.
            for c in (["INFO", "ALL"], ["CONFIG", "GET", "*"], ["SLOWLOG", "GET", "10"], ["LATENCY", "LATEST"],
                      ["CLIENT", "SETNAME", "redis_exporter"], ["SELECT", "0"], ["DBSIZE"]):
                out = cli("admin", "ACL", "DRYRUN", "exporter", *c)
                if out != "OK":
                    bad(f"{REDIS_ACL}: exporter may not run {' '.join(c)}: {out}")
            if cli("admin", "ACL", "DRYRUN", "exporter", "SET", "k", "v") == "OK":
                bad(f"{REDIS_ACL}: exporter may write")
            print("   exporter may run INFO, CONFIG GET, SLOWLOG, LATENCY, CLIENT SETNAME, SELECT, DBSIZE; no writes")
            log.seek(0)
            for line in log.read().splitlines():
                # (The refused handshakes above log "Error accepting a client connection".)
                if "Error accepting a client connection" in line:
                    continue
                if "Bad directive" in line or "FATAL" in line or "# Error" in line:
                    bad(f"redis-server: {line}")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    finish(f"redis-server runs {REDIS_CONF} with {REDIS_ACL}, and each user may do its job")


# --- the sidecar's TOML ---------------------------------------------------------------


def cmd_sidecar(root, binary, certs):
    """The sidecar checks its TOML itself (bss-sidecar --check-config: the
    same parse and checks as at start, connecting to nothing; it reads the
    PostgreSQL and Redis certificate files), on a copy whose TLS_DIR is
    VM2's folder of make-certs.sh's scratch output; its [[detector]]s are
    bss-detect/detectors.toml's."""
    path = os.path.join(root, SIDECAR_TOML)
    with open(path, "rb") as f:
        conf = tomllib.load(f)
    if not os.access(binary, os.X_OK):
        bad(f"{binary} is not an executable bss-sidecar (HINT: cargo build --release -p bss-sidecar)")
    else:
        # Only the file: none of this shell's BSS_* settings over it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BSS_")}
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, os.path.basename(SIDECAR_TOML))
            with open(copy, "w", encoding="utf-8") as f:
                f.write(read(root, SIDECAR_TOML).replace(TLS_DIR + "/", os.path.join(certs, "vm2") + "/"))
            r = subprocess.run([binary, "--check-config", copy], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            bad(f"{SIDECAR_TOML}: the sidecar refuses to start with it: {r.stderr.strip().replace(copy, SIDECAR_TOML)}")
        else:
            print(f"   ({TLS_DIR}/ read as {os.path.join(certs, 'vm2')}/) " + r.stdout.strip().replace(copy, SIDECAR_TOML))
    with open(os.path.join(root, "bss-detect/detectors.toml"), "rb") as f:
        want = tomllib.load(f).get("detector", [])
    have = conf.get("detector", [])
    if have != want:
        names = [d.get("name") for d in want]
        for i, d in enumerate(have):
            other = want[i] if i < len(want) else None
            if d != other:
                diff = sorted(k for k in set(d) | set(other or {}) if d.get(k) != (other or {}).get(k))
                bad(f"{SIDECAR_TOML}: [[detector]] {i + 1} ({d.get('name')}) differs from bss-detect/detectors.toml's "
                    f"({(other or {}).get('name')}) in {', '.join(diff)}")
        if len(have) != len(want):
            bad(f"{SIDECAR_TOML}: {len(have)} [[detector]]s, bss-detect/detectors.toml has {len(want)} ({', '.join(names)})")
    finish(f"bss-sidecar --check-config accepts {SIDECAR_TOML}; its {len(have)} detectors are bss-detect/detectors.toml's")


# --- images: versions and build context -------------------------------------------------------


def cargo_version(root, crate):
    m = re.search(r'^version\s*=\s*"([^"]+)"', read(root, f"{crate}/Cargo.toml"), re.M)
    return m.group(1) if m else None


def cmd_images(root):
    # (crate whose version tags it, Dockerfile, build target, compose file, image, service)
    images = [
        ("pg_bss", f"{VM}/postgres/Dockerfile", None, COMPOSE["vm1-postgres"], "pg_bss/postgres", "node1"),
        ("pg_bss", f"{VM}/postgres/Dockerfile", None, COMPOSE["vm2-app"], "pg_bss/postgres", "node2"),
        ("pg_bss", f"{VM}/postgres/Dockerfile", "pgaf", COMPOSE["vm3-kafka-redis"], "pg_bss/pgaf", "monitor"),
        ("bss-sidecar", f"{VM}/sidecar/Dockerfile", None, COMPOSE["vm2-app"], "pg_bss/bss-sidecar", "sidecar"),
    ]
    for crate, dockerfile, target, compose, image, service in images:
        v = cargo_version(root, crate)
        svc = yaml.safe_load(read(root, compose))["services"][service]
        tag = svc["image"]
        if tag != f"{image}:{v}":
            bad(f"{compose}: services.{service}.image is {tag}, {crate}/Cargo.toml is {v}: want {image}:{v}")
        build = svc.get("build") or {}
        if build.get("dockerfile") != dockerfile or build.get("target") != target:
            bad(f"{compose}: services.{service} builds {build.get('dockerfile')} target {build.get('target')}, "
                f"want {dockerfile} target {target}")
        text = read(root, dockerfile)
        want_cmd = f"-f {dockerfile} " + (f"--target {target} " if target else "") + f"-t {image}:{v} "
        if want_cmd not in text:
            bad(f"{dockerfile}: its docker build comment does not tag {image}:{v} ({crate}/Cargo.toml's version): "
                f"no '{want_cmd.strip()}'")
        if target and not re.search(rf"^FROM \S+ AS {re.escape(target)}$", text, re.M):
            bad(f"{dockerfile}: no stage {target} (services.{service} of {compose} builds it)")
        print(f"   {crate} {v}: {service}'s image {tag}" + (f" (stage {target})" if target else ""))

    # Both Dockerfiles copy every workspace member, and their dockerignore lets it in.
    members = re.search(r"members\s*=\s*\[([^\]]*)\]", read(root, "Cargo.toml")).group(1)
    members = re.findall(r'"([^"]+)"', members)
    for d in ("postgres", "sidecar"):
        text = read(root, f"{VM}/{d}/Dockerfile")
        ignore = lines(root, f"{VM}/{d}/Dockerfile.dockerignore")
        for m in members:
            if not re.search(rf"^COPY {re.escape(m)}/ {re.escape(m)}/$", text, re.M):
                bad(f"{VM}/{d}/Dockerfile does not COPY {m}/ (a workspace member: cargo needs its manifest)")
            if f"!{m}" not in ignore:
                bad(f"{VM}/{d}/Dockerfile.dockerignore keeps {m} out of the build context")
    finish("image tags are the crates' versions; both Dockerfiles copy every workspace member")


# --- users, addresses and ports across the files ---------------------------------------


def env_file(root, rel):
    out = {}
    for line in lines(root, rel):
        if "=" in line and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def flag(args, name):
    """The value of --name=VALUE (or -name=VALUE) in a list of arguments or a command line."""
    if isinstance(args, str):
        args = args.split()
    for a in args:
        m = re.match(rf"^--?{re.escape(name)}=(.*)$", a)
        if m:
            return m.group(1)
    return None


def drop_in_exec(root, rel):
    text = [line for line in lines(root, rel) if line.startswith("ExecStart=") and line != "ExecStart="]
    return text[-1][len("ExecStart="):] if text else ""


def cmd_consistency(root):
    n = 0

    def same(what, a, b):
        nonlocal n
        n += 1
        if a != b:
            show = lambda v: ", ".join(sorted(v)) if isinstance(v, (set, list)) else repr(v)
            bad(f"{what}: {show(a)} != {show(b)}")

    compose = {k: yaml.safe_load(read(root, v)) for k, v in COMPOSE.items()}
    nodes = {}
    for path in sorted(glob.glob(os.path.join(root, VM, "kafka/node-*.env"))):
        e = env_file(root, os.path.relpath(path, root))
        nodes[e.get("BSS_KAFKA_NODE_ID")] = (os.path.relpath(path, root), e)
    toml = tomllib.loads(read(root, SIDECAR_TOML))
    props = {k: v for _, k, v, _ in directives(root, KAFKA_PROPS, "=")}

    # PostgreSQL roles: bootstrap.sql creates them (pg_autoctl its own), pg_hba.conf lets them in, the URLs use them.
    boot = read(root, BOOTSTRAP)
    roles = {"postgres": "LOGIN", **PGAF_NODE_ROLES}
    groups = re.search(r"FOREACH r IN ARRAY ARRAY\[([^\]]*)\]", read(root, PRIVILEGES_SQL))
    n += 1
    if not groups:
        bad(f"{PRIVILEGES_SQL}: cannot find the group roles the extension creates (FOREACH r IN ARRAY ARRAY[...])")
    for name in re.findall(r"'(\w+)'", groups.group(1) if groups else ""):
        roles[name] = "NOLOGIN"
    for name, attrs in re.findall(r"CREATE ROLE (\w+) ([A-Z ]+)'", boot):
        roles[name] = attrs
    # bootstrap.sql may give a group role LOGIN (the sidecar logs in as bss_sidecar).
    for name, attrs in re.findall(r"^ALTER ROLE (\w+) ([A-Z ]+?) PASSWORD", boot, re.M):
        roles[name] = attrs
    methods = {"trust", "reject", "scram-sha-256", "md5", "password", "peer", "ident", "cert", "gss", "sspi", "pam", "ldap", "radius"}

    def hba_lines(rel, known, creator):
        """The lines that let someone in over TCP (hostssl, not reject), as
        (type, databases, users, address); the rest is checked here too."""
        nonlocal n
        out = []
        for i, typ, db, user, addr, method, opts in hba_entries(root, rel):
            if typ is None:
                bad(f"{rel}:{i}: cannot parse: {' '.join(opts)}")
                continue
            n += 1
            if method not in methods:
                bad(f"{rel}:{i}: unknown method {method}")
            if method in ("trust", "password", "md5") or (typ != "local" and method == "peer"):
                bad(f"{rel}:{i}: {method}: use scram-sha-256 (peer for local)")
            for u in user.split(","):
                if u != "all" and u.lstrip("+") not in known:
                    bad(f"{rel}:{i}: role {u} is not created by {creator}")
            if typ.startswith("host") and typ != "hostnossl" and method != "reject":
                out.append((typ, set(db.split(",")), user, addr))
        return out

    hba = hba_lines(PG_HBA, roles, f"{BOOTSTRAP} (or pg_autoctl: {', '.join(sorted(PGAF_NODE_ROLES))})")
    hba_monitor = hba_lines(PG_HBA_MONITOR, PGAF_MONITOR_ROLES, "pg_autoctl create monitor")

    def allows(lines_, db, user, addr):
        """A host line of lines_ lets user into db (or replication) from addr (an address/32 exactly)."""
        return any(h[0].startswith("host") and (db in h[1] or "all" in h[1]) and user in h[2].split(",")
                   and h[3] == f"{addr}/32" for h in lines_)

    # The pg_auto_failover formation: node1 (VM1), node2 (VM2) and the
    # monitor (VM3), as their compose services say.
    pgaf = {}
    for member, (vm, service) in PGAF_MEMBERS.items():
        svc = compose[vm]["services"].get(service)
        if not svc:
            bad(f"{COMPOSE[vm]}: no service {service} (the formation's {member})")
            continue
        e = svc.get("environment") or {}
        pgaf[member] = {"vm": vm, "host": str(e.get("PGAF_HOSTNAME")), "port": str(e.get("PGAF_PORT")),
                        "listen": {a.strip() for a in str(e.get("PGAF_LISTEN", "")).split(",")},
                        "name": e.get("PGAF_NAME"), "monitor_url": e.get("PGAF_MONITOR_URL"), "env": e,
                        "command": svc.get("command")}
    node_names = [m for m in pgaf if m != "monitor"]
    for member, p in pgaf.items():
        n += 1
        if p["host"] not in p["listen"]:
            bad(f"{COMPOSE[p['vm']]}: {member} is reached at PGAF_HOSTNAME {p['host']}, "
                f"but listens on PGAF_LISTEN {', '.join(sorted(p['listen']))}")
        same(f"{COMPOSE[p['vm']]}: {member}'s PGAF_HOSTNAME vs the VM of its compose file's header",
             p["host"], re.search(r"^# VM\d \(([\d.]+)", read(root, COMPOSE[p["vm"]]), re.M).group(1))
        same(f"{COMPOSE[p['vm']]}: {member}'s entrypoint role", p["command"], ["monitor" if member == "monitor" else "node"])
        if member != "monitor":
            same(f"{COMPOSE[p['vm']]}: {member}'s PGAF_NAME", p["name"], member)
    hosts = [pgaf[m]["host"] for m in pgaf]
    n += 1
    if len(set(hosts)) != len(hosts):
        where = ", ".join(f"{m} on {h}" for m, h in zip(pgaf, hosts))
        bad(f"the formation's members share a VM ({where}): the monitor must run where neither node does, "
            "and the nodes apart")
    env_keys = lambda m: sorted(k for k in pgaf[m]["env"] if k not in ("PGAF_NAME", "PGAF_HOSTNAME", "PGAF_LISTEN"))
    same("node1's and node2's environment variables (vm1-postgres, vm2-app)", env_keys("node1"), env_keys("node2"))
    for k in ("PGDATA", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "PGAF_PORT", "PGAF_MONITOR_URL"):
        same(f"node1's and node2's {k}", pgaf["node1"]["env"].get(k), pgaf["node2"]["env"].get(k))

    # The nodes' --monitor URL is the monitor as it listens, user autoctl_node.
    mon = pgaf["monitor"]
    for m in node_names:
        url = pgaf[m]["monitor_url"] or ""
        um = re.match(r"postgres(?:ql)?://([^:@/]+)(?::[^@]*)?@([^:/]+):(\d+)/([^?]+)", url)
        n += 1
        if not um:
            bad(f"{COMPOSE[pgaf[m]['vm']]}: cannot parse {m}'s PGAF_MONITOR_URL {url}")
            continue
        same(f"{COMPOSE[pgaf[m]['vm']]}: {m}'s PGAF_MONITOR_URL user, host, port, database vs the monitor "
             f"({COMPOSE['vm3-kafka-redis']})", "{}@{}:{}/{}".format(*um.groups()),
             f"autoctl_node@{mon['host']}:{mon['port']}/pg_auto_failover")
        # The monitor's pg_hba lets each node's keeper in; each node's lets
        # the other node replicate and rewind, and the monitor check it.
        if not allows(hba_monitor, "pg_auto_failover", "autoctl_node", pgaf[m]["host"]):
            bad(f"{PG_HBA_MONITOR}: no hostssl line lets autoctl_node into pg_auto_failover from {m} ({pgaf[m]['host']})")
        n += 1
        for other in node_names:
            if other == m:
                continue
            n += 2
            if not allows(hba, "replication", "pgautofailover_replicator", pgaf[other]["host"]):
                bad(f"{PG_HBA}: {m} does not let {other} ({pgaf[other]['host']}) replicate from it "
                    "(hostssl replication pgautofailover_replicator): after a failover the old primary cannot follow")
            if not allows(hba, "postgres", "pgautofailover_replicator", pgaf[other]["host"]):
                bad(f"{PG_HBA}: {m} does not let {other} ({pgaf[other]['host']}) into database postgres as "
                    "pgautofailover_replicator (pg_rewind)")
        n += 1
        if not allows(hba, "postgres", "pgautofailover_monitor", mon["host"]):
            bad(f"{PG_HBA}: no hostssl line lets the monitor's health checks (pgautofailover_monitor, database postgres) "
                f"in from {mon['host']}")

    # The entrypoint's tuning is scripts/pgaf.sh's: the monitor's health checks, the keeper's timeout.
    entry = read(root, PGAF_ENTRYPOINT)
    tuned = lambda text: dict(re.findall(r"ALTER SYSTEM SET (pgautofailover\.\w+) = (\d+)", text))
    same(f"{PGAF_ENTRYPOINT} vs {PGAF_SH}: the monitor's tuned pgautofailover.* settings", tuned(entry), tuned(read(root, PGAF_SH)))
    partition = lambda text: set(re.findall(r"timeout\.network_partition_timeout (\d+)", text))
    same(f"{PGAF_ENTRYPOINT} vs {PGAF_SH}: timeout.network_partition_timeout", partition(entry), partition(read(root, PGAF_SH)))
    n += 1
    if not tuned(entry):
        bad(f"{PGAF_ENTRYPOINT}: the monitor's health checks are not tuned (ALTER SYSTEM SET pgautofailover.*)")
    pg_db = (re.search(r"--dbname (\w+)", entry) or [None, None])[1]

    def parse_pg_url(where, url):
        m = re.match(r"postgresql://([^:@/]+)(?::[^@]*)?@([^/]+)/([^?]+)(?:\?(.*))?$", url)
        if not m:
            bad(f"{where}: cannot parse the PostgreSQL URL {url}")
            return None
        user, hostports, db, query = m.groups()
        pairs = []
        for hp in hostports.split(","):
            host, _, port = hp.partition(":")
            pairs.append((host, port))
        params = dict(kv.split("=", 1) for kv in (query or "").split("&") if "=" in kv)
        return user, pairs, db, params

    vm2_peer = None
    # (where, URL, the nodes it may name, what client reads it: tokio-postgres or libpq)
    exporter = lambda vm: compose[vm]["services"]["postgres-exporter"]["environment"]["DATA_SOURCE_NAME"]
    drop = read(root, f"{VM}/systemd/prometheus-postgres-exporter.service.d/bss.conf")
    pg_urls = [
        (COMPOSE["vm1-postgres"], exporter("vm1-postgres"), ["node1"], "libpq"),
        (COMPOSE["vm2-app"], exporter("vm2-app"), ["node2"], "libpq"),
        (COMPOSE["vm2-app"], compose["vm2-app"]["services"]["sidecar"]["environment"]["BSS_DATABASE_URL"], node_names, "sidecar"),
        (f"{VM}/sidecar/sidecar.env.example", env_file(root, f"{VM}/sidecar/sidecar.env.example")["BSS_DATABASE_URL"], node_names, "sidecar"),
        (SIDECAR_TOML, toml["database_url"], node_names, "sidecar"),
    ]
    pg_urls += [(f"{VM}/systemd/prometheus-postgres-exporter.service.d/bss.conf", u, ["node1"], "libpq")
                for u in re.findall(r"DATA_SOURCE_NAME=(\S+)", drop)]
    for where, url, members, client in pg_urls:
        parsed = parse_pg_url(where, url)
        if not parsed:
            continue
        user, pairs, db, params = parsed
        n += 1
        if "LOGIN" not in roles.get(user, "") or "NOLOGIN" in roles.get(user, ""):
            bad(f"{where}: the URL's user {user} is not a LOGIN role of {BOOTSTRAP}")
        if db != pg_db:
            bad(f"{where}: the URL's database {db} is not {pg_db} (pg_autoctl create postgres --dbname in {PGAF_ENTRYPOINT})")
        if client == "sidecar":
            # Every node, in order, each where it listens (by its name in
            # deploy/vm/hosts): the sidecar finds the primary of the moment.
            same(f"{where}: the sidecar's hosts (resolved by {HOSTS}) vs node1's and node2's PGAF_HOSTNAME:PGAF_PORT",
                 [f"{resolve(root, h)}:{p}" for h, p in pairs], [f"{pgaf[m]['host']}:{pgaf[m]['port']}" for m in members])
            for k, v in (("target_session_attrs", "read-write"), ("connect_timeout", "2"), ("tcp_user_timeout", "3")):
                n += 1
                if params.get(k) != v:
                    bad(f"{where}: the sidecar's URL has {k}={params.get(k)}, want {v} "
                        "(the primary among the hosts, and a silent one given up in seconds)")
        else:
            # libpq counts tcp_user_timeout in milliseconds: 3 would give up after 3 ms.
            n += 1
            if "tcp_user_timeout" in params:
                bad(f"{where}: tcp_user_timeout in a libpq client's URL (milliseconds there, seconds for the sidecar)")
            node = pgaf[members[0]]
            for host, port in pairs:
                if host not in node["listen"] or port != node["port"]:
                    bad(f"{where}: {host}:{port} is not where {members[0]} listens "
                        f"(PGAF_LISTEN {', '.join(sorted(node['listen']))}, PGAF_PORT {node['port']})")
        for host, port in pairs:
            lines_for = [h for h in hba if h[0].startswith("host") and (db in h[1] or "all" in h[1]) and user in h[2].split(",")]
            if not lines_for:
                bad(f"{where}: no pg_hba.conf hostssl line lets {user} into {db}")
            elif host == "127.0.0.1" and not any(h[3].startswith("127.0.0.1") for h in lines_for):
                bad(f"{where}: {user} connects over loopback, but pg_hba.conf lets it in only from {[h[3] for h in lines_for]}")
            if user == "bss_sidecar":
                vm2_peer = [h[3] for h in lines_for]

    # The sidecar's pg_hba.conf line is VM2's address.
    same("pg_hba.conf's bss_sidecar address vs VM2 in vm2-app/compose.yml's header",
         vm2_peer and vm2_peer[0].split("/")[0], re.search(r"# VM2 \(([\d.]+)", read(root, COMPOSE["vm2-app"])).group(1))

    # The VMs' addresses in deploy/vm/hosts are those of the compose files' headers.
    hosts = vm_hosts(root)
    for vm, rel in COMPOSE.items():
        header = re.search(r"^# VM\d \(([\d.]+)", read(root, rel), re.M)
        same(f"{HOSTS}: {VM_OF[vm].upper()}'s address vs {rel}'s header",
             (hosts.get(VM_OF[vm]) or ("(missing)",))[0], header and header.group(1))

    # Redis: the users the clients name exist in users.acl.example and are on; the host is bound.
    acl = {}
    for line in lines(root, REDIS_ACL):
        p = line.split()
        if len(p) >= 2 and p[0] == "user":
            acl[p[1]] = p[2:]
    redis_conf = {key: value for _, key, value, _ in directives(root, REDIS_CONF, None)}
    binds = set(redis_conf.get("bind", "").split())
    # Every client on the TLS port (tls-port; check.sh's tls check holds port to 0).
    redis_port = redis_conf.get("tls-port")
    exporter_cmds = [
        (COMPOSE["vm3-kafka-redis"], compose["vm3-kafka-redis"]["services"]["redis-exporter"]["command"]),
        (f"{VM}/systemd/prometheus-redis-exporter.service.d/bss.conf",
         drop_in_exec(root, f"{VM}/systemd/prometheus-redis-exporter.service.d/bss.conf")),
    ]
    redis_urls = [
        (COMPOSE["vm2-app"], compose["vm2-app"]["services"]["sidecar"]["environment"]["BSS_REDIS_URL"]),
        (SIDECAR_ENV, env_file(root, SIDECAR_ENV)["BSS_REDIS_URL"]),
        (SIDECAR_TOML, toml["redis"]["url"]),
    ] + [(where, flag(cmd, "redis.addr") or "") for where, cmd in exporter_cmds]
    for where, url in redis_urls:
        m = re.match(r"rediss?://(?:([^:@]+)(?::[^@]*)?@)?([^:/]+):(\d+)", url)
        n += 1
        if not m:
            bad(f"{where}: cannot parse the Redis URL {url}")
            continue
        user, host, port = m.groups()
        if user is not None and (user not in acl or "on" not in acl[user]):
            bad(f"{where}: Redis user {user} is not an enabled user of {REDIS_ACL}")
        if resolve(root, host) not in binds or port != redis_port:
            bad(f"{where}: {host}:{port} is not where redis.conf listens "
                f"(bind {' '.join(sorted(binds))}, tls-port {redis_port}; names as {HOSTS} resolves them)")
    for where, cmd in exporter_cmds:
        user = flag(cmd, "redis.user")
        n += 1
        if user not in acl or "on" not in acl[user]:
            bad(f"{where}: redis_exporter's user {user} is not an enabled user of {REDIS_ACL}")
    default = acl.get("default", ["on", "nopass"])
    n += 1
    if "on" in default and "nopass" in default and "off" not in default:
        bad(f"{REDIS_ACL}: the default user is on without a password: with protected-mode yes, Redis 7 refuses "
            "(DENIED) every client not on loopback, the sidecar on VM2 included")

    # Kafka: the sidecar's brokers are the nodes' client listeners; the quorum is the nodes' controllers.
    same("node ids of kafka/node-*.env", sorted(nodes), ["1", "2", "3"])
    advertised, controllers, jmx = set(), set(), set()
    listener_names = set(x.split(":")[0] for x in props.get("listener.security.protocol.map", "").split(","))
    for node_id, (where, e) in sorted(nodes.items()):
        ls = dict(x.split("://") for x in e["BSS_KAFKA_LISTENERS"].split(","))
        adv = dict(x.split("://") for x in e["BSS_KAFKA_ADVERTISED_LISTENERS"].split(","))
        for name in set(ls) | set(adv):
            if name not in listener_names:
                bad(f"{where}: listener {name} is not in server.properties' listener.security.protocol.map")
        for name, addr in adv.items():
            # A name (deploy/vm/hosts) that resolves to the listener's address, on its port.
            host, _, port = addr.rpartition(":")
            if ls.get(name) != f"{resolve(root, host)}:{port}":
                bad(f"{where}: advertised {name}://{addr} ({resolve(root, host)}:{port} as {HOSTS} resolves it) "
                    f"is not a listener ({ls.get(name)})")
        advertised.add(adv["CLIENT"])
        controllers.add(f"{node_id}@{ls[props.get('controller.listener.names', 'CONTROLLER')]}")
        if props.get("inter.broker.listener.name") not in adv:
            bad(f"{where}: the inter-broker listener {props.get('inter.broker.listener.name')} is not advertised")
        jmx.add(e["BSS_JMX_EXPORTER_LISTEN"])
    same(f"{SIDECAR_TOML} [kafka] brokers vs the CLIENT listeners of kafka/node-*.env",
         set(toml["kafka"]["brokers"].split(",")), advertised)
    same(f"{KAFKA_PROPS} controller.quorum.voters vs the CONTROLLER listeners of kafka/node-*.env",
         set(props.get("controller.quorum.voters", "").split(",")), controllers)

    # Prometheus scrapes what listens.
    prom = yaml.safe_load(read(root, "deploy/monitoring/prometheus.yml"))
    targets = {j["job_name"]: {t for sc in j.get("static_configs", []) for t in sc["targets"]} for j in prom["scrape_configs"]}
    alertmanagers = {t for a in prom["alerting"]["alertmanagers"] for sc in a["static_configs"] for t in sc["targets"]}
    vm1 = compose["vm1-postgres"]["services"]
    vm2 = compose["vm2-app"]["services"]
    vm3 = compose["vm3-kafka-redis"]["services"]
    same("prometheus.yml kafka targets vs BSS_JMX_EXPORTER_LISTEN of kafka/node-*.env", targets.get("kafka"), jmx)
    same("prometheus.yml postgres_exporter targets vs vm1-postgres's and vm2-app's postgres-exporter",
         targets.get("postgres_exporter"), {flag(vm1["postgres-exporter"]["command"], "web.listen-address"),
                                            flag(vm2["postgres-exporter"]["command"], "web.listen-address")})
    drop_listen = flag(drop_in_exec(root, f"{VM}/systemd/prometheus-postgres-exporter.service.d/bss.conf"), "web.listen-address")
    same("the postgres-exporter drop-in's listen address (VM1's; VM2 swaps in its own) vs prometheus.yml",
         drop_listen in (targets.get("postgres_exporter") or set()), True)
    same("prometheus.yml redis_exporter target vs vm3-kafka-redis/compose.yml",
         targets.get("redis_exporter"), {flag(vm3["redis-exporter"]["command"], "web.listen-address")})
    same("prometheus.yml redis_exporter target vs the redis-exporter drop-in", targets.get("redis_exporter"),
         {flag(drop_in_exec(root, f"{VM}/systemd/prometheus-redis-exporter.service.d/bss.conf"), "web.listen-address")})
    same("prometheus.yml bss-sidecar target vs metrics_addr of bss-sidecar.toml", targets.get("bss-sidecar"), {toml["metrics_addr"]})
    same("prometheus.yml alertmanager vs vm2-app/compose.yml", alertmanagers,
         {flag(vm2["alertmanager"]["command"], "web.listen-address")})
    same("prometheus.yml alertmanager vs the alertmanager drop-in", alertmanagers,
         {flag(drop_in_exec(root, f"{VM}/systemd/prometheus-alertmanager.service.d/bss.conf"), "web.listen-address")})
    same("prometheus.yml prometheus target vs vm2-app/compose.yml's --web.listen-address port",
         {t.split(":")[1] for t in targets.get("prometheus", set())},
         {flag(vm2["prometheus"]["command"], "web.listen-address").split(":")[1]})

    # Each healthcheck asks the address its service listens on.
    for vm, doc in compose.items():
        for name, svc in doc["services"].items():
            listen = flag(svc.get("command") or [], "web.listen-address")
            test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
            m = re.search(r"http://([\d.]+:\d+)/", test)
            if listen and m:
                n += 1
                host, port = listen.rsplit(":", 1)
                if m.group(1) != listen and not (host == "0.0.0.0" and m.group(1).endswith(":" + port)):
                    bad(f"{COMPOSE[vm]}: {name}'s healthcheck asks {m.group(1)}, it listens on {listen}")
    toml_port = toml["metrics_addr"]
    m = re.search(r"http://([\d.]+:\d+)/healthz", " ".join(vm2["sidecar"]["healthcheck"]["test"]))
    same("vm2-app/compose.yml sidecar healthcheck vs metrics_addr", m and m.group(1), toml_port)
    finish(f"{n} users, addresses and ports agree across deploy/vm and deploy/monitoring/prometheus.yml")


# --- TLS only -------------------------------------------------------------------------


def text_files(root):
    """(relative path, text) of the configuration files under deploy/vm: not
    the checks (they name what they refuse), not the operators' secrets."""
    skip = {"check.sh", "lint.py", ".env", "users.acl", "sidecar.env", "kafka.env"}
    for d, _, names in os.walk(os.path.join(root, VM)):
        for name in sorted(names):
            path = os.path.join(d, name)
            if name in skip or name.endswith((".pyc", ".jar")):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    yield os.path.relpath(path, root), f.read()
            except UnicodeDecodeError:
                continue


def pg_urls_in(text):
    # ${VAR:?message} (compose's guards) may hold spaces.
    return re.findall(r"postgres(?:ql)?://(?:\$\{[^}]*\}|[^\s\"'`$])+", text)


def cmd_tls(root):
    """Nothing in plaintext: every server TLS only, every client over TLS
    with the CA and its certificate, every certificate file in TLS_DIR."""
    check = Checks()

    under = lambda v: isinstance(v, str) and v.startswith(TLS_DIR + "/")
    compose = {k: yaml.safe_load(read(root, v)) for k, v in COMPOSE.items()}

    # PostgreSQL: ssl on, its files in TLS_DIR, TLS 1.2 at least.
    pg = {name: value for _, name, value, _ in pg_settings(root)}
    check(pg.get("ssl") == "on", f"{PG_CONF}: ssl = {pg.get('ssl')}, want on: the nodes speak TLS only")
    for k in ("ssl_cert_file", "ssl_key_file", "ssl_ca_file"):
        check(under(pg.get(k)), f"{PG_CONF}: {k} = {pg.get(k)}, want a file in {TLS_DIR}/ (the VM's certificates, mounted read-only)")
    check(pg.get("ssl_min_protocol_version") in TLS_VERSIONS,
          f"{PG_CONF}: ssl_min_protocol_version = {pg.get('ssl_min_protocol_version')}, want one of {', '.join(sorted(TLS_VERSIONS))}")

    # pg_hba.conf: no TCP connection without TLS, and that refusal comes first;
    # then hostssl lines only, each with a client certificate.
    need = [(db, net) for db in ("all", "replication") for net in ("0.0.0.0/0", "::/0")]
    for rel in (PG_HBA, PG_HBA_MONITOR):
        rejected = set()
        for i, typ, db, user, addr, method, opts in hba_entries(root, rel):
            if typ is None or typ == "local":
                continue
            if typ == "hostnossl":
                check(method == "reject", f"{rel}:{i}: hostnossl {db} {user} {addr} {method}: a connection without TLS may only be rejected")
                if method == "reject" and user == "all":
                    rejected |= {(d, addr) for d in db.split(",")}
                continue
            if method == "reject":
                continue
            missing = [x for x in need if x not in rejected]
            check(not missing, f"{rel}:{i}: `{typ} {db} {user} {addr}` lets clients in before "
                  + ", ".join(f"`hostnossl {d} all {a} reject`" for d, a in missing)
                  + ": a client without TLS could match it first")
            check(typ == "hostssl", f"{rel}:{i}: a `{typ}` line lets {user} in ({db}, {addr}): TLS only, want hostssl")
            check(method == "cert" or (method == "scram-sha-256" and "clientcert=verify-full" in opts),
                  f"{rel}:{i}: {typ} {db} {user} {addr} {method} {' '.join(opts)}: want scram-sha-256 clientcert=verify-full "
                  "(or cert): a client certificate whose CN is the role")
        for d, a in need:
            check((d, a) in rejected, f"{rel}: no `hostnossl {d} all {a} reject`: TCP without TLS is not refused")

    # Every URL and sslmode of deploy/vm's files: PostgreSQL verify-full with
    # the CA and a client certificate, Redis rediss://; no pg_autoctl --no-ssl.
    for rel, text in text_files(root):
        for i, line in enumerate(text.splitlines(), 1):
            for mode in re.findall(r"\bsslmode=([\w-]+)", line):
                check(mode == "verify-full", f"{rel}:{i}: sslmode={mode}: TLS only, and the server's certificate checked: want verify-full")
            for url in pg_urls_in(line):
                params = url_params(url)
                for k in ("sslrootcert", "sslcert", "sslkey"):
                    check(under(params.get(k)), f"{rel}:{i}: a PostgreSQL URL without {k} in {TLS_DIR}/: {url.split('@')[-1]}")
                check("sslmode" in params, f"{rel}:{i}: a PostgreSQL URL without sslmode=verify-full: {url.split('@')[-1]}")
            if re.search(r"\bredis://", line):
                bad(f"{rel}:{i}: a plaintext Redis URL (redis://): Redis has no plaintext port (port 0), want rediss://")
            if re.search(r"--no-ssl\b|--ssl-self-signed\b", line) and not line.lstrip().startswith("#"):
                bad(f"{rel}:{i}: pg_autoctl without the CA's certificates: {line.strip()}")
            if re.search(r"\b(SASL_)?PLAINTEXT\b", line) and not line.lstrip().startswith("#"):
                bad(f"{rel}:{i}: a Kafka PLAINTEXT protocol: {line.strip()}")

    # The sidecar names its PostgreSQL hosts (its replication client checks names, not addresses).
    toml = tomllib.loads(read(root, SIDECAR_TOML))
    sidecar_urls = [(SIDECAR_TOML, toml.get("database_url", "")),
                    (COMPOSE["vm2-app"], compose["vm2-app"]["services"]["sidecar"]["environment"]["BSS_DATABASE_URL"]),
                    (SIDECAR_ENV, env_file(root, SIDECAR_ENV).get("BSS_DATABASE_URL", ""))]
    for where, url in sidecar_urls:
        hostports = re.match(r"postgres(?:ql)?://[^@]*@([^/]+)/", url)
        for hp in (hostports.group(1).split(",") if hostports else []):
            host = hp.rpartition(":")[0] or hp
            check(not is_address(host), f"{where}: the sidecar's URL names PostgreSQL by address ({host}): its replication "
                  f"client checks host names only, so verify-full fails; name it as {HOSTS} does")

    # Redis: no plaintext port; the TLS port with the VM's files; client certificates required.
    redis = {key: value for _, key, value, _ in directives(root, REDIS_CONF, None)}
    check(redis.get("port") == "0", f"{REDIS_CONF}: port {redis.get('port', '(not set: 6379)')}, want port 0: no plaintext listener")
    check(redis.get("tls-port", "0") != "0", f"{REDIS_CONF}: no tls-port: Redis would not listen at all")
    for k in ("tls-cert-file", "tls-key-file", "tls-ca-cert-file"):
        check(under(redis.get(k)), f"{REDIS_CONF}: {k} {redis.get(k)}, want a file in {TLS_DIR}/")
    check(redis.get("tls-auth-clients") == "yes", f"{REDIS_CONF}: tls-auth-clients {redis.get('tls-auth-clients')}, want yes: a client certificate of the CA")
    protocols = set(redis.get("tls-protocols", "").strip('"').split())
    check(protocols and protocols <= TLS_VERSIONS, f"{REDIS_CONF}: tls-protocols {redis.get('tls-protocols')}, want TLSv1.2 and/or TLSv1.3")
    r = toml.get("redis", {})
    check(str(r.get("url", "")).startswith("rediss://"), f"{SIDECAR_TOML}: [redis] url {r.get('url')}: want rediss://")
    for k in ("tls_ca_cert_file", "tls_cert_file", "tls_key_file"):
        check(under(r.get(k)), f"{SIDECAR_TOML}: [redis] {k} = {r.get(k)}, want a file in {TLS_DIR}/")
    exporter_cmds = [(COMPOSE["vm3-kafka-redis"], compose["vm3-kafka-redis"]["services"]["redis-exporter"]["command"]),
                     (f"{VM}/systemd/prometheus-redis-exporter.service.d/bss.conf",
                      drop_in_exec(root, f"{VM}/systemd/prometheus-redis-exporter.service.d/bss.conf"))]
    for where, cmd in exporter_cmds:
        check(str(flag(cmd, "redis.addr")).startswith("rediss://"), f"{where}: redis_exporter's -redis.addr {flag(cmd, 'redis.addr')}: want rediss://")
        for k in ("tls-ca-cert-file", "tls-client-cert-file", "tls-client-key-file"):
            check(under(flag(cmd, k)), f"{where}: redis_exporter's -{k} {flag(cmd, k)}, want a file in {TLS_DIR}/")
    test = " ".join(compose["vm3-kafka-redis"]["services"]["redis"]["healthcheck"]["test"])
    check("--tls" in test, f"{COMPOSE['vm3-kafka-redis']}: redis's healthcheck without --tls: {test}")

    # Kafka: every listener SSL, client certificates required, the CA in TLS_DIR.
    props = {k: v for _, k, v, _ in directives(root, KAFKA_PROPS, "=")}
    for entry in props.get("listener.security.protocol.map", "").split(","):
        name, _, proto = entry.partition(":")
        check(proto in ("SSL", "SASL_SSL"), f"{KAFKA_PROPS}: listener {name} is {proto}, want SSL: every listener TLS, loopback ones too")
    check(props.get("ssl.client.auth") == "required", f"{KAFKA_PROPS}: ssl.client.auth={props.get('ssl.client.auth')}, want required")
    check(props.get("ssl.keystore.type") == "PEM", f"{KAFKA_PROPS}: ssl.keystore.type={props.get('ssl.keystore.type')}, want PEM (kafka-node.sh adds the key and chain)")
    check(props.get("ssl.truststore.type") == "PEM" and under(props.get("ssl.truststore.location")),
          f"{KAFKA_PROPS}: the trust store ({props.get('ssl.truststore.type')} {props.get('ssl.truststore.location')}), want PEM in {TLS_DIR}/")
    check(set(props.get("ssl.enabled.protocols", "TLSv1.2,TLSv1.3").split(",")) <= TLS_VERSIONS,
          f"{KAFKA_PROPS}: ssl.enabled.protocols={props.get('ssl.enabled.protocols')}, want TLSv1.2 and/or TLSv1.3")
    check(props.get("ssl.endpoint.identification.algorithm", "https") == "https",
          f"{KAFKA_PROPS}: ssl.endpoint.identification.algorithm={props.get('ssl.endpoint.identification.algorithm')}: the nodes would not check each other's names")
    kp = toml.get("kafka", {}).get("properties", {})
    check(kp.get("security.protocol") in ("SSL", "SASL_SSL"), f"{SIDECAR_TOML}: [kafka.properties] security.protocol = {kp.get('security.protocol')}, want SSL")
    for k in ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location"):
        check(under(kp.get(k)), f"{SIDECAR_TOML}: [kafka.properties] {k} = {kp.get(k)}, want a file in {TLS_DIR}/")
    unit = read(root, f"{VM}/systemd/kafka@.service")
    for name, svc in compose["vm3-kafka-redis"]["services"].items():
        if not name.startswith("kafka-"):
            continue
        env = svc.get("environment") or {}
        for k in ("BSS_KAFKA_TLS_CERT", "BSS_KAFKA_TLS_KEY"):
            check(under(env.get(k)), f"{COMPOSE['vm3-kafka-redis']}: {name}'s {k} = {env.get(k)}, want a file in {TLS_DIR}/")
        test = " ".join(svc["healthcheck"]["test"])
        check("--command-config" in test, f"{COMPOSE['vm3-kafka-redis']}: {name}'s healthcheck without --command-config (TLS): {test}")
    for k in ("BSS_KAFKA_TLS_CERT", "BSS_KAFKA_TLS_KEY"):
        m = re.search(rf"^Environment={k}=(\S+)$", unit, re.M)
        check(m and under(m.group(1)), f"{VM}/systemd/kafka@.service: no Environment={k}= in {TLS_DIR}/")

    # pg_auto_failover: pg_autoctl create with the CA's certificates and
    # verify-full; the client certificates of its connections in the environment.
    entry = read(root, PGAF_ENTRYPOINT)
    ssl_opts = re.search(r"^PGAF_SSL=\((.*)\)$", entry, re.M)
    for opt in ("--ssl-ca-file", "--server-cert", "--server-key", "--ssl-mode verify-full"):
        check(ssl_opts and opt in ssl_opts.group(1), f"{PGAF_ENTRYPOINT}: PGAF_SSL (pg_autoctl create's TLS options) lacks {opt}")
    creates = re.findall(r"pg_autoctl create (monitor|postgres)((?:[^\n]*\\\n)*[^\n]*)", entry)
    check(sorted(c[0] for c in creates) == ["monitor", "postgres"], f"{PGAF_ENTRYPOINT}: pg_autoctl create monitor and postgres not found")
    for what, args in creates:
        check('"${PGAF_SSL[@]}"' in args, f"{PGAF_ENTRYPOINT}: pg_autoctl create {what} without \"${{PGAF_SSL[@]}}\" (the CA's certificates, verify-full)")
    for member, (vm, service) in PGAF_MEMBERS.items():
        env = compose[vm]["services"][service].get("environment") or {}
        keys = ("PGSSLCERT", "PGSSLKEY") + (("PGSSLROOTCERT",) if member == "monitor" else ())
        for k in keys:
            check(under(env.get(k)), f"{COMPOSE[vm]}: {member}'s {k} = {env.get(k)}, want a file in {TLS_DIR}/")
        if member == "monitor":
            check(env.get("PGSSLMODE") == "verify-full", f"{COMPOSE[vm]}: the monitor's PGSSLMODE = {env.get('PGSSLMODE')}, "
                  "want verify-full: its health checks' connection string names no sslmode")

    # Each container that uses TLS_DIR (in its settings or in a file it
    # mounts, its image's entrypoint for the formation) mounts it, read-only.
    for vm, doc in compose.items():
        for name, svc in doc["services"].items():
            text = yaml.safe_dump(svc)
            if svc.get("command") in (["node"], ["monitor"]):
                text += entry
            for v in svc.get("volumes") or []:
                src = str(v).split(":")[0]
                if src.startswith("."):
                    path = os.path.normpath(os.path.join(root, VM, vm, src))
                    files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs] if os.path.isdir(path) else [path]
                    for f in files:
                        if os.path.isfile(f) and not f.endswith(".jar"):
                            with open(f, encoding="utf-8", errors="replace") as fh:
                                text += fh.read()
            if TLS_DIR in text:
                check(f"{TLS_DIR}:{TLS_DIR}:ro" in [str(v) for v in svc.get("volumes") or []],
                      f"{COMPOSE[vm]}: {name} uses {TLS_DIR} but does not mount it (- {TLS_DIR}:{TLS_DIR}:ro)")
    finish(f"{check.n} TLS settings: no plaintext listener or client, every certificate file in {TLS_DIR}/")


def openssl(*args):
    r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
    return r.returncode, (r.stdout + r.stderr).strip()


def cert_names(path):
    """The subject alternative names of a certificate: {'vm1.bss.internal', '10.0.0.5', ...}."""
    _, out = openssl("x509", "-noout", "-ext", "subjectAltName", "-in", path)
    return {s.split(":", 1)[1].strip() for s in re.split(r",\s*", out.split("\n", 1)[-1]) if ":" in s}


def cert_cn(path):
    _, out = openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", path)
    m = re.search(r"CN=([^,]+)", out)
    return m and m.group(1)


def cmd_certs(root, out):
    """The certificates make-certs.sh makes (into OUT, a scratch folder
    here) are the ones the files name: every TLS_DIR path of a VM's files is
    in that VM's folder; each certificate is signed by the CA and matches its
    key; the server certificates carry the names and addresses the clients
    connect to; a client certificate's CN is the role its URL logs in as."""
    check = Checks()

    compose = {k: yaml.safe_load(read(root, v)) for k, v in COMPOSE.items()}
    hosts = vm_hosts(root)
    vm_of_addr = {addr: vm for vm, (addr, _) in hosts.items()}
    d = lambda vm: os.path.join(out, vm)
    # Every file named, on its VM.
    for vm, sources in TLS_SOURCES.items():
        have = set(os.listdir(d(vm))) if os.path.isdir(d(vm)) else set()
        for rel in sources:
            for name in sorted(set(re.findall(rf"(?:{re.escape(TLS_DIR)}|\$TLS_DIR)/([\w.-]+)", read(root, rel)))):
                check(name in have, f"{rel} names {TLS_DIR}/{name}, which is not among {vm.upper()}'s certificates "
                      f"(make-certs.sh: {', '.join(sorted(have))})")
        # Signed by the CA; each key its certificate's.
        for f in sorted(have):
            path = os.path.join(d(vm), f)
            if f.endswith(".crt") and f != "ca.crt":
                rc, msg = openssl("verify", "-CAfile", os.path.join(d(vm), "ca.crt"), path)
                check(rc == 0, f"{vm.upper()}'s {f} is not signed by its ca.crt: {msg}")
                key = path[:-4] + ".key"
                if os.path.exists(key):
                    a = openssl("x509", "-noout", "-pubkey", "-in", path)[1]
                    b = openssl("pkey", "-pubout", "-in", key)[1]
                    check(a == b, f"{vm.upper()}'s {f[:-4]}.key is not the key of {f}")

    def need_name(vm, cert, host, why):
        path = os.path.join(d(vm), cert)
        if os.path.exists(path):
            check(host in cert_names(path), f"{vm.upper()}'s {cert} does not carry {host} ({why}): "
                  f"its names are {', '.join(sorted(cert_names(path)))}")

    def need_cn(vm, url_or_user, cert, why):
        path = os.path.join(d(vm), os.path.basename(cert or ""))
        if cert and os.path.exists(path):
            check(cert_cn(path) == url_or_user, f"{vm.upper()}'s {os.path.basename(cert)} has CN {cert_cn(path)}, "
                  f"but {why} logs in as {url_or_user} (clientcert=verify-full compares them)")

    pg_cert = os.path.basename({name: value for _, name, value, _ in pg_settings(root)}.get("ssl_cert_file", "server.crt"))
    # PostgreSQL: each node at the address pg_autoctl registered, by the
    # sidecar's names, on loopback for its exporter; the monitor at the nodes'
    # monitor URL. Client certificates: CN = the URL's user.
    toml = tomllib.loads(read(root, SIDECAR_TOML))
    urls = [("vm2", SIDECAR_TOML, toml.get("database_url", "")),
            ("vm2", COMPOSE["vm2-app"], compose["vm2-app"]["services"]["sidecar"]["environment"]["BSS_DATABASE_URL"]),
            ("vm2", SIDECAR_ENV, env_file(root, SIDECAR_ENV).get("BSS_DATABASE_URL", ""))]
    for vm, node in (("vm1-postgres", "node1"), ("vm2-app", "node2")):
        env = compose[vm]["services"][node]["environment"]
        need_name(VM_OF[vm], pg_cert, str(env["PGAF_HOSTNAME"]), f"{node}'s PGAF_HOSTNAME: pg_autoctl's and the monitor's verify-full")
        urls.append((VM_OF[vm], COMPOSE[vm], env["PGAF_MONITOR_URL"]))
        urls.append((VM_OF[vm], COMPOSE[vm], compose[vm]["services"]["postgres-exporter"]["environment"]["DATA_SOURCE_NAME"]))
        need_cn(VM_OF[vm], "pgautofailover_replicator", env.get("PGSSLCERT"), f"{node}'s PGSSLCERT (replication, pg_rewind)")
    mon = compose["vm3-kafka-redis"]["services"]["monitor"]["environment"]
    need_cn("vm3", "pgautofailover_monitor", mon.get("PGSSLCERT"), "the monitor's PGSSLCERT (health checks)")
    for vm, where, url in urls:
        m = re.match(r"postgres(?:ql)?://([^:@/]+)(?::[^@]*)?@([^/]+)/", url)
        if not m:
            continue
        user, hostports = m.groups()
        for hp in hostports.split(","):
            host = hp.rpartition(":")[0]
            server_vm = vm if host in ("127.0.0.1", "localhost") else vm_of_addr.get(resolve(root, host))
            check(server_vm is not None, f"{where}: {host} is none of the VMs of {HOSTS}")
            if server_vm:
                need_name(server_vm, pg_cert, host, f"{where} connects to it with verify-full")
        need_cn(vm, user, url_params(url).get("sslcert"), f"{where}'s URL")

    # Redis: its certificate carries the names of the clients' URLs.
    redis_cert = os.path.basename({k: v for _, k, v, _ in directives(root, REDIS_CONF, None)}.get("tls-cert-file", ""))
    redis_urls = [toml.get("redis", {}).get("url", ""), env_file(root, SIDECAR_ENV).get("BSS_REDIS_URL", ""),
                  compose["vm2-app"]["services"]["sidecar"]["environment"]["BSS_REDIS_URL"],
                  flag(compose["vm3-kafka-redis"]["services"]["redis-exporter"]["command"], "redis.addr") or "",
                  flag(drop_in_exec(root, f"{VM}/systemd/prometheus-redis-exporter.service.d/bss.conf"), "redis.addr") or ""]
    for url in redis_urls:
        m = re.match(r"rediss?://(?:[^@]*@)?([^:/]+)", url)
        if m:
            need_name("vm3", redis_cert, m.group(1), f"a Redis client connects to {url.split('@')[-1]}")

    # Kafka: the nodes' certificate carries every advertised and controller
    # host (the clients' and the nodes' own https identification), and is a
    # client certificate as well as a server one.
    kafka_cert = os.path.basename(str(compose["vm3-kafka-redis"]["services"]["kafka-1"]["environment"].get("BSS_KAFKA_TLS_CERT")))
    props = {k: v for _, k, v, _ in directives(root, KAFKA_PROPS, "=")}
    kafka_hosts = {v.split("@")[1].rpartition(":")[0] for v in props.get("controller.quorum.voters", "").split(",") if "@" in v}
    for path in sorted(glob.glob(os.path.join(root, VM, "kafka/node-*.env"))):
        e = env_file(root, os.path.relpath(path, root))
        kafka_hosts |= {x.split("://")[1].rpartition(":")[0] for x in e.get("BSS_KAFKA_ADVERTISED_LISTENERS", "").split(",") if "://" in x}
    kafka_hosts |= {b.rpartition(":")[0] for b in toml.get("kafka", {}).get("brokers", "").split(",")}
    for host in sorted(kafka_hosts):
        need_name("vm3", kafka_cert, host, "a Kafka client or node connects to it with https identification")
    kpath = os.path.join(d("vm3"), kafka_cert)
    if os.path.exists(kpath):
        eku = openssl("x509", "-noout", "-ext", "extendedKeyUsage", "-in", kpath)[1]
        check("Server Authentication" in eku and "Client Authentication" in eku,
              f"VM3's {kafka_cert}: extended key usage {eku.splitlines()[-1].strip() if eku else '(none)'}, want server and "
              "client authentication (the nodes are each other's clients; Java refuses a client certificate without it)")
    finish(f"{check.n} certificate checks: each file named is made for its VM, signed by the CA, and carries the names its clients use")


def cmd_mounts(root, config_out, compose_rel):
    """Bind mounts and build contexts of `docker-compose config` output exist
    (a file the operator makes from an .example next to it counts)."""
    doc = yaml.safe_load(open(config_out, encoding="utf-8"))
    real_root = os.path.realpath(root)
    n = 0
    for name, svc in doc.get("services", {}).items():
        build = svc.get("build")
        if build:
            ctx = build["context"]
            df = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
            n += 1
            if not os.path.isdir(ctx) or not os.path.isfile(df):
                bad(f"{compose_rel}: {name}: build context {ctx} or Dockerfile {df} is missing")
        for v in svc.get("volumes", []):
            src = v.split(":")[0] if isinstance(v, str) else (v.get("source") if v.get("type") == "bind" else None)
            if not src or not src.startswith("/"):
                continue
            if not os.path.realpath(src).startswith(real_root) and not src.startswith(os.path.abspath(root)):
                print(f"   {name}: {src} is a path on the VM (not in the repository)")
                continue
            n += 1
            if not os.path.exists(src):
                if os.path.exists(src + ".example"):
                    print(f"   {name}: {os.path.relpath(src, root)} is made by the operator from {os.path.basename(src)}.example")
                else:
                    bad(f"{compose_rel}: {name} mounts {os.path.relpath(src, root)}, which does not exist")
    finish(f"{n} build contexts and bind mounts of {compose_rel} exist")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", required=True, help="repository root (or a copy of it)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("reasons")
    sub.add_parser("client-keys")
    sub.add_parser("required")
    p = sub.add_parser("postgres")
    p.add_argument("binary")
    p = sub.add_parser("pg-tls")
    p.add_argument("bindir", help="PostgreSQL 15's bin directory (initdb, pg_ctl, psql)")
    p.add_argument("certs", help="make-certs.sh's OUT (a scratch folder)")
    p = sub.add_parser("redis")
    p.add_argument("server")
    p.add_argument("cli")
    p.add_argument("certs", help="make-certs.sh's OUT (a scratch folder)")
    p = sub.add_parser("sidecar")
    p.add_argument("binary", help="the built bss-sidecar (target/release/bss-sidecar)")
    p.add_argument("certs", help="make-certs.sh's OUT (a scratch folder)")
    sub.add_parser("images")
    sub.add_parser("consistency")
    sub.add_parser("tls")
    p = sub.add_parser("certs")
    p.add_argument("out", help="make-certs.sh's OUT (a scratch folder)")
    p = sub.add_parser("mounts")
    p.add_argument("config_out")
    p.add_argument("compose")
    a = ap.parse_args()
    root = a.root
    if a.cmd == "reasons":
        cmd_reasons(root)
    elif a.cmd == "client-keys":
        cmd_client_keys(root)
    elif a.cmd == "required":
        cmd_required(root)
    elif a.cmd == "postgres":
        cmd_postgres(root, a.binary)
    elif a.cmd == "pg-tls":
        cmd_pg_tls(root, a.bindir, a.certs)
    elif a.cmd == "redis":
        cmd_redis(root, a.server, a.cli, a.certs)
    elif a.cmd == "sidecar":
        cmd_sidecar(root, a.binary, a.certs)
    elif a.cmd == "images":
        cmd_images(root)
    elif a.cmd == "consistency":
        cmd_consistency(root)
    elif a.cmd == "tls":
        cmd_tls(root)
    elif a.cmd == "certs":
        cmd_certs(root, a.out)
    elif a.cmd == "mounts":
        cmd_mounts(root, a.config_out, a.compose)


if __name__ == "__main__":
    main()
