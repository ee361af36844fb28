#!/usr/bin/env python3
"""Holds subscribed Kabar connections open and counts the events they receive.

    scripts/subscribers.py PORT COUNT [--users messi,henderson,lineker] [--password surabaya]

Connection i logs in as users[i % len(users)], reads its inbox (so that nothing waits to
be replayed) and sends `subscribe TOKEN`; from then on
it only reads (events are counted by their frame terminator, not parsed, so that this
process costs little CPU beside the server). It prints "ready" on standard output once
every connection is subscribed, and on SIGTERM or SIGINT one JSON line with the number
of event frames received in all, then exits. BENCHMARKS.md's send run with subscribed
recipients uses it beside chatload."""
import argparse
import json
import selectors
import signal
import socket
import sys

TERMINATOR = b"\r\n\r\n"


def read_reply(connection):
    data = b""
    while TERMINATOR not in data:
        chunk = connection.recv(65536)
        if not chunk:
            sys.exit("the server closed a subscriber's connection")
        data += chunk
    reply, _, rest = data.partition(TERMINATOR)
    return json.loads(reply), rest


def subscribe(port, user, password):
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(f"auth {user} {password}\r\n".encode())
    reply, _ = read_reply(connection)
    if reply.get("status") != "OK":
        sys.exit(f"auth {user} failed: {reply}")
    # Read what is waiting first (`inbox` marks it read), so that the subscription starts
    # with no replay of earlier runs' messages: only the load's own events are counted.
    connection.sendall(f"inbox {reply['tokenid']}\r\n".encode())
    inbox, _ = read_reply(connection)
    if inbox.get("status") != "OK":
        sys.exit(f"inbox {user} failed: {inbox}")
    connection.sendall(f"subscribe {reply['tokenid']}\r\n".encode())
    reply, rest = read_reply(connection)
    if reply.get("status") != "OK":
        sys.exit(f"subscribe {user} failed: {reply}")
    connection.setblocking(False)
    return connection, rest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--users", default="messi,henderson,lineker")
    parser.add_argument("--password", default="surabaya")
    arguments = parser.parse_args()
    users = arguments.users.split(",")

    selector = selectors.DefaultSelector()
    tails = {}
    events = 0
    for index in range(arguments.count):
        connection, rest = subscribe(arguments.port, users[index % len(users)], arguments.password)
        events += rest.count(TERMINATOR)
        tails[connection] = rest[-3:]
        selector.register(connection, selectors.EVENT_READ)
    print("ready", flush=True)

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    while not stopping:
        for key, _ in selector.select(timeout=0.2):
            try:
                chunk = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                sys.exit("the server closed a subscriber's connection")
            # A terminator may be split between two reads: count across the boundary.
            joined = tails[key.fileobj] + chunk
            events += joined.count(TERMINATOR)
            tails[key.fileobj] = joined[-3:] if not joined.endswith(TERMINATOR) else b""
    print(json.dumps({"subscribers": arguments.count, "events": events}), flush=True)


if __name__ == "__main__":
    main()
