#!/usr/bin/env python3
"""Kabar against Redis (and ngIRCd), every figure from one load generator, chatload.

    scripts/bench-compare.py --server BIN --chatload BIN [--bench BIN] [--rounds 3]
                             [--duration 8] [--out bench-results] [--only NAME,...] [--sweep]
                             [--single-thread-floor BIN] [--nio-floor BIN] [--epoll-floor BIN]
                             [--floor-threads N] [--durability-ceiling]

In one run, ROUNDS rounds; inside a round every workload runs once against each server
that speaks it, the servers' order rotating from round to round, so that the machine's
drift hits them alike. Medians are taken by scripts/bench-report.py.

The servers, each started once, on loopback:
- kabar: `kabar-server --demo` on a fresh SQLite file, defaults otherwise (durable: the log
  is flushed before every `OK`);
- redis-always: `redis-server --appendonly yes --appendfsync always` (every write on disk
  before its reply, the same promise as Kabar's);
- redis-memory: `redis-server --save "" --appendonly no` (nothing on disk: the ceiling);
- ngircd: ngIRCd with penalties off (one-to-one PRIVMSG forwarded in memory), when installed;
- sqlite-floor, with --single-thread-floor (the compiled scripts/single-thread-floor.c):
  not a chat server but SQLite with Kabar's schema behind Redis's one-thread loop (read
  what is ready, insert it, commit, flush, answer), on a copy of Kabar's fresh database,
  driven as Redis is; for `send` only. What a durable send costs in the cheapest request
  path there is with SQLite.
- kabar-normal, with --durability-ceiling: a second Kabar, the same binary with
  `--durability normal` (nothing flushed before an `OK`), on a file of its own; for `send`
  only. What Kabar's request path does when its commits cost no flush: the most that any
  cheaper flush could give.
- nio-floor, with --nio-floor (scripts/nio-floor, built with `swift build -c release
  --package-path scripts/nio-floor`): not a chat server but SwiftNIO with one handler that
  answers every line with Redis's `+PONG`, one event loop per core as Kabar has; for `ping`
  only. What a request costs SwiftNIO itself, the floor under Kabar's `ping`.
- epoll-floor, with --epoll-floor (scripts/epoll-floor, built the same way): the same probe
  in Swift without SwiftNIO, one thread with its own `epoll` per core; for `ping` only.
  What a front end of Kabar's own, off SwiftNIO, could reach at best. --floor-threads N
  runs both probes with N threads instead (Kabar's event loops: KABAR_THREADS=N in the
  environment of this script).

The workloads (chatload, 50 connections, 32-byte messages, the demo users):
send P1 and P16 (Redis: RPUSH; ngIRCd: PRIVMSG + PING), ping P1 and P16, mix P1
(Kabar only: 9 sends to 1 inbox); and, Kabar only, send P1 among 50 users (connection i
logged in as user i, sending to user i+1), without and then with a subscribed connection
of every one of them (scripts/subscribers.py holds them): live delivery must not slow the
plain send path.

With --sweep, also durable send P1 against 1, 10, 50, 200 and 1,000 connections (Kabar,
both Redis), one run each; Kabar's connections bind to one session with chatload's --token.

With --bench, also the CPU per request of the two load generators against the same
Kabar: chatload and kabar-bench, `ping` and `send` at c50 P16 and P1.

Each run writes one JSON line to OUT/compare.jsonl (server, workload, round, chatload's
figures, and the CPU seconds of the server and of the load generator)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import socket  # noqa: E402

from processes import (free_port, generator_command, process_cpu_seconds, request, run_generator,  # noqa: E402
                       wait_for_port)

CONNECTIONS = 50

# name: {server: chatload arguments}
WORKLOADS = {
    "send c50 P1": {
        "kabar": ["--mode", "progjar", "--op", "send", "--pipeline", "1"],
        "redis-always": ["--mode", "redis", "--op", "send", "--pipeline", "1"],
        "redis-memory": ["--mode", "redis", "--op", "send", "--pipeline", "1"],
        "ngircd": ["--mode", "irc", "--op", "send", "--pipeline", "1"],
        "sqlite-floor": ["--mode", "redis", "--op", "send", "--pipeline", "1"],
        "kabar-normal": ["--mode", "progjar", "--op", "send", "--pipeline", "1"],
    },
    "send c50 P16": {
        "kabar": ["--mode", "progjar", "--op", "send", "--pipeline", "16"],
        "redis-always": ["--mode", "redis", "--op", "send", "--pipeline", "16"],
        "redis-memory": ["--mode", "redis", "--op", "send", "--pipeline", "16"],
        "ngircd": ["--mode", "irc", "--op", "send", "--pipeline", "16"],
        "sqlite-floor": ["--mode", "redis", "--op", "send", "--pipeline", "16"],
        "kabar-normal": ["--mode", "progjar", "--op", "send", "--pipeline", "16"],
    },
    "ping c50 P1": {
        "kabar": ["--mode", "progjar", "--op", "ping", "--pipeline", "1"],
        "redis-memory": ["--mode", "redis", "--op", "ping", "--pipeline", "1"],
        "nio-floor": ["--mode", "redis", "--op", "ping", "--pipeline", "1"],
        "epoll-floor": ["--mode", "redis", "--op", "ping", "--pipeline", "1"],
    },
    "ping c50 P16": {
        "kabar": ["--mode", "progjar", "--op", "ping", "--pipeline", "16"],
        "redis-memory": ["--mode", "redis", "--op", "ping", "--pipeline", "16"],
        "nio-floor": ["--mode", "redis", "--op", "ping", "--pipeline", "16"],
        "epoll-floor": ["--mode", "redis", "--op", "ping", "--pipeline", "16"],
    },
    "mix c50 P1": {
        "kabar": ["--mode", "progjar", "--op", "mix", "--pipeline", "1"],
    },
    # 50 users, connection i logged in as user i and sending to user i+1: without
    # subscribers, then with each user's other connection subscribed (every message is a
    # `message` event for its recipient and a `sent` event for its sender).
    "send c50 P1, 50 users": {
        "kabar": ["--mode", "progjar", "--op", "send", "--pipeline", "1"],
    },
    "send c50 P1, 50 users subscribed": {
        "kabar": ["--mode", "progjar", "--op", "send", "--pipeline", "1"],
    },
}

# The users of the 50-user workloads, registered once at the start.
FIFTY_USERS = [f"load{index:02d}" for index in range(50)]
FIFTY_PASSWORD = "loadtest-password"


class Server:
    def __init__(self, name, command, port, cwd=None):
        self.name, self.port = name, port
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
        wait_for_port(port, self.process, name)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def kabar_server(name, arguments, folder, durability="full"):
    port = free_port()
    return Server(name, [
        arguments.server, "--demo", "--port", str(port), "--http-port", "0", "--durability", durability,
        "--database", os.path.join(folder, f"{name}.sqlite"), "--log-level", "warning"], port)


def start_servers(arguments, folder):
    servers = {"kabar": kabar_server("kabar", arguments, folder)}
    if arguments.durability_ceiling:
        servers["kabar-normal"] = kabar_server("kabar-normal", arguments, folder, durability="normal")
    if arguments.single_thread_floor:
        port = free_port()  # it copies Kabar's database while that holds only the demo users
        servers["sqlite-floor"] = Server("sqlite-floor", [
            arguments.single_thread_floor, os.path.join(folder, "kabar.sqlite"), str(port)], port)
    for name, binary in (("nio-floor", arguments.nio_floor), ("epoll-floor", arguments.epoll_floor)):
        if binary:
            port = free_port()
            threads = [str(arguments.floor_threads)] if arguments.floor_threads else []
            servers[name] = Server(name, [binary, str(port)] + threads, port)
    redis = shutil.which("redis-server")
    if redis:
        for name, persistence in (("redis-always", ["--appendonly", "yes", "--appendfsync", "always"]),
                                  ("redis-memory", ["--appendonly", "no"])):
            directory = os.path.join(folder, name)
            os.makedirs(directory)
            port = free_port()
            servers[name] = Server(name, [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                          "--dir", directory, "--daemonize", "no"] + persistence, port)
    else:
        print("redis-server is not installed: Redis is left out", file=sys.stderr)
    ngircd = shutil.which("ngircd") or (os.path.exists("/usr/sbin/ngircd") and "/usr/sbin/ngircd")
    if ngircd and not arguments.no_irc:
        port = free_port()
        configuration = os.path.join(folder, "ngircd.conf")
        with open(configuration, "w") as file:
            file.write(f"""[Global]
