#!/usr/bin/env python3
"""Where a durable `send` costs Kabar more CPU than Redis `appendfsync always`: each
server's user and system CPU per request, by thread, under the same chatload load.

    scripts/cpu-against-redis.py SERVER_BINARY [--pipeline P] [--rounds N] [--chatload BIN]
                                 [--single-thread-floor BIN]

Each round starts kabar-server (--demo, a fresh SQLite file) and then redis-server
(`--appendonly yes --appendfsync always`), drives each with chatload (`send`, 50
connections, P in flight on each, 2 s warm-up then 6 s) and measures a 4 s window inside
the load: per thread group, user and system CPU per request, the share of the window it ran
(busy) and waited runnable for a CPU (run queue), from /proc/PID/task/*/{stat,schedstat};
and, where `perf` is installed, the server's `fdatasync` calls per second (how many
requests share one flush). The servers alternate, so the machine's drift touches both.

With --single-thread-floor (`scripts/single-thread-floor.c`, compiled), each round also
measures that probe between the two, on a copy of the database Kabar just wrote: SQLite
with Kabar's schema behind Redis's one-thread loop, driven as Redis is.
"""
import argparse
import json
import shutil
import subprocess
import tempfile
import time

from processes import free_port, threads, wait_for_port

WINDOW = 4


def thread_times(pid):
    """Per group of threads (the event loops together, the others by name): [user s,
    system s, run-queue s] so far."""
    groups = {}
    for name, user, system, queued in threads(pid):
        group = groups.setdefault("event loops" if name.startswith("NIO-ELT") else name, [0.0, 0.0, 0.0])
        group[0] += user
        group[1] += system
        group[2] += queued
    return groups


def count_flushes(pid):
    """A `perf stat` counting the process's `fdatasync` calls over the window; None without perf."""
    if not shutil.which("perf"):
        return None
    return subprocess.Popen(["perf", "stat", "-x", ",", "-e", "syscalls:sys_enter_fdatasync", "-p", str(pid),
                             "sleep", str(WINDOW)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def measure(name, command, port, chatload_mode, arguments):
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    wait_for_port(port, server, name)
    time.sleep(0.5)
    load = subprocess.Popen([arguments.chatload, "--mode", chatload_mode, "--port", str(port), "--conns", "50",
                             "--op", "send", "--pipeline", str(arguments.pipeline), "--duration", "6",
                             "--warmup", "2", "--json"], stdout=subprocess.PIPE, text=True)
    time.sleep(3)
    before = thread_times(server.pid)
    flushes = count_flushes(server.pid)
    started = time.monotonic()
    time.sleep(WINDOW)
    after = thread_times(server.pid)
    elapsed = time.monotonic() - started
    flush_count = int(flushes.communicate()[1].split(",")[0]) if flushes else None
    result = json.loads(load.communicate()[0])
    server.terminate()
    server.wait()
    requests = result["ops_per_sec"] * elapsed
    parts, user, system = [], 0.0, 0.0
    for group, (u, s, q) in after.items():
        u0, s0, q0 = before.get(group, (0.0, 0.0, 0.0))
        user, system = user + u - u0, system + s - s0
        if u - u0 + s - s0 > 0.01 * elapsed:
            parts.append(f"{group} usr {(u - u0) * 1e6 / requests:.1f} sys {(s - s0) * 1e6 / requests:.1f} "
                         f"busy {(u - u0 + s - s0) / elapsed:.0%} run queue {(q - q0) / elapsed:.0%}")
    flushed = f", {flush_count / elapsed:,.0f} flushes/s ({requests / flush_count:.1f} requests each)" if flush_count else ""
    print(f"{name} send P{arguments.pipeline}: {result['ops_per_sec']:,.0f}/s, p99 {result['p99_us'] / 1000:.2f} ms"
          f"{flushed}; per request usr {user * 1e6 / requests:.1f} sys {system * 1e6 / requests:.1f} µs; "
          + "; ".join(parts), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("--pipeline", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chatload", default=".build/chatload")
    parser.add_argument("--single-thread-floor", help="the compiled scripts/single-thread-floor.c")
    arguments = parser.parse_args()
    redis = shutil.which("redis-server")
    if not redis:
        raise SystemExit("redis-server is not installed")
    for _ in range(arguments.rounds):
        folder = tempfile.mkdtemp(prefix="kabar-against-redis-")
        port = free_port()
        measure("kabar", [arguments.server, "--demo", "--port", str(port), "--http-port", "0",
                          "--database", f"{folder}/kabar.sqlite", "--log-level", "warning"], port, "progjar", arguments)
        if arguments.single_thread_floor:
            port = free_port()
            measure("single-thread floor", [arguments.single_thread_floor, f"{folder}/kabar.sqlite", str(port)],
                    port, "redis", arguments)
        port = free_port()
        measure("redis", [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder,
                          "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"], port, "redis", arguments)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
