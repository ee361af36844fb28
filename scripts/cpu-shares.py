#!/usr/bin/env python3
"""Whether the machine is full under a load: how much of the cores a server and chatload
each use, and how much stays idle, in a window inside the load.

    scripts/cpu-shares.py --chatload BIN [--op ping] [--pipeline 16] [--rounds 3] \
        [--nio-floor BIN] SERVER_BINARY

Each round runs chatload (50 connections, the given op and pipeline depth) against
SERVER_BINARY (--demo, a fresh SQLite file, started once) and, with --nio-floor, against
`scripts/nio-floor PORT 2 kabar`, which answers every line with Kabar's own `ping` reply
and is driven the same way (chatload `progjar --token`): for `ping` only. The two
alternate, in the reverse order every other round. Over 3 s from 2 s into each run it
reads the server's and chatload's CPU time (their threads' /proc/PID/task/*/stat) and the machine's idle time
(/proc/stat), and prints each as a share of one core and per request. One core is 100%;
the machine has os.cpu_count() of them."""
import argparse
import json
import os
import subprocess
import time

from processes import demo_server, free_port, generator_command, process_cpu_seconds, wait_for_port

WINDOW_START, WINDOW = 2, 3
ZERO_TOKEN = "00000000-0000-0000-0000-000000000000"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chatload", required=True)
    parser.add_argument("--op", choices=["send", "ping", "inbox", "mix"], default="ping")
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nio-floor", help="the built scripts/nio-floor (for --op ping)")
    parser.add_argument("server")
    arguments = parser.parse_args()
    if arguments.nio_floor and arguments.op != "ping":
        parser.error("--nio-floor answers `ping` only")

    with demo_server(arguments.server) as (kabar, kabar_port, _):
        servers = [("kabar", kabar, kabar_port, [])]
        floor = None
        if arguments.nio_floor:
            floor_port = free_port()
            floor = subprocess.Popen([arguments.nio_floor, str(floor_port), "2", "kabar"])
            wait_for_port(floor_port, floor, "nio-floor")
            servers.append(("SwiftNIO, Kabar's reply", floor, floor_port, ["--token", ZERO_TOKEN]))
        try:
            for round_number in range(1, arguments.rounds + 1):
                for name, process, port, extra in (servers if round_number % 2 else servers[::-1]):
                    print(f"round {round_number} {arguments.op} P{arguments.pipeline} {name}: "
                          + measure(arguments, process.pid, port, extra), flush=True)
        finally:
            if floor is not None:
                floor.terminate()
                floor.wait()


def measure(arguments, server_pid, port, extra):
    """Runs chatload against the server on `port` and measures the window inside it."""
    command = generator_command(arguments.chatload, port, arguments.op, arguments.pipeline, WINDOW_START + WINDOW + 1,
                                is_chatload=True, warmup=1)
    load = subprocess.Popen(command + extra, stdout=subprocess.PIPE, text=True)
    # chatload's warm-up second, then into the measured seconds.
    time.sleep(1 + WINDOW_START)
    before = (process_cpu_seconds(server_pid), process_cpu_seconds(load.pid), idle_seconds(), time.monotonic())
    time.sleep(WINDOW)
    after = (process_cpu_seconds(server_pid), process_cpu_seconds(load.pid), idle_seconds(), time.monotonic())
    result = json.loads(load.communicate()[0].strip().splitlines()[-1])
    server, generator, idle, elapsed = (end - start for start, end in zip(before, after))
    rate = result["ops_per_sec"]
    requests = rate * elapsed
    return (f"{rate:,.0f} req/s; server {server / elapsed:.0%} of a core, {server / requests * 1e6:.2f} µs per request; "
            f"chatload {generator / elapsed:.0%}, {generator / requests * 1e6:.2f} µs; "
            f"idle {idle / elapsed:.0%} (of {os.cpu_count()} cores)")


def idle_seconds():
    """The machine's idle seconds so far, all cores together (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[4]) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
