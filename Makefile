# pg_bss — the two commands: `make demo` and `make test`. Both install what is
# missing on Debian 12 (scripts/setup.sh) and skip what is already there.

SHELL := /bin/bash
PGPORT ?= 28815
export PGPORT
# PostgreSQL will not run as root: clusters run as this OS user when we are root.
PG_USER := $(if $(filter 0,$(shell id -u)),postgres,$(shell id -un))
PGRX_TEST_DATA := $(CURDIR)/target/pgrx-test-data
# Every Rust test run selects the whole workspace (but the extension, which
# cargo-pgrx builds), so features resolve the same in each and no dependency is
# built twice; a crate's integration tests are one binary (tests/<name>/main.rs)
# chosen with --test. A crate's unit tests run in `make check`.
CARGO_TEST := cargo test --release --workspace --exclude pg_bss

.PHONY: demo demo-stop check test-regions bench-regions test-local test-vm test test-backup test-tls bench-tls setup setup-build test-upgrade test-regress devdb devdb-stop devdb-reset test-pg test-wal test-e2e test-sidecar test-loadgen bench bench-wal bench-pg bench-cdc bench-e2e bench-detect detect-nab bench-anomaly bench-intelligence bench-ask bench-instructions soak test-detect test-intel intel-classifier intel-forecast intel-ask test-monitoring chaos test-chaos testbed-down

# The one-machine layout (deploy/local/) with a sample of BSS traffic; it
# keeps running until demo-stop.
demo: setup
	scripts/demo.sh

demo-stop:
	deploy/local/local.sh down

# The fast tier: formatting, features resolved alike with and without tests
# (so that builds share their artifacts), clippy with warnings as errors, and
# the unit tests of every crate; no servers, minutes once the dependencies
# are built. Release builds, shared with make test's later steps.
check: setup-build
	cargo fmt --all -- --check
	scripts/check_features.sh
	cargo clippy --release --workspace --all-targets -- -D warnings
	$(CARGO_TEST) --lib --bins
	python3 -m unittest discover -s benches -p 'test_*.py'

# Everything, what CI runs (.ci/run).
test: setup check test-wal test-pg test-regress test-upgrade test-regions test-backup test-tls test-e2e test-intel test-sidecar test-loadgen test-detect test-monitoring test-local test-vm test-chaos

setup:
	scripts/setup.sh

# Only what building needs (compilers, PostgreSQL's headers, cargo-pgrx).
setup-build:
	scripts/setup.sh --build

devdb:
	scripts/devdb.sh start

devdb-stop:
	scripts/devdb.sh stop

devdb-reset:
	scripts/devdb.sh reset

# The extension's #[pg_test] and #[test] tests, in a throwaway cluster that
# cargo-pgrx starts (as $(PG_USER)).
test-pg: setup
	source scripts/lib.sh && make_pg_dir "$(PGRX_TEST_DATA)"
	cd pg_bss && cargo pgrx test pg15 $(if $(filter postgres,$(PG_USER)),--runas postgres) --pgdata "$(PGRX_TEST_DATA)"

# What a psql user sees (pg_regress: results, errors with SQLSTATE, DETAIL
# and HINT), in a temporary instance: pg_bss/tests/pg_regress/.
test-regress: setup
	pg_bss/tests/pg_regress/run.sh

# pg_bss 0.1.0 updated step by step to the crate's version: rows intact and
# the schema equal to a fresh install's (pg_bss/tests/upgrade/run.sh).
test-upgrade: setup
	pg_bss/tests/upgrade/run.sh

# Two regions on this machine (scripts/regions.sh: a cluster each, joined
# both ways by logical replication): replication, ownership (refusal,
# forwarding, homes), epochs and conflicts (tests/tests/regions/).
test-regions: setup
	scripts/regions.sh test