Name = bench.kabar.local
Info = Kabar benchmark peer
Listen = 127.0.0.1
Ports = {port}
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxPenaltyTime = 0
MaxNickLength = 16
[Options]
DNS = no
Ident = no
PAM = no
""")
        servers["ngircd"] = Server("ngircd", [ngircd, "--nodaemon", "--config", configuration], port)
    return servers


def reply_of(connection, line):
    """The JSON reply to one request line."""
    return json.loads(request(connection, line).split(b"\r\n\r\n")[0])


def register_users(port, users, password):
    for user in users:
        with socket.create_connection(("127.0.0.1", port)) as connection:
            reply = reply_of(connection, f"register {user} {password} Load Bench")
        if reply.get("status") != "OK" and "Sudah Ada" not in reply.get("message", ""):
            sys.exit(f"could not register {user}: {reply}")


def drain_inboxes(port, users, password):
    """Reads (and so marks read) every unread message of `users`: before a mix run, so
    that its first `inbox`es do not carry the earlier workloads' millions of messages."""
    for user in users:
        with socket.create_connection(("127.0.0.1", port)) as connection:
            token = reply_of(connection, f"auth {user} {password}")["tokenid"]
            request(connection, f"inbox {token}")


def run_chatload(arguments, server, extra, duration):
    command = [arguments.chatload, "--port", str(server.port), "--conns", str(CONNECTIONS),
               "--duration", str(duration), "--warmup", str(arguments.warmup), "--json"] + extra
    server_before = process_cpu_seconds(server.process.pid)
    load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output, errors = load.communicate()
    server_cpu = process_cpu_seconds(server.process.pid) - server_before
    if load.returncode != 0 or not output.strip():
        print(f"chatload failed against {server.name}: {errors.strip()}", file=sys.stderr)
        return None
    row = json.loads(output.strip().splitlines()[-1])
    row["server_cpu_s"] = round(server_cpu, 3)
    return row


