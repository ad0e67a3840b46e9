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
COMPOSE = {name: f"{VM}/{name}/compose.yml" for name in ("vm1-postgres", "vm2-app", "vm3-kafka-redis")}

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
    units) without starting; as root too, since -C comes first."""
    conf = os.path.join(root, PG_CONF)
    want = {"wal_level": "logical", "synchronous_commit": "on", "max_slot_wal_keep_size": None,
            "wal_compression": None, "shared_buffers": None, "bss.region": None}
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


def cmd_redis(root, redis_server, redis_cli):
    """Starts redis-server with redis.conf and users.acl.example on a unix
    socket only (--port 0) for a few seconds, and asks it what it runs with."""
    lua = os.path.join(root, "bss-sidecar/src/sink/redis_functions.lua")
    acl_users = {}
    for line in lines(root, REDIS_ACL):
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "user":
            acl_users[parts[1]] = parts[2:]
    passwords = {u: next((r[1:] for r in rules if r.startswith(">")), "") for u, rules in acl_users.items()}
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "redis.sock")
        acl = os.path.join(tmp, "users.acl")
        with open(acl, "w", encoding="utf-8") as f:
            f.write(read(root, REDIS_ACL))
        log = open(os.path.join(tmp, "redis.log"), "w+", encoding="utf-8")
        proc = subprocess.Popen(
            [redis_server, os.path.join(root, REDIS_CONF), "--port", "0", "--unixsocket", sock,
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

            for key in ("appendonly", "appendfsync", "maxmemory-policy", "maxmemory", "protected-mode"):
                out = cli("admin", "CONFIG", "GET", key).splitlines()
                print(f"   {key} = {out[1] if len(out) > 1 else out}")
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
            checks = [["FCALL", "bss_apply_events_v1", "1", "bss:events:x"]]
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


def cmd_sidecar(root, binary):
    """The sidecar checks its TOML itself (bss-sidecar --check-config: the
    same parse and checks as at start, connecting to nothing); its
    [[detector]]s are bss-detect/detectors.toml's."""
    path = os.path.join(root, SIDECAR_TOML)
    with open(path, "rb") as f:
        conf = tomllib.load(f)
    if not os.access(binary, os.X_OK):
        bad(f"{binary} is not an executable bss-sidecar (HINT: cargo build --release -p bss-sidecar)")
    else:
        # Only the file: none of this shell's BSS_* settings over it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BSS_")}
        r = subprocess.run([binary, "--check-config", path], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            bad(f"{SIDECAR_TOML}: the sidecar refuses to start with it: {r.stderr.strip()}")
        else:
            print("   " + r.stdout.strip())
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
        nonlocal n
        out = []
        for i, line in enumerate(lines(root, rel), 1):
            f = line.split("#")[0].split()
            if not f:
                continue
            if f[0] == "local" and len(f) >= 4:
                typ, db, user, addr, method = f[0], f[1], f[2], None, f[3]
            elif f[0].startswith("host") and len(f) >= 5:
                typ, db, user, addr, method = f[0], f[1], f[2], f[3], f[4]
            else:
                bad(f"{rel}:{i}: cannot parse: {line.strip()}")
                continue
            n += 1
            if method not in methods:
                bad(f"{rel}:{i}: unknown method {method}")
            if method in ("trust", "password", "md5") or (typ != "local" and method == "peer"):
                bad(f"{rel}:{i}: {method}: use scram-sha-256 (peer for local)")
            for u in user.split(","):
                if u != "all" and u.lstrip("+") not in known:
                    bad(f"{rel}:{i}: role {u} is not created by {creator}")
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
            bad(f"{PG_HBA_MONITOR}: no host line lets autoctl_node into pg_auto_failover from {m} ({pgaf[m]['host']})")
        n += 1
        for other in node_names:
            if other == m:
                continue
            n += 2
            if not allows(hba, "replication", "pgautofailover_replicator", pgaf[other]["host"]):
                bad(f"{PG_HBA}: {m} does not let {other} ({pgaf[other]['host']}) replicate from it "
                    "(host replication pgautofailover_replicator): after a failover the old primary cannot follow")
            if not allows(hba, "postgres", "pgautofailover_replicator", pgaf[other]["host"]):
                bad(f"{PG_HBA}: {m} does not let {other} ({pgaf[other]['host']}) into database postgres as "
                    "pgautofailover_replicator (pg_rewind)")
        n += 1
        if not allows(hba, "postgres", "pgautofailover_monitor", mon["host"]):
            bad(f"{PG_HBA}: no host line lets the monitor's health checks (pgautofailover_monitor, database postgres) "
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
            # Every node, in order, each where it listens: the sidecar finds the primary of the moment.
            same(f"{where}: the sidecar's hosts vs node1's and node2's PGAF_HOSTNAME:PGAF_PORT",
                 [f"{h}:{p}" for h, p in pairs], [f"{pgaf[m]['host']}:{pgaf[m]['port']}" for m in members])
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
                bad(f"{where}: no pg_hba.conf host line lets {user} into {db}")
            elif host == "127.0.0.1" and not any(h[3].startswith("127.0.0.1") for h in lines_for):
                bad(f"{where}: {user} connects over loopback, but pg_hba.conf lets it in only from {[h[3] for h in lines_for]}")
            if user == "bss_sidecar":
                vm2_peer = [h[3] for h in lines_for]

    # The sidecar's pg_hba.conf line is VM2's address.
    same("pg_hba.conf's bss_sidecar address vs VM2 in vm2-app/compose.yml's header",
         vm2_peer and vm2_peer[0].split("/")[0], re.search(r"# VM2 \(([\d.]+)", read(root, COMPOSE["vm2-app"])).group(1))

    # Redis: the users the clients name exist in users.acl.example and are on; the host is bound.
    acl = {}
    for line in lines(root, REDIS_ACL):
        p = line.split()
        if len(p) >= 2 and p[0] == "user":
            acl[p[1]] = p[2:]
    binds = set(re.search(r"^bind (.*)$", read(root, REDIS_CONF), re.M).group(1).split())
    redis_urls = [
        (COMPOSE["vm2-app"], compose["vm2-app"]["services"]["sidecar"]["environment"]["BSS_REDIS_URL"]),
        (f"{VM}/sidecar/sidecar.env.example", env_file(root, f"{VM}/sidecar/sidecar.env.example")["BSS_REDIS_URL"]),
        (SIDECAR_TOML, toml["redis"]["url"]),
    ]
    for where, url in redis_urls:
        m = re.match(r"redis://(?:([^:@]+)(?::[^@]*)?@)?([^:/]+):(\d+)", url)
        n += 1
        if not m:
            bad(f"{where}: cannot parse the Redis URL {url}")
            continue
        user, host, port = m.groups()
        if user is not None and (user not in acl or "on" not in acl[user]):
            bad(f"{where}: Redis user {user} is not an enabled user of {REDIS_ACL}")
        if host not in binds or port != "6379":
            bad(f"{where}: {host}:{port} is not where redis.conf listens (bind {' '.join(sorted(binds))}, port 6379)")
    exporter_cmds = [
        (COMPOSE["vm3-kafka-redis"], compose["vm3-kafka-redis"]["services"]["redis-exporter"]["command"]),
        (f"{VM}/systemd/prometheus-redis-exporter.service.d/bss.conf",
         drop_in_exec(root, f"{VM}/systemd/prometheus-redis-exporter.service.d/bss.conf")),
    ]
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
            if ls.get(name) != addr:
                bad(f"{where}: advertised {name}://{addr} is not a listener ({ls.get(name)})")
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
    p = sub.add_parser("redis")
    p.add_argument("server")
    p.add_argument("cli")
    p = sub.add_parser("sidecar")
    p.add_argument("binary", help="the built bss-sidecar (target/release/bss-sidecar)")
    sub.add_parser("images")
    sub.add_parser("consistency")
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
    elif a.cmd == "redis":
        cmd_redis(root, a.server, a.cli)
    elif a.cmd == "sidecar":
        cmd_sidecar(root, a.binary)
    elif a.cmd == "images":
        cmd_images(root)
    elif a.cmd == "consistency":
        cmd_consistency(root)
    elif a.cmd == "mounts":
        cmd_mounts(root, a.config_out, a.compose)


if __name__ == "__main__":
    main()
