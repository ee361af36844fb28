#!/usr/bin/env python3
"""Two (or more) kabar-server builds against each other, alternating: the way every
optimisation in BENCHMARKS.md is measured against the build before it.

    scripts/bench-builds.py --chatload BIN [--rounds 3] [--duration 6] \
        [--work "send 16,send 1"] [--conns 50] OLD_BINARY NEW_BINARY ...

Starts each build once with --demo on a fresh SQLite file of its own (both files grow
alike, since the builds take turns), then, ROUNDS times, runs chatload (50 connections
unless told, 32-byte messages, the given op and pipeline depth) against each build in turn, the order
reversed every other round so that the machine's drift hits them alike. Each connection
logs in as a demo user before its run (chatload's set-up, not measured). One line per
workload and round: each build's rate, p99, and its server CPU per request (the server
process's user and system time over the run, divided by chatload's count of the measured
seconds scaled to the 1 s warm-up before them)."""
import argparse
import contextlib
import json
import os
import subprocess

from processes import demo_server, process_cpu_seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chatload", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--conns", type=int, default=50)
    parser.add_argument("--work", default="send 16,send 1", help='"OP PIPELINE,OP PIPELINE,..."')
    parser.add_argument("builds", nargs="+")
    arguments = parser.parse_args()

    with contextlib.ExitStack() as running:
        servers = []
        for binary in arguments.builds:
            process, port, _ = running.enter_context(demo_server(binary))
            servers.append((os.path.basename(binary), port, process))
        workloads = [(item.split()[0], int(item.split()[1])) for item in arguments.work.split(",")]
        for round_number in range(arguments.rounds):
            for op, pipeline in workloads:
                order = servers if round_number % 2 == 0 else servers[::-1]
                cells = []
                for name, port, process in order:
                    command = [arguments.chatload, "--mode", "progjar", "--port", str(port), "--conns", str(arguments.conns),
                               "--op", op, "--pipeline", str(pipeline), "--duration", str(arguments.duration),
                               "--warmup", "1", "--json"]
                    before = process_cpu_seconds(process.pid)
                    output = subprocess.run(command, capture_output=True, text=True).stdout
                    used = process_cpu_seconds(process.pid) - before
                    row = json.loads(output.strip().splitlines()[-1])
                    requests = max(1, row["ok"] * (arguments.duration + 1) / arguments.duration)
                    cells.append(f"{name} {row['ops_per_sec']:,.0f}/s p99 {row['p99_us'] / 1000:.2f} ms "
                                 f"cpu {used * 1e6 / requests:.2f} µs")
                print(f"round {round_number + 1} {op} P{pipeline}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
