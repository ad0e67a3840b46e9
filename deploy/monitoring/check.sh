#!/usr/bin/env bash
# Checks deploy/monitoring: the Prometheus configs, the rules and their unit
# tests, the Alertmanager config and its routes, the dashboards and the metric
# names of every query; then shows that these checks can fail, by running them
# on copies with one deliberate mistake each, which they must reject.
# Needs promtool (apt: prometheus) and python3; amtool (apt:
# prometheus-alertmanager) if present, else its checks are skipped.
# Ends with "check.sh: N passed, M failed"; exits 1 if anything failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
HERE="$PWD"
source ../check_lib.sh

command -v promtool >/dev/null || { echo "promtool is missing: apt-get install -y prometheus" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is missing" >&2; exit 1; }
HAVE_AMTOOL=0
command -v amtool >/dev/null && HAVE_AMTOOL=1

# --- the checks; each takes the monitoring folder to check --------------------

check_configs() { promtool check config "$1/prometheus.yml" && promtool check config "$1/prometheus.local.yml"; }
check_rules() { promtool check rules "$1"/rules/*.yml; }
test_rules() { (cd "$1" && promtool test rules tests/*.yml); }

# name severity component, one line per alert of rules/alerts.yml
alert_labels() {
    awk '/^ *- alert:/ { if (a != "") print a, s, c; a = $3; s = "-"; c = "-" }
         /^ *severity:/ { s = $2 } /^ *component:/ { c = $2 }
         END { if (a != "") print a, s, c }' "$1/rules/alerts.yml"
}

# Every alert says what to do: a summary, and a description with "Action:".
lint_alerts() {
    awk 'function done() { if (a == "") return; n++
             if (!sum) { print a ": no summary"; bad = 1 }
             if (!act) { print a ": no description with \"Action:\""; bad = 1 } }
         /^ *- alert:/ { done(); a = $3; sum = 0; act = 0 }
         /^ *summary:/ { sum = 1 } /Action:/ { act = 1 }
         END { done(); print n " alerts, each with a summary and an action"; exit bad }' "$1/rules/alerts.yml"
}

check_alertmanager() { amtool check-config "$1/alertmanager.yml"; }

# Each alert, with its own labels, must reach the receiver its severity names.
check_routes() {
    local name severity component want n=0
    while read -r name severity component; do
        case "$severity" in
            page) want=bss-pager ;;
            ticket) want=bss-tickets ;;
            *) echo "$name: severity '$severity' is neither page nor ticket"; return 1 ;;
        esac
        if ! amtool config routes test --config.file="$1/alertmanager.yml" --verify.receivers="$want" \
                alertname="$name" severity="$severity" component="$component" >/dev/null 2>&1; then
            echo "$name ($severity) does not reach $want"
            return 1
        fi
        n=$((n + 1))
    done < <(alert_labels "$1")
    echo "$n alerts reach the receiver of their severity"
}

check_names() {
    python3 "$HERE/check_dashboards.py" --root "$1" --emit-rules "$TMP/dashboard_queries.yml" \
        && promtool check rules "$TMP/dashboard_queries.yml"
}

# --- running them ---------------------------------------------------------------

# mutated NAME FILE FROM TO: a copy of this folder in which FILE has FROM
# replaced by TO (FROM must occur exactly once); prints the copy's path.
mutated() {
    local copy="$TMP/$1"
    cp -r "$HERE" "$copy"
    replace_once "$copy/$2" "$3" "$4"
    echo "$copy"
}

run "promtool check config (prometheus.yml, prometheus.local.yml)" check_configs "$HERE"
run "promtool check rules (rules/*.yml)" check_rules "$HERE"
run "promtool test rules (tests/*.yml)" test_rules "$HERE"
run "every alert has a summary and an action" lint_alerts "$HERE"
if [ "$HAVE_AMTOOL" = 1 ]; then
    run "amtool check-config alertmanager.yml" check_alertmanager "$HERE"
    run "amtool: each alert reaches its severity's receiver" check_routes "$HERE"
else
    echo "== amtool is not installed (apt-get install -y prometheus-alertmanager): skipped alertmanager.yml"
fi
run "dashboards, and metric names in dashboards, rules and tests" check_names "$HERE"

# The same checks must reject a copy with one mistake each.
copy="$(mutated typo-dashboard grafana/dashboards/pipeline-overview.json \
    '"bss_sidecar_spool_max_events"' '"bss_sidecar_spool_max_event"')"
rejects "a misspelt metric in a dashboard" "unknown metric 'bss_sidecar_spool_max_event'" check_names "$copy"

copy="$(mutated typo-alert rules/alerts.yml 'expr: redis_up == 0' 'expr: redis_upp == 0')"
rejects "a misspelt metric in an alert" "unknown metric 'redis_upp'" check_names "$copy"

copy="$(mutated typo-function rules/recording.yml \
    'histogram_quantile(0.95,' 'histogram_quantil(0.95,')"
rejects "a misspelt function in a recording rule" "unknown function 'histogram_quantil'" check_names "$copy"

copy="$(mutated typo-test-series tests/alerts_dependencies_test.yml \
    "series: 'redis_up{job=\"redis_exporter\", instance=\"10.0.0.7:9121\"}'
        values: '1x10'" \
    "series: 'redis_upp{job=\"redis_exporter\", instance=\"10.0.0.7:9121\"}'
        values: '1x10'")"
rejects "a misspelt input series in a rule test" "unknown metric 'redis_upp'" check_names "$copy"

copy="$(mutated syntax-dashboard grafana/dashboards/postgresql.json \
    '"expr": "min(pg_up)"' '"expr": "min(pg_up"')"
rejects "a PromQL syntax error in a dashboard" "dashboard:query_" check_names "$copy"

copy="$(mutated duplicate-id grafana/dashboards/anomalies.json '"id": 3,' '"id": 2,')"
rejects "a duplicate panel id" "missing or duplicate panel id" check_names "$copy"

copy="$(mutated loose-threshold rules/alerts.yml \
    'bss:commit_to_ack_seconds:p95_5m{sink="kafka"} > 0.2' 'bss:commit_to_ack_seconds:p95_5m{sink="kafka"} > 0.5')"
rejects "the p95 alert at 500 ms instead of 200 ms" "BssKafkaCommitToAckP95High" test_rules "$copy"

copy="$(mutated no-for rules/alerts.yml "        expr: bss_sidecar_source_streaming == 0
        for: 2m" "        expr: bss_sidecar_source_streaming == 0")"
rejects "the not-streaming alert without its 2 minutes" "BssSidecarNotStreaming" test_rules "$copy"

if [ "$HAVE_AMTOOL" = 1 ]; then
    copy="$(mutated pages-to-tickets alertmanager.yml "      receiver: bss-pager
" "      receiver: bss-tickets
")"
    rejects "pages routed to the ticket queue" "does not reach bss-pager" check_routes "$copy"
fi

finish
