#!/usr/bin/env python3
"""A kabar-server's CPU per request by thread, under chatload: the steadier way to compare
two builds (alternate them, and repeat).

    scripts/cpu-by-thread.py SERVER_BINARY PIPELINE [send|ping|mix|inbox] [--chatload BIN]

Starts SERVER_BINARY with --demo on a fresh SQLite file, drives it with chatload (50
connections, the given pipeline depth, 2 s warm-up then 6 s), and divides each thread
group's CPU time over the whole run (from /proc/PID/task/*/stat) by the requests of the
whole run: for `send` the messages stored (counted in the file afterwards), otherwise
chatload's count scaled to the warm-up. The groups are `processes.thread_groups`'s (the
password hashing of the 50 logins, which the run includes, is its own group).
`scripts/cpu-per-message.py` measures a window inside the load instead, for sends only,
driven by `kabar-bench`; this one drives with chatload and also takes `ping`.
One line per run, e.g. BENCHMARKS.md's "Issue 14" table."""
import argparse
import json
import os
import sqlite3
import subprocess
import tempfile
import time

from processes import free_port, thread_groups, wait_for_port


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("pipeline")
    parser.add_argument("op", nargs="?", default="send")
    parser.add_argument("--chatload", default=".build/chatload")
    arguments = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="kabar-cpu-")
    port = free_port()
    server = subprocess.Popen([arguments.server, "--demo", "--port", str(port), "--http-port", "0",
                               "--database", f"{folder}/kabar.sqlite", "--log-level", "warning"])
    wait_for_port(port, server, "kabar-server")
    time.sleep(0.5)
    before, _ = thread_groups(server.pid)
    output = subprocess.run([arguments.chatload, "--port", str(port), "--conns", "50", "--op", arguments.op,
                             "--pipeline", arguments.pipeline, "--duration", "6", "--warmup", "2", "--json"],
                            capture_output=True, text=True, check=True).stdout
    after, _ = thread_groups(server.pid)
    server.terminate()
    server.wait()
    result = json.loads(output)
    if arguments.op == "send":
        requests = sqlite3.connect(f"{folder}/kabar.sqlite").execute("SELECT count(*) FROM messages").fetchone()[0]
    else:
        requests = result["ok"] * 8 / 6
    per_request = "  ".join(f"{group} {(after[group] - before[group]) * 1e6 / requests:.2f} µs" for group in after)
    print(f"{os.path.basename(arguments.server)} {arguments.op} P{arguments.pipeline}: {result['ops_per_sec']:,.0f}/s, "
          f"p99 {result['p99_us'] / 1000:.1f} ms; per request: {per_request}")


if __name__ == "__main__":
    main()
