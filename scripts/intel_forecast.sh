#!/usr/bin/env bash
# The rate forecasts' backtest (make intel-forecast; make test-intel runs a
# short one with --short): bss-loadgen's simulated traffic (FORECAST_DAYS
# days of per-minute counts of every event type at 400,000 events a minute
# at the busiest weekday hour, seed FORECAST_SEED) forecast by bss-intel
# (MSTL with daily and weekly seasons, AutoETS, on 5-minute buckets of the
# 14 days before each forecast), the next hour every hour of the last 7
# days, scored beside seasonal naive into target/intel/forecast.{md,json}.
# Fails when a type's MASE is 1 or more (the target is below 1).
source "$(dirname "$0")/lib.sh"
SEED="${FORECAST_SEED:-26}"
BIN="$ROOT/target/release"
DATA="$ROOT/target/intel"
if [ "${1:-}" = --short ]; then
    # One day of forecasts every 2 hours: about 15 s.
    days=15 test_days=1 every=120 out="$DATA/forecast-short"
else
    days=21 test_days=7 every=60 out="$DATA/forecast"
fi
build_binaries
mkdir -p "$DATA"
log "backtesting rate forecasts on $days days of simulated traffic (seed $SEED), the last $test_days forecast every $every minutes"
"$BIN/bss-loadgen" rates --seed "$SEED" --days "$days" |
    "$BIN/bss-intel" forecast --window-days 14 --test-days "$test_days" --every-minutes "$every" \
        --json "$out.json" --max-mase 1 | tee "$out.md"
