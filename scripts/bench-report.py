#!/usr/bin/env python3
"""Summarise bench-results/ (written by scripts/bench): Markdown tables of medians, and a
plot of throughput and p99 against connection count (BENCHMARKS.png).

    scripts/bench-report.py [bench-results]
"""
import json
import pathlib
import statistics
import subprocess
import sys

results = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results")
SERVERS = [("kabar", "Kabar"), ("kabar-normal", "Kabar, durability normal"), ("redis-always", "Redis, appendfsync always"),
           ("redis-memory", "Redis, no persistence"), ("ngircd", "ngIRCd"),
           ("sqlite-floor", "SQLite behind Redis's loop (probe)"),
           ("nio-floor", "SwiftNIO answering PING (probe)"), ("epoll-floor", "Swift on epoll answering PING (probe)")]


def load(name):
    path = results / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def fmt(value, digits=0):
    return "" if value is None else f"{value:,.{digits}f}"


rows = load("compare.jsonl")
runs = [r for r in rows if r.get("kind") == "server"]
workloads = list(dict.fromkeys(r["workload"] for r in runs))


def runs_of(server, workload):
    return [r for r in runs if r["server"] == server and r["workload"] == workload]


def same_round_ratio(workload, reference, key="ops_per_sec", server="kabar"):
    """The median over rounds of `server`'s figure divided by `reference`'s in the same round."""
    kabar = {r["round"]: r[key] for r in runs_of(server, workload)}
    other = {r["round"]: r[key] for r in runs_of(reference, workload)}
    ratios = [kabar[n] / other[n] for n in kabar if other.get(n)]
    return statistics.median(ratios) if ratios else None


def median(server, workload, key):
    values = [r[key] for r in runs_of(server, workload)]
    return statistics.median(values) if values else None


if runs:
    rounds = max(r["round"] for r in runs)
    print(f"Medians of {rounds} rounds (chatload, 50 connections, 32-byte messages; req/s, p99 in ms):\n")
    print("| workload | " + " | ".join(label for _, label in SERVERS) + " | Kabar ÷ Redis always | Kabar ÷ Redis memory |")
    print("|---|" + "---:|" * (len(SERVERS) + 2))
    for workload in workloads:
        cells = []
        for server, _ in SERVERS:
            rate, p99 = median(server, workload, "ops_per_sec"), median(server, workload, "p99_us")
            cells.append("" if rate is None else f"{fmt(rate)} (p99 {p99 / 1000:.2f})")
        ratios = []
        for reference in ("redis-always", "redis-memory"):
            ratio = same_round_ratio(workload, reference)
            ratios.append(f"{ratio:.2f}" if ratio else "")
        print(f"| {workload} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    print("\nThe ratios are medians of each round's own ratio (the servers alternate inside a round, "
          "so a round's ratio is measured at one speed of the machine; the medians of the rates "
          "above may come from different rounds).")
    for workload in workloads:
        kabar_to_floor = same_round_ratio(workload, "nio-floor")
        floor_to_redis = same_round_ratio(workload, "redis-memory", server="nio-floor")
        if kabar_to_floor and floor_to_redis:
            print(f"{workload}: Kabar {kabar_to_floor:.2f} of the SwiftNIO probe, "
                  f"which did {floor_to_redis:.2f} of Redis.")
        epoll_to_redis = same_round_ratio(workload, "redis-memory", server="epoll-floor")
        epoll_to_nio = same_round_ratio(workload, "nio-floor", server="epoll-floor")
        if epoll_to_redis:
            print(f"{workload}: the probe without SwiftNIO (epoll) did {epoll_to_redis:.2f} of Redis"
                  + (f" and {epoll_to_nio:.2f} of the SwiftNIO probe." if epoll_to_nio else "."))
        normal_to_durable = same_round_ratio(workload, "kabar", server="kabar-normal")
        normal_to_redis = same_round_ratio(workload, "redis-always", server="kabar-normal")
        if normal_to_durable and normal_to_redis:
            print(f"{workload}: Kabar with durability normal (no flush) {normal_to_durable:.2f} of durable Kabar, "
                  f"{normal_to_redis:.2f} of Redis appendfsync always.")
    print("\nEvery run (req/s, in round order):\n")
    for workload in workloads:
        parts = []
        for server, label in SERVERS:
            values = [r["ops_per_sec"] for r in sorted(runs_of(server, workload), key=lambda r: r["round"])]
            if values:
                parts.append(f"{label} " + " / ".join(fmt(v) for v in values))
        errors = sum(r["errors"] for r in runs if r["workload"] == workload)
        print(f"- {workload}: " + "; ".join(parts) + (f" ({errors} errors)" if errors else ""))
    for row in runs:
        if "events_received" in row:
            print(f"- {row['workload']}, round {row['round']}: the 50 subscribers received {row['events_received']:,} events")

