"""Tests of proc_usage.py's CPU accounting (make check runs them):
python3 -m unittest discover -s benches -p 'test_*.py'."""
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
