#!/usr/bin/env python3
"""Server CPU per stored message, by thread: the steadier way to compare two builds.

Throughput on a small shared VM moves by 15-25% from run to run; the CPU time each of
the server's threads spends per stored message moves less (about 10%), and says where
the time goes. Alternate the builds and repeat before believing a difference.

This starts a release kabar-server on a fresh database, drives it with kabar-bench, and
over a 5-second window in the middle of the load divides each thread's CPU time (from
/proc) by the messages stored in that window:

    scripts/cpu-per-message.py [--server BINARY] -- --op send -c 50 [-P 16 ...]

The kabar-bench arguments after `--` must make it store messages (`--op send` or `mix`).
Threads are grouped as the store (`kabar-sqlite`), its log flusher (`kabar-flush`, which
also resumes the callers), the event loops (`NIO-ELT-*`), the password hashing
(`kabar-work-N`) and the rest (Dispatch). A second line gives each group's time waiting on
a run queue (runnable, but no CPU free; from /proc/PID/task/*/schedstat) in milliseconds
per second of the window: when it is large while the machine is not fully busy, the
threads wake each other in bursts and the chain of hand-offs, not CPU, sets the rate."""
import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

from processes import free_port, thread_groups, wait_for_port

WINDOW_SECONDS = 5


def stored_messages(database):
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=".build/release/kabar-server")
    parser.add_argument("--bench", default=".build/release/kabar-bench")
    parser.add_argument("bench_arguments", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    bench_arguments = [a for a in options.bench_arguments if a != "--"]
    directory = tempfile.mkdtemp(prefix="kabar-cpu-")
    database = os.path.join(directory, "kabar.sqlite")
    port = free_port()
    server = subprocess.Popen(
        [options.server, "--port", str(port), "--database", database, "--log-level", "warning"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server, "kabar-server")
        bench = [options.bench, "-p", str(port), "--users", "50"]
        # Registers the bench users, so that scrypt runs before the window.
        subprocess.run(bench + ["-c", "50", "--duration", "2", "--op", "ping"], check=True, capture_output=True)
        load = subprocess.Popen(bench + ["--duration", str(WINDOW_SECONDS + 3)] + bench_arguments,
                                stdout=subprocess.PIPE, text=True)
        # The window opens a second after the first message is stored: the bench's
        # connections have logged in (scrypt) by then.
        while stored_messages(database) == 0 and load.poll() is None:
            time.sleep(0.05)
        time.sleep(1)
        (cpu_before, waiting_before), messages_before = thread_groups(server.pid), stored_messages(database)
        time.sleep(WINDOW_SECONDS)
        (cpu_after, waiting_after), messages_after = thread_groups(server.pid), stored_messages(database)
        if load.poll() is not None:
            sys.exit("the load ended inside the window")
        load.communicate()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(directory, ignore_errors=True)
    messages = messages_after - messages_before
    if messages <= 0:
        sys.exit("no messages were stored in the window: use --op send or --op mix")
    per_message = {group: (cpu_after[group] - cpu_before[group]) * 1e6 / messages for group in cpu_after}
    cells = "  ".join(f"{group} {micros:.1f}" for group, micros in per_message.items())
    print(f"{messages / WINDOW_SECONDS:,.0f} messages/s; CPU µs per message: {cells}  "
          f"server {sum(per_message.values()):.1f}")
    waits = "  ".join(f"{group} {(waiting_after[group] - waiting_before[group]) * 1000 / WINDOW_SECONDS:.0f}"
                      for group in waiting_after)
    print(f"run-queue wait, ms per second: {waits}")


if __name__ == "__main__":
    main()
