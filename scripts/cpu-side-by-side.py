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
and its store thread's, event loops', flusher's and whole server's CPU per request (over
the whole run, from /proc/PID/task/*/stat, the logins' password hashing left out, divided
by the messages in the file afterwards for `send`, by chatload's count scaled to the
warm-up for `ping`, which leaves out the store and flusher), then the new build's figure
over the old one's for each; the medians of those ratios at the end. Giving one binary as
both builds measures the method itself (two copies of one build: 0.97–1.02 per round
here)."""
import argparse
import contextlib
import json
import os
import statistics
import subprocess
import time

from processes import demo_server, requests_served, thread_groups


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chatload", required=True)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--pipeline", default="16")
    parser.add_argument("--op", choices=["send", "ping"], default="send")
    parser.add_argument("old")
    parser.add_argument("new")
    arguments = parser.parse_args()

    # A `ping` never reaches the store or the flusher: their CPU may be no tick at all.
    groups = ["store", "event loops", "flusher", "server"] if arguments.op == "send" else ["event loops", "server"]
    ratios = {group: [] for group in groups}
    builds = {"old": arguments.old, "new": arguments.new}  # by role: the same binary may be both
    for round_number in range(1, arguments.rounds + 1):
        order = ["old", "new"] if round_number % 2 else ["new", "old"]
        with contextlib.ExitStack() as running:
            servers = {role: running.enter_context(demo_server(builds[role])) for role in order}
            time.sleep(0.5)
            before = {role: thread_groups(process.pid)[0] for role, (process, _, _) in servers.items()}
            loads = {role: subprocess.Popen([arguments.chatload, "--port", str(port), "--conns", "50", "--op",
                                             arguments.op, "--pipeline", arguments.pipeline, "--duration", "6",
                                             "--warmup", "2", "--json"], stdout=subprocess.PIPE, text=True)
                     for role, (_, port, _) in servers.items()}
            results = {role: json.loads(load.communicate()[0]) for role, load in loads.items()}
            after = {role: thread_groups(process.pid)[0] for role, (process, _, _) in servers.items()}
            figures = {}
            for role, (process, _, folder) in servers.items():
                process.terminate()
                process.wait()
                requests = requests_served(arguments.op, folder, results[role])
                spent = {group: (after[role][group] - before[role][group]) * 1e6 / requests for group in after[role]}
                # The whole server but the logins' password hashing, which is the warm-up's.
                spent["server"] = sum(seconds for group, seconds in spent.items() if group != "hashing")
                figures[role] = spent
        for group in groups:
            ratios[group].append(figures["new"][group] / figures["old"][group])
        described = " | ".join(
            f"{role} ({os.path.basename(builds[role])}) {results[role]['ops_per_sec']:,.0f}/s, "
            + ", ".join(f"{group} {figures[role][group]:.2f} µs" for group in groups)
            for role in order)
        compared = ", ".join(f"{group} {ratios[group][-1]:.3f}" for group in groups)
        print(f"round {round_number} {arguments.op} P{arguments.pipeline}: {described}; new ÷ old: {compared}", flush=True)
    medians = ", ".join(f"{group} {statistics.median(ratios[group]):.3f}" for group in groups)
    print(f"new ÷ old, medians of {arguments.rounds} rounds: {medians}")

if __name__ == "__main__":
    main()
