#!/usr/bin/env python3
"""What several nodes on one PostgreSQL cost a durable `send`, measured with chatload.

In one run, alternating, ROUNDS rounds (medians reported):
- one kabar-server on SQLite (the default store);
- one, two and three kabar-server nodes on one PostgreSQL database;
- pgbench on the same cluster: one durable single-row INSERT per transaction, 50 clients
  (the database's own ceiling for one commit per request).
The load is 50 connections in all (split evenly over the nodes, one chatload per node
running at the same time), 32-byte sends to the demo users, pipeline 1 and 16. The
PostgreSQL cluster is a throwaway one (initdb into a temporary folder, fsync and
synchronous_commit on, as the postgres user when run as root).

usage: scripts/bench-nodes.py SERVER_BINARY CHATLOAD_BINARY [ROUNDS]
"""
import glob
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from processes import free_port, wait_for_port

SERVER, CHATLOAD = sys.argv[1], sys.argv[2]
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
DURATION, WARMUP, CONNECTIONS = 8, 2, 50


def postgres_binaries():
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")):
            return folder
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else sys.exit("PostgreSQL's server programs are not installed")


def as_postgres(command):
    if os.getuid() != 0:
        return command
    account = pwd.getpwnam("postgres")
    return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups", "--"] + command


class Cluster:
    def __init__(self, base):
        self.bin = postgres_binaries()
        self.directory = tempfile.mkdtemp(prefix="kabar-pg-", dir=base)
        if os.getuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        subprocess.run(as_postgres([f"{self.bin}/initdb", "-D", f"{self.directory}/data", "-U", "kabar", "--auth=trust",
                                    "-E", "UTF8", "--locale=C"]), check=True, stdout=subprocess.DEVNULL)
        self.port = free_port()
        self.process = subprocess.Popen(as_postgres([
            f"{self.bin}/postgres", "-D", f"{self.directory}/data", "-p", str(self.port), "-k", self.directory,
            "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "shared_buffers=256MB"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while subprocess.run([f"{self.bin}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode != 0:
            time.sleep(0.1)
        self.count = 0

    def new_database(self):
        self.count += 1
        name = f"kabar_{self.count}"
        subprocess.run([f"{self.bin}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "kabar", name], check=True)
        return name

    def url(self, name):
        return f"postgres://kabar@127.0.0.1:{self.port}/{name}?sslmode=disable"

    def pgbench(self):
        name = self.new_database()
        common = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "kabar"]
        subprocess.run([f"{self.bin}/pgbench", "-i", "-q", "-s", "1"] + common + [name], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        script = os.path.join(self.directory, "insert.sql")
        with open(script, "w") as file:
            file.write("\\set aid random(1, 100000)\n"
                       "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :aid, 1, CURRENT_TIMESTAMP);\n")
        output = subprocess.run([f"{self.bin}/pgbench", "-n", "-c", str(CONNECTIONS), "-j", "2", "-T", str(DURATION),
                                 "-f", script] + common + [name], check=True, capture_output=True, text=True).stdout
        for line in output.splitlines():
            if line.startswith("tps ="):
                return float(line.split()[2])
        sys.exit("pgbench printed no tps:\n" + output)

    def stop(self):
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_nodes(database, count):
    nodes = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen([SERVER, "serve", "--demo", "--port", str(port), "--database", database,
                                    "--log-level", "warning"], stderr=subprocess.DEVNULL)
        nodes.append((process, port))
    for process, port in nodes:
        wait_for_port(port, process, "kabar-server")
    return nodes


def load(nodes, pipeline):
    """One chatload per node at once, the connections split evenly: total rate, worst p99."""
    share = CONNECTIONS // len(nodes)
    runs = []
    for index, (_, port) in enumerate(nodes):
        connections = share + (CONNECTIONS - share * len(nodes) if index == 0 else 0)
        runs.append(subprocess.Popen([CHATLOAD, "--mode", "progjar", "--op", "send", "--port", str(port),
                                      "--conns", str(connections), "--pipeline", str(pipeline), "--duration",
                                      str(DURATION), "--warmup", str(WARMUP), "--json"],
                                     stdout=subprocess.PIPE, text=True))
    results = [json.loads(run.communicate()[0].strip().splitlines()[-1]) for run in runs]
    errors = sum(result.get("errors", 0) for result in results)
    return sum(result["ops_per_sec"] for result in results), max(result["p99_us"] for result in results) / 1000, errors


def main():
    base = os.environ.get("BENCH_DIR", tempfile.gettempdir())
    cluster = Cluster(base)
    results = {}
    try:
        for round_number in range(1, ROUNDS + 1):
            print(f"round {round_number} of {ROUNDS}", file=sys.stderr)
            configurations = [("SQLite, 1 node", None, 1)] + [(f"PostgreSQL, {n} node{'s' if n > 1 else ''}", "pg", n) for n in (1, 2, 3)]
            for name, store, count in configurations:
                if store is None:
                    directory = tempfile.mkdtemp(prefix="kabar-sqlite-", dir=base)
                    database = os.path.join(directory, "kabar.sqlite")
                else:
                    directory, database = None, cluster.url(cluster.new_database())
                nodes = start_nodes(database, count)
                try:
                    for pipeline in (1, 16):
                        rate, p99, errors = load(nodes, pipeline)
                        results.setdefault((name, pipeline), []).append((rate, p99, errors))
                        print(f"  {name} P{pipeline}: {rate:,.0f}/s p99 {p99:.1f} ms errors {errors}", file=sys.stderr)
                finally:
                    for process, _ in nodes:
                        process.terminate()
                        process.wait()
                    if directory:
                        shutil.rmtree(directory, ignore_errors=True)
            tps = cluster.pgbench()
            results.setdefault(("pgbench", 0), []).append((tps, 0, 0))
            print(f"  pgbench single-row INSERT, 50 clients: {tps:,.0f} tps", file=sys.stderr)
    finally:
        cluster.stop()

    print(f"| store and nodes | durable `send` c{CONNECTIONS} P1 | p99 | P16 | p99 |")
    print("|---|---:|---:|---:|---:|")
    for name in ["SQLite, 1 node", "PostgreSQL, 1 node", "PostgreSQL, 2 nodes", "PostgreSQL, 3 nodes"]:
        cells = []
        for pipeline in (1, 16):
            runs = results[(name, pipeline)]
            cells += [f"{statistics.median(r[0] for r in runs):,.0f}/s", f"{statistics.median(r[1] for r in runs):.1f} ms"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    tps = statistics.median(r[0] for r in results[("pgbench", 0)])
    print(f"| pgbench: one single-row INSERT per transaction, {CONNECTIONS} clients | {tps:,.0f} tps | | | |")
    errors = sum(r[2] for runs in results.values() for r in runs)
    print(f"\n{ROUNDS} rounds, medians; {errors} errors in all.")


if __name__ == "__main__":
    main()