# Base backup, WAL archiving and a point-in-time restore with pgBackRest, on
# a throwaway cluster: deploy/backup/pitr_check.sh.
test-backup: setup
	deploy/backup/pitr_check.sh

# Every connection over TLS against TLS-only servers (a private CA; tansu
# behind haproxy), plaintext and a wrong CA refused: deploy/tls/tls_check.sh.
test-tls: setup
	deploy/tls/tls_check.sh

# The spool's log engine: recovery, corruption, kill -9, model tests (its
# unit tests run in `make check`).
test-wal:
	$(CARGO_TEST) --test wal --test wal_children

# Tests across real, separate sessions against the devdb (concurrency, gap-safety).
test-e2e: devdb
	BSS_DATABASE_URL="$$(scripts/devdb.sh url)" $(CARGO_TEST) --test sessions -- --test-threads 1

# Every benchmark; the figures in the README come from these.
bench: bench-wal bench-pg bench-cdc bench-tls bench-e2e bench-detect bench-anomaly bench-intelligence bench-regions

# The regions' figures in the README (Region scenarios measured): the chaos
# suite's region scenarios at 2,000 events/s in all and at 400,000 a minute
# (benches/regions/run.sh; about 20 minutes; needs root).
bench-regions: setup
	benches/regions/run.sh

# The sidecar's catch-up over TLS against plaintext, same servers, same run:
# benches/tls/run.sh.
bench-tls: setup
	benches/tls/run.sh

# bss-wal criterion benchmarks (bss-wal/benches/wal.rs), then the README table.
bench-wal:
	cargo bench -p bss-wal --bench wal
	python3 benches/criterion_report.py

# The sidecar: each sink against a real redis-server / tansu broker the tests
# start, and the whole path from the devdb to Kafka and Redis (its unit
# tests run in `make check`). The intelligence stage's tests need a trained
# classifier: test-intel leaves one (it runs first in `make test`), else it
# is trained here.
test-sidecar: setup devdb target/intel/classifier.json
	BSS_DATABASE_URL="$$(scripts/devdb.sh url)" $(CARGO_TEST) --test sidecar -- --test-threads 1

# The load generator: simulator invariants and schemas, then a short run
# against the devdb whose report must match what is in bss.events (its unit
# tests run in `make check`).
test-loadgen: setup devdb
	BSS_DATABASE_URL="$$(scripts/devdb.sh url)" $(CARGO_TEST) --test loadgen -- --test-threads 1

# The detectors: precision/recall/F1 on bss-loadgen's labelled anomalies
# (printed; floors asserted); each detector against synthetic series with
# known anomalies, and the pipeline, are its unit tests in `make check`.
test-detect:
	$(CARGO_TEST) --test loadgen_f1 --test nab_subset -- --nocapture

# Every detector, at its defaults, at the best of a few of its own
# thresholds and on the anomaly likelihood, on NAB's real series beside
# NAB's published detectors (bss-detect/data/nab).
detect-nab:
	cargo run --release -p bss-detect --example nab

# bss-intel against its references: VADER against vaderSentiment 3.3.2
# itself, sentence by sentence, the embeddings against all-MiniLM-L6-v2's
# published values (the data comes from scripts/intel_data.sh); then the
# classifier trained and scored on the held-out tickets, a day of rate
# forecasts backtested against seasonal naive, and bss-intel ask's questions
# over a seeded scratch database on the devdb, as roles with and without
# the rights (scripts/intel_ask.sh).
test-intel: setup devdb
	BSS_INTEL_REQUIRE_DATA=1 $(CARGO_TEST) --test intel
	scripts/intel_classifier.sh --evaluate
	scripts/intel_forecast.sh --short
	scripts/intel_ask.sh

# The ticket classifier alone: trained on bss-loadgen's generated tickets into
# target/intel/classifier.json (scripts/intel_classifier.sh).
intel-classifier: setup
	scripts/intel_classifier.sh

target/intel/classifier.json:
	scripts/intel_classifier.sh

