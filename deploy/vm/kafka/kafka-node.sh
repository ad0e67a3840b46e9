#!/usr/bin/env bash
# Starts one Kafka node of VM3 (KRaft, broker and controller): writes its
# properties (server.properties plus this node's id, listeners, data
# directory and TLS key and certificate), formats its data directory on the
# first start, then runs the broker in the foreground. Also writes the
# client properties for the Kafka tools beside it (kafka-tools.properties in
# BSS_KAFKA_RUN_DIR: TLS with the node's certificate), which the container's
# healthcheck and the runbooks' commands pass as --command-config. Used by the containers of
# deploy/vm/vm3-kafka-redis/compose.yml and by kafka@.service (tarball
# install), so both run the same configuration.
#
# Environment (node-N.env gives the first four; the compose file or the
# unit the rest):
#   BSS_KAFKA_NODE_ID               1, 2 or 3
#   BSS_KAFKA_LISTENERS             listeners=
#   BSS_KAFKA_ADVERTISED_LISTENERS  advertised.listeners=
#   BSS_JMX_EXPORTER_LISTEN         host:port of the JMX exporter's /metrics; empty: no exporter
#   BSS_KAFKA_CLUSTER_ID            the cluster's id (kafka-storage.sh random-uuid, once per cluster)
#   BSS_KAFKA_HEAP                  JVM heap flags (default -Xms3g -Xmx3g)
#   BSS_KAFKA_DATA_DIR              log.dirs (default /var/lib/kafka/data)
#   BSS_KAFKA_RUN_DIR               where the node's properties file is written (default /tmp)
#   BSS_KAFKA_CONF_DIR              where server.properties, log4j2.properties and jmx-exporter.yml are (default: this script's folder)
#   BSS_JMX_EXPORTER_JAR            the JMX exporter agent (default /opt/jmx-exporter/jmx_prometheus_javaagent.jar)
#   BSS_KAFKA_TLS_CERT              the nodes' certificate, PEM (VM3's /etc/bss/tls/kafka.crt)
#   BSS_KAFKA_TLS_KEY               its key, PEM, unencrypted (VM3's /etc/bss/tls/kafka.key)
#   KAFKA_HOME                      the Kafka installation (default /opt/kafka)
set -euo pipefail

die() { echo "kafka-node.sh: $*" >&2; exit 1; }

node="${BSS_KAFKA_NODE_ID:-}"
case "$node" in
    1 | 2 | 3) ;;
    *) die "BSS_KAFKA_NODE_ID must be 1, 2 or 3, got '${node}' (set it in node-N.env)" ;;
esac
: "${BSS_KAFKA_LISTENERS:?kafka-node.sh: BSS_KAFKA_LISTENERS is not set (node-$node.env)}"
: "${BSS_KAFKA_ADVERTISED_LISTENERS:?kafka-node.sh: BSS_KAFKA_ADVERTISED_LISTENERS is not set (node-$node.env)}"
: "${BSS_KAFKA_TLS_CERT:?kafka-node.sh: BSS_KAFKA_TLS_CERT is not set (the compose file, kafka@.service)}"
: "${BSS_KAFKA_TLS_KEY:?kafka-node.sh: BSS_KAFKA_TLS_KEY is not set (the compose file, kafka@.service)}"
for f in "$BSS_KAFKA_TLS_CERT" "$BSS_KAFKA_TLS_KEY"; do
    [ -r "$f" ] || die "cannot read $f as $(id -un): VM3's certificates go into /etc/bss/tls (deploy/vm/make-certs.sh; deploy/README.md, Certificates)"
done
cluster_id="${BSS_KAFKA_CLUSTER_ID:-}"
case "$cluster_id" in
    "" | *CHANGE_ME*) die "BSS_KAFKA_CLUSTER_ID is not set: run 'kafka-storage.sh random-uuid' once and put it in .env (compose) or kafka.env (systemd)" ;;
esac

kafka_home="${KAFKA_HOME:-/opt/kafka}"
conf_dir="${BSS_KAFKA_CONF_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
data_dir="${BSS_KAFKA_DATA_DIR:-/var/lib/kafka/data}"
run_dir="${BSS_KAFKA_RUN_DIR:-/tmp}"
props="$run_dir/kafka-node-$node.properties"
tools="$run_dir/kafka-tools.properties"

[ -r "$conf_dir/server.properties" ] || die "no $conf_dir/server.properties"
mkdir -p "$data_dir"
# pem FILE: the PEM file as one property value (its lines joined by spaces,
# which Kafka's PEM parser reads as it reads line breaks).
pem() { tr -s '\r\n' '  ' <"$1"; }
truststore="$(sed -n 's/^ssl\.truststore\.location=//p' "$conf_dir/server.properties")"
[ -n "$truststore" ] || die "$conf_dir/server.properties has no ssl.truststore.location"
# Both files hold the node's private key: readable by this user only.
umask_before="$(umask)"
umask 077
{
    cat "$conf_dir/server.properties"
    echo
    echo "# --- node $node, written by kafka-node.sh"
    echo "node.id=$node"
    echo "listeners=$BSS_KAFKA_LISTENERS"
    echo "advertised.listeners=$BSS_KAFKA_ADVERTISED_LISTENERS"
    echo "log.dirs=$data_dir"
    echo "ssl.keystore.certificate.chain=$(pem "$BSS_KAFKA_TLS_CERT")"
    echo "ssl.keystore.key=$(pem "$BSS_KAFKA_TLS_KEY")"
} >"$props"
# The tools' client settings (kafka-topics.sh ... --command-config): TLS,
# the CA, and the node's certificate as the client's, which the listeners require.
{
    echo "security.protocol=SSL"
    echo "ssl.truststore.type=PEM"
    echo "ssl.truststore.location=$truststore"
    echo "ssl.keystore.type=PEM"
    echo "ssl.keystore.certificate.chain=$(pem "$BSS_KAFKA_TLS_CERT")"
    echo "ssl.keystore.key=$(pem "$BSS_KAFKA_TLS_KEY")"
} >"$tools"
umask "$umask_before"

# The JMX exporter runs inside the broker's JVM as a Java agent. It is set
# here, not in the environment of the container or unit, so that a
# kafka-*.sh tool started beside the broker (a healthcheck) does not try to
# bind the same port.
agent=""
if [ -n "${BSS_JMX_EXPORTER_LISTEN:-}" ]; then
    jar="${BSS_JMX_EXPORTER_JAR:-/opt/jmx-exporter/jmx_prometheus_javaagent.jar}"
    [ -f "$jar" ] || die "the JMX exporter agent $jar is missing (deploy/README.md, 'JMX exporter'), or set BSS_JMX_EXPORTER_LISTEN= to run without it"
    agent="-javaagent:$jar=$BSS_JMX_EXPORTER_LISTEN:$conf_dir/jmx-exporter.yml"
fi
export KAFKA_OPTS="${agent}${KAFKA_OPTS:+ $KAFKA_OPTS}"
export KAFKA_HEAP_OPTS="${BSS_KAFKA_HEAP:--Xms3g -Xmx3g}"
# Log to stdout only (docker logs, journald), not to files under the installation.
export KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$conf_dir/log4j2.properties"

# Format once: --ignore-formatted makes later starts a no-op, and a data
# directory of another cluster id still fails here, loudly.
"$kafka_home/bin/kafka-storage.sh" format --ignore-formatted --cluster-id "$cluster_id" --config "$props"

exec "$kafka_home/bin/kafka-server-start.sh" "$props"
