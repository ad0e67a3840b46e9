"""Tests of proc_usage.py's CPU accounting and its per-window table (make
check runs them):
python3 -m unittest discover -s benches -p 'test_*.py'."""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# A parent that, once told to go, starts twelve short-lived children one
# after the other, each burning 0.15 s of CPU and exiting (as PostgreSQL's
# postmaster starts autovacuum workers), then prints the CPU its reaped
# children used, as the kernel counted it, and waits to be stopped.
PARENT = r"""
import os, sys, time
sys.stdin.readline()
for _ in range(12):
    pid = os.fork()
    if pid == 0:
        t = time.process_time()
        while time.process_time() - t < 0.15:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
    time.sleep(0.05)
t = os.times()
print(t.children_user + t.children_system, flush=True)
time.sleep(60)
"""


class ReapedChildrenCount(unittest.TestCase):
    def test_children_that_no_sample_saw_count_in_full(self):
        parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "usage.jsonl")
                # Samples 2 s apart: most children live and die between two.
                sampler = subprocess.Popen([
                    sys.executable, os.path.join(HERE, "proc_usage.py"), "sample", out,
                    "--role", f"work=pid:{parent.pid}", "--interval", "2", "--max-seconds", "120",
                ])
                try:
                    # The children start after the first sample and the
                    # count ends with a sample taken after the last one.
                    wait_for_sample(out, after=0)
                    parent.stdin.write("go\n")
                    parent.stdin.flush()
                    children_cpu = float(parent.stdout.readline())
                    # (a sample's time is taken after it read /proc: the
                    # one after the first stamped later read it later)
                    later = wait_for_sample(out, after=time.time())
                    counted = wait_for_sample(out, after=later["t"])["roles"]["work"]["cpu_s"]
                finally:
                    sampler.terminate()
                    sampler.wait(timeout=30)
            self.assertGreater(children_cpu, 1.5, "the children burnt their CPU")
            # Everything the children used, and the parent's own few
            # hundredths of a second; not the children's CPU twice.
            self.assertGreaterEqual(counted, children_cpu)
            self.assertLessEqual(counted, children_cpu + 0.5)
        finally:
            parent.kill()
            parent.wait()
            parent.stdin.close()
            parent.stdout.close()


class Windows(unittest.TestCase):
    def test_each_window_divides_its_own_cpu_by_its_own_events(self):
        # Two minutes at 100 events/s: the second minute costs twice the CPU
        # of the first, while the hypervisor took a quarter of a core.
        start = 1_800_000_000
        samples = []
        for second in range(0, 121, 30):
            cpu = 0.6 * min(second, 60) + 1.2 * max(second - 60, 0)
            samples.append({
                "t": start + second,
                "roles": {"db": {"cpu_s": cpu}, "broker": {"cpu_s": cpu / 2}},
                "machine": {"busy_s": 1.5 * cpu, "idle_s": 0, "iowait_s": 0, "steal_s": 0.25 * second,
                            "available_mb": 20000 - 10 * second, "cached_mb": 0, "dirty_mb": 0,
                            "pgscan": 0 if second <= 60 else 500 * (second - 60),
                            "probe_ms": 14.0 if second <= 60 else 20.0},
                "pg": {"wal_bytes": 900 * 100 * second, "wal_fpi": 0 if second <= 60 else 10 * (second - 60),
                       "checkpoints": 0 if second < 90 else 1},
            })
        timeline = [{"second": s, "achieved": 100, "append_p95_ms": 5.0 if s < 60 else 9.0,
                     "e2e_p95_ms": 40.0 if s < 60 else 80.0} for s in range(120)]
        started = datetime.datetime.fromtimestamp(start, datetime.timezone.utc).isoformat()
        report = {"started_at": started.replace("+00:00", "Z"), "timeline": timeline}
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "usage.jsonl"), "w") as f:
                f.writelines(json.dumps(s) + "\n" for s in samples)
            with open(os.path.join(d, "report.json"), "w") as f:
                json.dump(report, f)
            out = subprocess.run([sys.executable, os.path.join(HERE, "proc_usage.py"), "windows",
                                  os.path.join(d, "usage.jsonl"), os.path.join(d, "report.json"),
                                  "--minutes", "1"], check=True, capture_output=True, text=True).stdout
        rows = [line.split("|")[1:-1] for line in out.splitlines()[2:]]
        self.assertEqual(len(rows), 2, out)
        first, second = ([c.strip() for c in r] for r in rows)
        # minutes, events/s, all, db, broker, busy, steal, available, reclaim,
        # probe, WAL per event, full-page images per 1,000, checkpoints, append, e2e
        self.assertEqual(first, ["0-1", "100", "9000 µs", "6000.0", "3000.0", "0.90", "0.25",
                                 "19,400 MB", "0", "14.0 ms", "900 B", "0.0", "0", "5.0 ms", "40.0 ms"])
        self.assertEqual(second, ["1-2", "100", "18000 µs", "12000.0", "6000.0", "1.80", "0.25",
                                  "18,800 MB", "500", "20.0 ms", "900 B", "100.0", "1", "9.0 ms", "80.0 ms"])


def wait_for_sample(path, after, timeout=60):
    """The first sample in `path` taken after unix time `after`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    if line.strip() and json.loads(line)["t"] > after:
                        return json.loads(line)
        time.sleep(0.1)
    raise AssertionError(f"no sample after {after} in {timeout} s")


if __name__ == "__main__":
    unittest.main()
