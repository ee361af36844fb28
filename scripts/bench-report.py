#!/usr/bin/env python3
"""Summarise bench-results/*.jsonl (written by scripts/bench): a Markdown table of
medians and a plot of throughput and p99 against connection count."""
import json
import pathlib
import statistics
import subprocess
import sys

results = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results")


def load(name):
    path = results / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def median(rows, server, name, pick):
    values = [pick(r) for r in rows if r["server"] == server and r["name"] == name]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


table = load("table.jsonl")
names = list(dict.fromkeys(r["name"] for r in table))
print("| measure | Kabar req/s | Kabar p50 ms | Kabar p99 ms | Redis req/s | Redis p50 ms | Redis p99 ms |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name in names:
    cells = []
    for server in ("kabar", "redis"):
        cells += [
            fmt(median(table, server, name, lambda r: r["requests_per_second"])),
            fmt(median(table, server, name, lambda r: r["latency_ms"]["p50"]), 3),
            fmt(median(table, server, name, lambda r: r["latency_ms"]["p99"]), 3),
        ]
    print(f"| {name} | " + " | ".join(cells) + " |")
for row in load("inbox.jsonl"):
    print(f"\n{row['name']}: answered in {row['latency_ms']['max']:.1f} ms")
capacity = load("capacity.jsonl")
for row in capacity:
    if "connections" in row:
        print(f"{row['connections']} idle connections: {row['kib_per_connection']} KiB of server RSS each, "
              f"slowest ping {row['slowest_ping_ms']} ms")
startups = [row["startup_ms"] for row in capacity if "startup_ms" in row]
if startups:
    print(f"start-up on a 1 GiB database: median {statistics.median(startups)} ms")

for row in load("disk.jsonl"):
    fsync = row["fsync_ms"]
    print(f"disk: a 4 KiB append + fdatasync takes p50 {fsync['p50']} ms, p90 {fsync['p90']} ms, "
          f"p99 {fsync['p99']} ms (every durable reply waits for at least one)")

cpu = results / "cpu.md"
if cpu.exists():
    print("\nCPU per request (scripts/cpu-per-request.py):\n" + cpu.read_text().rstrip())

sweep = load("sweep.jsonl")
if not sweep:
    sys.exit(0)
try:
    import matplotlib
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib"], check=True)
    import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

counts = sorted({int(r["name"].split("c")[-1]) for r in sweep})
figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4))
for server, label in (("kabar", "Kabar send (durable: log flushed after each commit)"), ("redis", "Redis RPUSH (memory)")):
    rows = {int(r["name"].split("c")[-1]): r for r in sweep if r["server"] == server}
    xs = [c for c in counts if c in rows]
    throughput.plot(xs, [rows[c]["requests_per_second"] for c in xs], marker="o", label=label)
    latency.plot(xs, [rows[c]["latency_ms"]["p99"] for c in xs], marker="o", label=label)
for axis, title in ((throughput, "requests per second"), (latency, "p99 latency (ms)")):
    axis.set_xscale("log")
    axis.set_xlabel("connections")
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend()
latency.set_yscale("log")
figure.tight_layout()
figure.savefig("BENCHMARKS.png", dpi=100)
print("\nplot: BENCHMARKS.png")
