"""The sampling loop of the benchmarks' samplers (proc_usage.py,
sink_lag.py): one sample every INTERVAL seconds until SIGTERM or SIGINT,
or until MAX_SECONDS have passed."""
import signal
import time


def every(interval, max_seconds, take):
    """Calls take() every `interval` seconds until a stop signal or
    `max_seconds`; a signal ends the wait between samples at once."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    began = time.time()
    while not stop and time.time() - began <= max_seconds:
        take()
        end = time.time() + interval
        while not stop and time.time() < end:
            time.sleep(min(0.2, interval))
