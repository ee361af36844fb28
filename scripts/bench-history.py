#!/usr/bin/env python3
"""The cost of `history` and `conversations` on big data, through a real kabar-server.

Builds a database with a conversation of MESSAGES messages (messi and henderson, both
ways) and a user (lineker) who has exchanged a message with each of PEERS users, then
times, over a socket, `history henderson` (the newest 50) as messi, a page far back, and
`conversations` as lineker. The schema is made by the server itself; the rows are
inserted with Python's sqlite3, with the rows of `conversation_peers` (who talked to
whom) that the server adds when it stores a message.

usage: scripts/bench-history.py SERVER_BINARY [MESSAGES] [PEERS]
"""
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from processes import free_port, request, wait_for_port

SERVER = sys.argv[1]
MESSAGES = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
PEERS = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000


def serve(database):
    port = free_port()
    process = subprocess.Popen([SERVER, "serve", "--demo", "--port", str(port), "--database", database],
                               stderr=subprocess.DEVNULL)
    wait_for_port(port, process, "kabar-server")
    return process, port


def timed(connection, line, rounds):
    """Milliseconds of each of `rounds` round trips of `line`, and the last reply's size."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        reply = request(connection, line)
        times.append((time.perf_counter() - started) * 1000)
    return times, len(reply)


def main():
    directory = tempfile.mkdtemp(prefix="kabar-history-")
    database = os.path.join(directory, "kabar.sqlite")
    process, _ = serve(database)  # creates the schema and the demo users
    process.terminate()
    process.wait()

    started = time.perf_counter()
    db = sqlite3.connect(database)
    ids = dict(db.execute("SELECT username, id FROM users"))
    now = int(time.time() * 1000)
    with db:
        rows = ((("messi", "Lionel Messi", ids["henderson"]) if i % 2 == 0 else ("henderson", "Jordan Henderson", ids["messi"]))
                for i in range(MESSAGES))
        db.executemany(
            "INSERT INTO messages (sender_username, sender_name, recipient_id, body, received_at, read_at) VALUES (?, ?, ?, ?, ?, ?)",
            ((sender, name, recipient, f"pesan {i}", now, now) for i, (sender, name, recipient) in enumerate(rows)))
        db.executemany(
            "INSERT INTO users (username, name, country, password_hash, created_at) VALUES (?, ?, 'Bench', '$scrypt$unused', ?)",
            ((f"peer-{i}", f"Peer {i}", now) for i in range(PEERS)))
        peer_ids = [row[0] for row in db.execute("SELECT id FROM users WHERE username LIKE 'peer-%' ORDER BY id")]
        db.executemany(
            "INSERT INTO messages (sender_username, sender_name, recipient_id, body, received_at) VALUES ('lineker', 'Gary Lineker', ?, 'halo', ?)",
            ((peer, now) for peer in peer_ids))
        pairs = [(ids["messi"], "henderson"), (ids["henderson"], "messi")]
        pairs += [(ids["lineker"], f"peer-{i}") for i in range(PEERS)] + [(peer, "lineker") for peer in peer_ids]
        db.executemany("INSERT OR IGNORE INTO conversation_peers (user_id, peer_username) VALUES (?, ?)", pairs)
    db.close()
    filled = time.perf_counter() - started

    process, port = serve(database)
    try:
        messi = socket.create_connection(("127.0.0.1", port))
        request(messi, "auth messi surabaya")
        lineker = socket.create_connection(("127.0.0.1", port))
        request(lineker, "auth lineker surabaya")
        request(messi, "history henderson")  # warm the caches once
        newest, newest_bytes = timed(messi, "history henderson", 50)
        far_back, _ = timed(messi, f"history henderson 50 {MESSAGES // 10}", 50)
        request(lineker, "conversations")
        conversations, conversations_bytes = timed(lineker, "conversations", 20)
    finally:
        process.terminate()
        process.wait()
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))
        os.rmdir(directory)

    print(f"database: {MESSAGES:,} messages between messi and henderson, lineker with {PEERS:,} peers "
          f"(filled in {filled:.1f} s)")
    for name, times, size in [("history henderson (newest 50)", newest, newest_bytes),
                              (f"history henderson 50 {MESSAGES // 10}", far_back, newest_bytes),
                              (f"conversations ({PEERS:,} peers)", conversations, conversations_bytes)]:
        print(f"{name}: median {statistics.median(times):.2f} ms, max {max(times):.2f} ms "
              f"over {len(times)} requests ({size:,} bytes each)")


if __name__ == "__main__":
    main()
