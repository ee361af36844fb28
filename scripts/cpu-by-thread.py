#!/usr/bin/env python3
"""A kabar-server's CPU per request by thread, under chatload: the steadier way to compare
two builds (alternate them, and repeat).

    scripts/cpu-by-thread.py SERVER_BINARY PIPELINE [send|ping|mix|inbox] [--chatload BIN]

Starts SERVER_BINARY with --demo on a fresh SQLite file, drives it with chatload (50
connections, the given pipeline depth, 2 s warm-up then 6 s), and divides each thread
group's CPU time over the whole run (from /proc/PID/task/*/stat) by the requests of the
whole run: for `send` the messages stored (counted in the file afterwards), otherwise
chatload's count scaled to the warm-up. The groups are `processes.thread_groups`'s (the
password hashing of the 50 logins, which the run includes, is its own group). A second
line gives how often each group went to sleep per request (its voluntary context
switches: each is a wake-up by another thread, or by the disk, that the request path pays).
`scripts/cpu-per-message.py` measures a window inside the load instead, for sends only,
driven by `kabar-bench`; this one drives with chatload and also takes `ping`.
One line per run, e.g. BENCHMARKS.md's "Issue 14" table."""
import argparse
import json
import os
import subprocess
import time

from processes import demo_server, requests_served, thread_group_sleeps, thread_groups


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("pipeline")
    parser.add_argument("op", nargs="?", default="send")
    parser.add_argument("--chatload", default=".build/chatload")
    arguments = parser.parse_args()
    with demo_server(arguments.server) as (server, port, folder):
        time.sleep(0.5)
        before, _ = thread_groups(server.pid)
        sleeps_before = thread_group_sleeps(server.pid)
        output = subprocess.run([arguments.chatload, "--port", str(port), "--conns", "50", "--op", arguments.op,
                                 "--pipeline", arguments.pipeline, "--duration", "6", "--warmup", "2", "--json"],
                                capture_output=True, text=True, check=True).stdout
        after, _ = thread_groups(server.pid)
        sleeps_after = thread_group_sleeps(server.pid)
        server.terminate()
        server.wait()
        result = json.loads(output)
        requests = requests_served(arguments.op, folder, result)
    per_request = "  ".join(f"{group} {(after[group] - before[group]) * 1e6 / requests:.2f} µs" for group in after)
    print(f"{os.path.basename(arguments.server)} {arguments.op} P{arguments.pipeline}: {result['ops_per_sec']:,.0f}/s, "
          f"p99 {result['p99_us'] / 1000:.1f} ms; per request: {per_request}")
    sleeps = "  ".join(f"{group} {(sleeps_after[group] - sleeps_before[group]) / requests:.3f}" for group in sleeps_after)
    print(f"  sleeps per request: {sleeps}")


if __name__ == "__main__":
    main()
