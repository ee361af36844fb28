#!/usr/bin/env python3
"""CPU per request of the server and of its load generator, Kabar and Redis side by side.

When the load generator shares the server's cores, the rate is bounded by what one
request costs both of them: requests/s <= cores / (server CPU + load generator CPU per
request), whatever else holds it back. This measures both, c50 at P1 and P16: Kabar (`kabar-bench` against a fresh
release `kabar-server` per case) and, when it is installed, Redis (`redis-benchmark`
against a `redis-server` without persistence). It prints a Markdown table:

    scripts/cpu-per-request.py [--json FILE] [--server BIN] [--bench BIN]

The servers' CPU comes from /proc/PID/task/*/stat over the run (for Kabar without its
thread pool, which hashes the passwords when the bench users log in), the load
generators' from their rusage. `--json FILE` also writes one JSON object per row."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from processes import free_port, process_cpu_seconds, wait_for_port

CONNECTIONS = 50
CORES = os.cpu_count()
KABAR_SECONDS = 6
KABAR_CASES = [("ping", 1), ("ping", 16), ("send", 1), ("send", 16)]
REDIS_CASES = [("PING_INLINE", "ping_inline", 1, 500_000), ("RPUSH", "rpush", 1, 500_000),
               ("RPUSH", "rpush", 16, 3_000_000)]


def run_measured(command, server_pid, leaving_out=None):
    """Runs the load generator; returns its output, its CPU seconds and the server's."""
    server_before = process_cpu_seconds(server_pid, leaving_out)
    load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    output = load.stdout.read()
    _, status, usage = os.wait4(load.pid, 0)
    if status != 0:
        sys.exit(f"{command[0]} failed")
    return output, usage.ru_utime + usage.ru_stime, process_cpu_seconds(server_pid, leaving_out) - server_before


def row(system, operation, pipeline, requests, rate, generator_seconds, server_seconds):
    generator, server = generator_seconds * 1e6 / requests, server_seconds * 1e6 / requests
    return {"system": system, "operation": operation, "pipeline": pipeline, "requests_per_second": rate,
            "load_generator_us": generator, "server_us": server,
            "bound_requests_per_second": CORES * 1e6 / (generator + server)}


def measure_kabar(server_binary, bench_binary):
    rows = []
    for operation, pipeline in KABAR_CASES:
        directory = tempfile.mkdtemp(prefix="kabar-cpu-")
        port = free_port()
        server = subprocess.Popen([server_binary, "--port", str(port), "--database", f"{directory}/kabar.sqlite",
                                   "--log-level", "warning"], stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, server, "kabar-server")
            # The table's workload: kabar-bench's 50 users, each sending to the next.
            bench = [bench_binary, "-p", str(port), "-c", str(CONNECTIONS), "-P", str(pipeline), "--op", operation]
            # Registers the users (scrypt) and warms up, outside the measured run.
            subprocess.run(bench + ["--duration", "2"], check=True, capture_output=True)
            # Each run logs its users in once (scrypt, ~50 ms each, on the server's thread
            # pool `TP-*`): that is not the requests' cost, so those threads are left out.
            output, generator, served = run_measured(bench + ["--duration", str(KABAR_SECONDS), "--json"], server.pid,
                                                     leaving_out="kabar-work-")
            result = json.loads(output)
            rows.append(row("Kabar", operation, pipeline, result["requests"], result["requests_per_second"],
                            generator, served))
        finally:
            server.terminate()
            server.wait()
            shutil.rmtree(directory, ignore_errors=True)
    return rows


def measure_redis():
    if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
        print("redis-server or redis-benchmark not installed: Kabar only", file=sys.stderr)
        return []
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    rows = []
    try:
        wait_for_port(port, server, "redis-server")
        for name, test, pipeline, requests in REDIS_CASES:
            command = ["redis-benchmark", "-p", str(port), "-t", test, "-c", str(CONNECTIONS), "-P", str(pipeline),
                       "-n", str(requests), "--csv"]
            output, generator, served = run_measured(command, server.pid)
            values = output.strip().splitlines()[1].replace('"', "").split(",")
            rows.append(row("Redis", name, pipeline, requests, float(values[1]), generator, served))
    finally:
        server.terminate()
        server.wait()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=".build/release/kabar-server")
    parser.add_argument("--bench", default=".build/release/kabar-bench")
    parser.add_argument("--json", metavar="FILE")
    options = parser.parse_args()
    rows = measure_kabar(options.server, options.bench) + measure_redis()
    if options.json:
        with open(options.json, "w") as file:
            file.writelines(json.dumps(r) + "\n" for r in rows)
    print(f"| c{CONNECTIONS} | load generator µs/request | server µs/request | {CORES} cores ÷ their sum | measured req/s |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['system']} `{r['operation']}` P{r['pipeline']} | {r['load_generator_us']:.1f} | "
              f"{r['server_us']:.1f} | {r['bound_requests_per_second']:,.0f} | {r['requests_per_second']:,.0f} |")


if __name__ == "__main__":
    main()
