#!/usr/bin/env python3
"""Capacity checks for BENCHMARKS.md, against a running kabar-server on loopback.

    scripts/bench-capacity.py idle PORT PID [COUNT]   # COUNT idle authenticated connections
    scripts/bench-capacity.py startup BINARY DATABASE  # time from exec to accepting connections

`idle` logs in once, binds COUNT connections to that session (`show TOKEN`), reads the
server's RSS from /proc/PID/status before and after, then pings every connection and
reports the slowest reply. `startup` starts the server on an existing database and polls
its port until it accepts a connection."""
import json
import resource
import selectors
import socket
import subprocess
import sys
import time


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def request(sock, line):
    sock.sendall(line.encode() + b"\r\n")
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def idle(port, pid, count):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
    first = socket.create_connection(("127.0.0.1", port))
    request(first, "register capacity-user capacity-pass capacity capacity")
    token = json.loads(request(first, "auth capacity-user capacity-pass"))["tokenid"]
    before = rss_kib(pid)
    connections = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(f"show {token}\r\n".encode())
        connections.append(sock)
    for sock in connections:  # read the show replies
        data = b""
        while not data.endswith(b"\r\n\r\n"):
            data += sock.recv(1 << 20)
    time.sleep(1)
    after = rss_kib(pid)
    slowest = 0.0
    for sock in connections:
        started = time.monotonic()
        reply = request(sock, "ping")
        assert b"PONG" in reply, reply
        slowest = max(slowest, time.monotonic() - started)
    print(json.dumps({"connections": count, "rss_before_kib": before, "rss_after_kib": after,
                      "kib_per_connection": round((after - before) / count, 2),
                      "slowest_ping_ms": round(slowest * 1000, 3)}))


def startup(binary, database):
    started = time.monotonic()
    process = subprocess.Popen([binary, "--port", "18977", "--database", database, "--log-level", "warning"],
                               stderr=subprocess.DEVNULL)
    while True:
        try:
            socket.create_connection(("127.0.0.1", 18977), timeout=0.05).close()
            break
        except OSError:
            time.sleep(0.002)
    elapsed = time.monotonic() - started
    process.terminate()
    process.wait()
    print(json.dumps({"database": database, "startup_ms": round(elapsed * 1000, 1)}))


if sys.argv[1] == "idle":
    idle(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 10000)
else:
    startup(sys.argv[2], sys.argv[3])
