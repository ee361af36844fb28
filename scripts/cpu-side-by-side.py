#!/usr/bin/env python3
"""Two kabar-server builds at the same time, each under a chatload of its own: their CPU per
message by thread, measured side by side, so that the machine's drift hits both alike.

    scripts/cpu-side-by-side.py --chatload BIN [--rounds 8] [--pipeline 16] [--op send|ping] OLD_BINARY NEW_BINARY

This machine's speed drifts by a third within an hour, and more between hours, so two
builds measured one after the other (`scripts/cpu-by-thread.py`, alternating) differ by
more than a change of a few percent. Here both run at once, each started with --demo on
a fresh SQLite file and driven by chatload (50 connections, durable `send` or `ping`, the
given pipeline depth, 2 s warm-up then 6 s), the two loads together. Both share the two cores
(each gets about half its rate alone), but whatever slows the machine slows both: the
ratio of their CPU per message holds from round to round where each figure alone does
not. The builds start in turn in alternate rounds. One line per round: each build's rate
and its store thread's and event loops' CPU per request (over the whole run, from
/proc/PID/task/*/stat, divided by the messages in the file afterwards for `send`, by
chatload's count scaled to the warm-up for `ping`), then the new build's figure over the
old one's for the store thread (`send`) or the event loops (`ping`); the median of those
ratios at the end."""
import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time

from processes import free_port, thread_groups, wait_for_port


def start(binary):
    folder = tempfile.mkdtemp(prefix="kabar-side-")
    port = free_port()
    process = subprocess.Popen([binary, "--demo", "--port", str(port), "--http-port", "0", "--tls-port", "0",
                                "--database", f"{folder}/kabar.sqlite", "--log-level", "warning"])
    wait_for_port(port, process, "kabar-server")
    return process, port, folder


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chatload", required=True)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--pipeline", default="16")
    parser.add_argument("--op", choices=["send", "ping"], default="send")
    parser.add_argument("old")
    parser.add_argument("new")
    arguments = parser.parse_args()

    compared = "store" if arguments.op == "send" else "event loops"
    ratios = []
    for round_number in range(1, arguments.rounds + 1):
        order = [arguments.old, arguments.new] if round_number % 2 else [arguments.new, arguments.old]
        servers = {binary: start(binary) for binary in order}
        time.sleep(0.5)
        before = {binary: thread_groups(process.pid)[0] for binary, (process, _, _) in servers.items()}
        loads = {binary: subprocess.Popen([arguments.chatload, "--port", str(port), "--conns", "50", "--op", arguments.op,
                                           "--pipeline", arguments.pipeline, "--duration", "6", "--warmup", "2",
                                           "--json"], stdout=subprocess.PIPE, text=True)
                 for binary, (_, port, _) in servers.items()}
        results = {binary: json.loads(load.communicate()[0]) for binary, load in loads.items()}
        after = {binary: thread_groups(process.pid)[0] for binary, (process, _, _) in servers.items()}
        figures = {}
        for binary, (process, _, folder) in servers.items():
            process.terminate()
            process.wait()
            if arguments.op == "send":
                requests = sqlite3.connect(f"{folder}/kabar.sqlite").execute("SELECT count(*) FROM messages").fetchone()[0]
            else:
                requests = results[binary]["ok"] * 8 / 6
            figures[binary] = {group: (after[binary][group] - before[binary][group]) * 1e6 / requests
                               for group in ("store", "event loops")}
        ratio = figures[arguments.new][compared] / figures[arguments.old][compared]
        ratios.append(ratio)
        described = " | ".join(
            f"{os.path.basename(binary)} {results[binary]['ops_per_sec']:,.0f}/s, store "
            f"{figures[binary]['store']:.2f} µs, event loops {figures[binary]['event loops']:.2f} µs"
            for binary in order)
        print(f"round {round_number} {arguments.op} P{arguments.pipeline}: {described}; {compared} new ÷ old {ratio:.3f}",
              flush=True)
    print(f"{compared} new ÷ old, median of {len(ratios)} rounds: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
