#!/usr/bin/env python3
"""How long the disk takes to make a small append durable: the floor under every
durable reply. Appends 4 KiB and calls fdatasync, 2,000 times, in DIRECTORY (the
database's file system), and prints the latency percentiles as one JSON line.

    python3 scripts/fsync-probe.py DIRECTORY
"""
import json
import os
import sys
import time

path = os.path.join(sys.argv[1], "fsync-probe")
descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
block = b"x" * 4096
latencies = []
try:
    for _ in range(2000):
        start = time.perf_counter()
        os.write(descriptor, block)
        os.fdatasync(descriptor)
        latencies.append((time.perf_counter() - start) * 1000)
finally:
    os.close(descriptor)
    os.remove(path)
latencies.sort()
print(json.dumps({"fsync_ms": {name: round(latencies[int(len(latencies) * q)], 3)
                               for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}}))