def demo_token(port):
    """A session token of messi's, for chatload's --token (the sweep's many connections
    bind to it instead of each hashing a password)."""
    with socket.create_connection(("127.0.0.1", port)) as connection:
        return reply_of(connection, "auth messi surabaya")["tokenid"]


def sweep(arguments, servers, out):
    """Durable send (Redis: RPUSH) at P1 against the number of connections, one run each."""
    token = demo_token(servers["kabar"].port)
    for connections in (1, 10, 50, 200, 1000):
        for name in ("kabar", "redis-always", "redis-memory"):
            if name not in servers:
                continue
            mode = ["--mode", "progjar", "--token", token] if name == "kabar" else ["--mode", "redis"]
            server = servers[name]
            command = [arguments.chatload, "--port", str(server.port), "--conns", str(connections), "--op", "send",
                       "--pipeline", "1", "--duration", str(arguments.sweep_duration), "--warmup", "1", "--json"] + mode
            load = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if load.returncode != 0 or not load.stdout.strip():
                print(f"sweep: chatload failed against {name}: {load.stderr.strip()}", file=sys.stderr)
                continue
            row = json.loads(load.stdout.strip().splitlines()[-1])
            row.update({"kind": "sweep", "server": name, "connections": connections})
            print(json.dumps(row), file=out, flush=True)
            print(f"  sweep {name:13} c{connections:<5} {row['ops_per_sec']:>10,.0f}/s  p99 {row['p99_us'] / 1000:.2f} ms",
                  file=sys.stderr)