generators = [r for r in rows if r.get("kind") == "generator"]
if generators:
    print("\nLoad generators' own CPU per request against the same Kabar (rusage, set-up included; medians; µs;"
          " the ratio is the median of each round's own, as above):\n")
    print("| workload | chatload | kabar-bench | kabar-bench ÷ chatload | per round |")
    print("|---|---:|---:|---:|---|")
    for workload in dict.fromkeys(r["workload"] for r in generators):
        by_round = {}
        for r in generators:
            if r["workload"] == workload and r["cpu_us_per_request"]:
                by_round.setdefault(r["round"], {})[r["generator"]] = r["cpu_us_per_request"]
        medians = {}
        for generator in ("chatload", "kabar-bench"):
            values = [cpu[generator] for cpu in by_round.values() if generator in cpu]
            medians[generator] = statistics.median(values) if values else None
        ratios = [cpu["kabar-bench"] / cpu["chatload"] for _, cpu in sorted(by_round.items()) if len(cpu) == 2]
        ratio = statistics.median(ratios) if ratios else None
        print(f"| {workload} | {fmt(medians['chatload'], 2)} | {fmt(medians['kabar-bench'], 2)} | {fmt(ratio, 2)} | "
              + " / ".join(f"{value:.2f}" for value in ratios) + " |")

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
floor = {(row["messages_per_commit"], row["flush"]): row["cpu_us_per_message"] for row in load("sqlite-floor.jsonl")}
if floor:
    print("SQLite alone storing a message (Kabar's schema and INSERT, one thread, no network): "
          + ", ".join(f"{floor[(size, False)]} µs CPU at {size} per commit ({floor[(size, True)]} µs with a flush per commit)"
                      for size in sorted({size for size, _ in floor})))

sweep = [r for r in rows if r.get("kind") == "sweep"]
if not sweep:
    sys.exit(0)
counts = sorted({r["connections"] for r in sweep})
print("\nDurable send P1 against connections (one run each; req/s, p99 ms):\n")
print("| connections | " + " | ".join(str(c) for c in counts) + " |")
print("|---|" + "---:|" * len(counts))
for server, label in SERVERS:
    by_count = {r["connections"]: r for r in sweep if r["server"] == server}
    if by_count:
        print(f"| {label} req/s | " + " | ".join(fmt(by_count[c]["ops_per_sec"]) if c in by_count else "" for c in counts) + " |")
        print(f"| {label} p99 ms | " + " | ".join(f"{by_count[c]['p99_us'] / 1000:.2f}" if c in by_count else "" for c in counts) + " |")
try:
    import matplotlib
except ImportError:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "matplotlib"], check=True)
    import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4))
for server, label in SERVERS:
    by_count = {r["connections"]: r for r in sweep if r["server"] == server}
    xs = [c for c in counts if c in by_count]
    if not xs:
        continue
    name = {"kabar": "Kabar send (durable)", "redis-always": "Redis RPUSH, appendfsync always",
            "redis-memory": "Redis RPUSH, no persistence"}.get(server, label)
    throughput.plot(xs, [by_count[c]["ops_per_sec"] for c in xs], marker="o", label=name)
    latency.plot(xs, [by_count[c]["p99_us"] / 1000 for c in xs], marker="o", label=name)
for axis, title in ((throughput, "requests per second"), (latency, "p99 latency (ms)")):
    axis.set_xscale("log")
    axis.set_xlabel("connections (chatload, pipeline 1)")
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend()
latency.set_yscale("log")
figure.tight_layout()
figure.savefig("BENCHMARKS.png", dpi=100)
print("\nplot: BENCHMARKS.png")