# bss-intel ask on its labelled questions over a seeded store
# (scripts/intel_ask.sh): accuracy per template into target/intel/ask.md.
intel-ask: setup devdb
	scripts/intel_ask.sh

# The rate forecasts backtested on three weeks of simulated traffic
# (scripts/intel_forecast.sh): MASE against seasonal naive per event type.
intel-forecast: setup
	scripts/intel_forecast.sh

# Prometheus configuration, rules and their promtool unit tests, Alertmanager
# routes, and the Grafana dashboards' queries (deploy/monitoring/check.sh).
test-monitoring: setup
	deploy/monitoring/check.sh

# The local layout end to end: brings it up in target/local-test, offers a
# short load, and asks its Prometheus (HTTP API) for the pipeline's numbers.
test-local: setup
	deploy/local/e2e_test.sh
	deploy/local/ha_test.sh

# The chaos suite (chaos/run.sh): every scenario on the multi-host test bed
# with an account of every event, reports in target/chaos/<scenario>/.
# One scenario: make chaos SCENARIO=db-latency; settings: CHAOS_ARGS="fault=30 rate=3000".
chaos: setup
	chaos/run.sh $(or $(SCENARIO),all) $(CHAOS_ARGS)

# make test's short version of it: the chaos crates' own tests (the
# checkers fed bad histories, the proxy's toxics), then five short
# scenarios: one a primary's death on the HA bed, one a partition between
# two regions.
test-chaos: setup devdb
	BSS_DATABASE_URL="$$(scripts/devdb.sh url)" $(CARGO_TEST) --test faultproxy --test checkers --test devdb_check -- --test-threads 1
	chaos/run.sh sidecar-kill packet-loss partition-sidecar-broker pg-primary-kill region-partition region-loss warmup=5 fault=10 after=5 rate=1000 settle=60 kill_min=1 kill_max=3

# Removes the test bed and whatever runs in it (a run cleans up on its own;
# this is for a run killed with -9).
testbed-down:
	chaos/testbed.sh down

# The three-VM layout: compose files parse, configs give reasons, units verify.
test-vm: setup
	deploy/vm/check.sh

bench-pg: devdb
	benches/pgbench/run.sh
	benches/pgbench/time_travel.sh
	benches/pgbench/sync_rep.sh

# Instructions per append (callgrind), this checkout's pg_bss against the
# git revision BASE's (default HEAD~): make bench-instructions BASE=<rev>.
bench-instructions: setup
	benches/instructions/run.sh

# The sidecar's catch-up speed and commit-to-ack latency at 400k events/min.
bench-cdc: setup devdb
	benches/cdc/run.sh

# The seed's benchmark: bss-loadgen through the whole pipeline at 400k events/min
# for 10 minutes, then 2x and 3x (BENCH_E2E_HOLD shortens the hold).
bench-e2e: setup devdb
	benches/e2e/run.sh

# The soak (benches/soak/run.sh): 1x through the whole pipeline for DURATION
# (default 1h), the memory of every process sampled each minute; fails when
# one grows beyond SOAK_MAX_MB_PER_HOUR (default 16).
soak: setup devdb
	DURATION=$(or $(DURATION),1h) benches/soak/run.sh

# Observations per second of each detector on one core (criterion).
bench-detect:
	cargo bench -p bss-detect

# What the anomaly stage costs the sidecar at 400k events/min (CPU share).
bench-anomaly: setup devdb
	benches/stage/run.sh anomaly

# What the intelligence stage costs the sidecar at 400k events/min (CPU share,
# tickets classified by the model, commit to classification).
bench-intelligence: setup devdb
	benches/stage/run.sh intelligence

# What bss-intel ask's questions cost PostgreSQL on a store of 857,000
# events (a scratch database on the devdb), against reading the whole store.
bench-ask: setup devdb
	benches/ask/run.sh