def generator_cpu_per_request(arguments, kabar, out):
    """CPU per request of chatload and of kabar-bench against the same Kabar (rusage of the
    child, whole run including set-up)."""
    cases = [("ping", 16), ("ping", 1), ("send", 16), ("send", 1)]
    for round_number in range(1, arguments.rounds + 1):
        for op, pipeline in cases:
            for generator in ("chatload", "kabar-bench"):
                binary = arguments.chatload if generator == "chatload" else arguments.bench
                command = generator_command(binary, kabar.port, op, pipeline, arguments.duration, generator == "chatload")
                try:
                    rate, requests, user, system = run_generator(command)
                except subprocess.CalledProcessError as failure:
                    print(f"{generator} failed: {failure.stderr.strip()}", file=sys.stderr)
                    continue
                cpu = user + system
                row = {"kind": "generator", "generator": generator, "workload": f"{op} c50 P{pipeline}",
                       "round": round_number, "rate": rate, "requests": requests, "cpu_s": round(cpu, 3),
                       "cpu_us_per_request": round(cpu * 1e6 / requests, 2) if requests else None}
                print(json.dumps(row), file=out, flush=True)
                print(f"  {generator:11} {row['workload']:13} {rate:>10,.0f}/s  {row['cpu_us_per_request']} µs CPU per request",
                      file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True)
    parser.add_argument("--chatload", required=True)
    parser.add_argument("--bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--out", default="bench-results")
    parser.add_argument("--only", help="workload names, separated by semicolons")
    parser.add_argument("--no-irc", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="also send P1 against 1 to 1,000 connections")
    parser.add_argument("--sweep-duration", type=float, default=5)
    parser.add_argument("--single-thread-floor", help="the compiled scripts/single-thread-floor.c")
    parser.add_argument("--nio-floor", help="the built scripts/nio-floor")
    parser.add_argument("--epoll-floor", help="the built scripts/epoll-floor")
    parser.add_argument("--floor-threads", type=int, help="threads of the two probes (default: one per core)")
    parser.add_argument("--durability-ceiling", action="store_true",
                        help="also Kabar with --durability normal, for send")
    arguments = parser.parse_args()
    workloads = {name: servers for name, servers in WORKLOADS.items()
                 if not arguments.only or name in arguments.only.split(";")}

    os.makedirs(arguments.out, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="kabar-bench-")
    servers = start_servers(arguments, folder)
    time.sleep(1)
    subscriber_port = servers["kabar"].port
    if any("50 users" in workload for workload in workloads):
        register_users(subscriber_port, FIFTY_USERS, FIFTY_PASSWORD)
    try:
        with open(os.path.join(arguments.out, "compare.jsonl"), "a") as out:
            for round_number in range(1, arguments.rounds + 1):
                print(f"round {round_number} of {arguments.rounds}", file=sys.stderr)
                for workload, commands in workloads.items():
                    names = [name for name in commands if name in servers]
                    shift = (round_number - 1) % len(names)
                    for name in names[shift:] + names[:shift]:
                        extra = list(commands[name])
                        if "50 users" in workload:
                            extra += ["--users", ",".join(FIFTY_USERS), "--password", FIFTY_PASSWORD]
                        if name == "kabar" and "mix" in workload:
                            drain_inboxes(servers[name].port, ["messi", "henderson", "lineker"], "surabaya")
                        subscribers = None
                        if "subscribed" in workload:
                            subscribers = subprocess.Popen(
                                [sys.executable, os.path.join(os.path.dirname(__file__), "subscribers.py"),
                                 str(subscriber_port), "50", "--users", ",".join(FIFTY_USERS),
                                 "--password", FIFTY_PASSWORD], stdout=subprocess.PIPE, text=True)
                            if subscribers.stdout.readline().strip() != "ready":
                                sys.exit("the subscribers did not start")
                        row = run_chatload(arguments, servers[name], extra, arguments.duration)
                        if subscribers:
                            subscribers.terminate()
                            received = json.loads(subscribers.communicate()[0].strip().splitlines()[-1])
                            if row:
                                row["events_received"] = received["events"]
                        if row is None:
                            continue
                        row.update({"kind": "server", "server": name, "workload": workload, "round": round_number})
                        print(json.dumps(row), file=out, flush=True)
                        print(f"  {name:13} {workload:28} {row['ops_per_sec']:>10,.0f}/s  p99 {row['p99_us'] / 1000:.2f} ms"
                              f"  errors {row['errors']}", file=sys.stderr)
            if arguments.sweep:
                print("connection sweep", file=sys.stderr)
                sweep(arguments, servers, out)
            if arguments.bench:
                print("CPU per request of the load generators", file=sys.stderr)
                generator_cpu_per_request(arguments, servers["kabar"], out)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
