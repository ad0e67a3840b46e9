#!/usr/bin/env python3
"""Checks the Grafana dashboards, and the metric names of every PromQL
expression in the dashboards, the rule files and the rule tests.

Dashboards: valid JSON, a uid of their own, unique panel ids and titles, a
Prometheus datasource on every query panel, at least one non-empty target.
Names: every metric name a PromQL expression uses is in known_metrics.txt or
is a recording rule of rules/recording.yml, and every function it calls is a
PromQL function; so a misspelt name in a query fails here.

Python 3 standard library only (no YAML parser): the rule files are read by
their `record:`, `expr:` and `series:` lines, in the styles these files use.

    check_dashboards.py [--root DIR] [--emit-rules FILE]

--emit-rules writes every dashboard expression as a recording rule into FILE,
so that `promtool check rules FILE` checks their syntax with Prometheus's
own parser. Exit status 1 when anything is wrong, each problem on stderr.
"""
import argparse
import glob
import json
import os
import re
import sys

AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
    "count_values", "bottomk", "topk", "quantile",
}
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh",
    "atan", "atanh", "avg_over_time", "ceil", "changes", "clamp", "clamp_max",
    "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv",
    "exp", "floor", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_sum", "holt_winters", "hour", "idelta",
    "increase", "irate", "label_join", "label_replace", "last_over_time",
    "ln", "log10", "log2", "max_over_time", "min_over_time", "minute",
    "month", "pi", "predict_linear", "present_over_time",
    "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn",
    "sin", "sinh", "sort", "sort_desc", "sqrt", "stddev_over_time",
    "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp",
    "vector", "year",
}
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "atan2", "offset", "start", "end", "inf", "nan",
}
QUERY_PANEL_TYPES = {"timeseries", "stat", "gauge"}
DATASOURCE_UIDS = {"${DS_PROMETHEUS}", "prometheus"}

STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^{}]*\}")
RANGE = re.compile(r"\[[^\[\]]*\]")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
TOKEN = re.compile(r"(?P<num>\d[\w.]*)|(?P<var>\$\{?\w+\}?)|(?P<id>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<other>\S)")


def names_in(expr):
    """(metric names, called functions) of a PromQL expression."""
    text = STRING.sub('""', expr)
    text = MATCHERS.sub(" ", text)
    text = RANGE.sub(" ", text)
    text = GROUPING.sub(r"\1 ", text)
    metrics, calls = [], []
    tokens = [(m.lastgroup, m.group(), m.end()) for m in TOKEN.finditer(text)]
    for i, (kind, value, end) in enumerate(tokens):
        if kind != "id":
            continue
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if value in KEYWORDS:
            continue
        if following == "(" or value in AGGREGATIONS or value in FUNCTIONS:
            calls.append(value)
        else:
            metrics.append(value)
    return metrics, calls


def yaml_fields(path, key):
    """Values of `key:` in a YAML file written in this folder's styles:
    `key: value`, `key: 'value'`, `key: "value"`, and `key: |` / `key: >-`
    blocks. Returns [(line number, value)]."""
    lines = open(path, encoding="utf-8").read().splitlines()
    found = []
    pattern = re.compile(r"^(\s*)(?:- )?" + re.escape(key) + r":\s*(.*)$")
    i = 0
    while i < len(lines):
        m = pattern.match(lines[i])
        if not m:
            i += 1
            continue
        indent, rest = len(m.group(1)), m.group(2).strip()
        if rest in ("|", "|-", "|+", ">", ">-", ">+"):
            block, j = [], i + 1
            while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
                block.append(lines[j].strip())
                j += 1
            found.append((i + 1, "\n".join(block).strip()))
            i = j
            continue
        if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "'\"":
            rest = rest[1:-1]
        found.append((i + 1, rest))
        i += 1
    return found


def read_known(root):
    known = set()
    for line in open(os.path.join(root, "known_metrics.txt"), encoding="utf-8"):
        name = line.split("#", 1)[0].strip()
        if name:
            known.add(name)
    return known


def check_names(where, expr, known, problems):
    metrics, calls = names_in(expr)
    for name in metrics:
        if name not in known:
            problems.append(f"{where}: unknown metric {name!r} in: {expr}")
    for name in calls:
        if name not in FUNCTIONS and name not in AGGREGATIONS:
            problems.append(f"{where}: unknown function {name!r} in: {expr}")
    return len(metrics)


def panels_of(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        for inner in panel.get("panels", []) or []:
            yield inner


def check_dashboard(path, known, problems, uids, emitted):
    name = os.path.basename(path)
    try:
        dashboard = json.load(open(path, encoding="utf-8"))
    except (OSError, ValueError) as e:
        problems.append(f"{name}: not valid JSON: {e}")
        return 0
    uid = dashboard.get("uid")
    if not uid:
        problems.append(f"{name}: no uid")
    elif uid in uids:
        problems.append(f"{name}: uid {uid!r} also used by {uids[uid]}")
    else:
        uids[uid] = name
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 36:
        problems.append(f"{name}: schemaVersion missing or older than 36")
    ids, titles, count = set(), set(), 0
    for panel in panels_of(dashboard):
        pid, title, kind = panel.get("id"), panel.get("title"), panel.get("type")
        where = f"{name}: panel {pid} {title!r}"
        if pid is None or pid in ids:
            problems.append(f"{where}: missing or duplicate panel id")
        ids.add(pid)
        if not title or title in titles:
            problems.append(f"{where}: missing or duplicate panel title")
        titles.add(title)
        if kind == "row":
            continue
        if kind not in QUERY_PANEL_TYPES:
            problems.append(f"{where}: panel type {kind!r} is not one of {sorted(QUERY_PANEL_TYPES)}")
        if "gridPos" not in panel:
            problems.append(f"{where}: no gridPos")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no target")
        for ds in [panel.get("datasource")] + [t.get("datasource") for t in targets]:
            if not isinstance(ds, dict) or ds.get("type") != "prometheus" or ds.get("uid") not in DATASOURCE_UIDS:
                problems.append(f"{where}: datasource {ds!r} is not Prometheus {sorted(DATASOURCE_UIDS)}")
        for target in targets:
            expr = (target.get("expr") or "").strip()
            if not expr:
                problems.append(f"{where}: target {target.get('refId')} has no expr")
                continue
            count += check_names(where, expr, known, problems)
            emitted.append((f"{name} panel {pid}", expr))
    return count


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=here, help="the monitoring folder (default: this script's)")
    parser.add_argument("--emit-rules", help="write the dashboards' expressions as recording rules here")
    args = parser.parse_args()
    root = args.root

    problems = []
    known = read_known(root)
    recording = os.path.join(root, "rules", "recording.yml")
    records = [v for _, v in yaml_fields(recording, "record")]
    if not records:
        problems.append(f"{recording}: no recording rule found")
    known |= set(records)

    emitted, uids = [], {}
    dashboards = sorted(glob.glob(os.path.join(root, "grafana", "dashboards", "*.json")))
    if not dashboards:
        problems.append("no dashboard in grafana/dashboards/")
    for path in dashboards:
        n = check_dashboard(path, known, problems, uids, emitted)
        print(f"{os.path.relpath(path, root)}: {n} metric references")

    for path in sorted(glob.glob(os.path.join(root, "rules", "*.yml"))):
        exprs = yaml_fields(path, "expr")
        if not exprs:
            problems.append(f"{path}: no expr found")
        n = sum(check_names(f"{os.path.relpath(path, root)}:{line}", e, known, problems) for line, e in exprs)
        print(f"{os.path.relpath(path, root)}: {len(exprs)} expressions, {n} metric references")

    # A misspelt input series would make a "stays silent" test pass vacuously.
    for path in sorted(glob.glob(os.path.join(root, "tests", "*.yml"))):
        rel = os.path.relpath(path, root)
        n = 0
        for line, series in yaml_fields(path, "series"):
            n += check_names(f"{rel}:{line}", series, known, problems)
        for line, expr in yaml_fields(path, "expr"):
            n += check_names(f"{rel}:{line}", expr, known, problems)
        print(f"{rel}: {n} metric references")

    if args.emit_rules:
        with open(args.emit_rules, "w", encoding="utf-8") as f:
            f.write("# Generated by check_dashboards.py: the dashboards' queries, for promtool check rules.\n")
            f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
            for i, (where, expr) in enumerate(emitted):
                f.write(f"      # {where}\n      - record: dashboard:query_{i}\n")
                f.write(f"        expr: {json.dumps(expr)}\n")

    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"OK: {len(dashboards)} dashboards, {len(emitted)} dashboard queries, {len(known)} known names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
