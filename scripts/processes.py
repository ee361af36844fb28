"""What the measuring scripts share: loopback ports, a Kabar server on a fresh file, one
request to Kabar, a load generator's run, and the CPU a process's threads spent."""
import contextlib
import json
import os
import pathlib
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time


def free_port():
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, name):
    """Returns once `port` accepts connections; exits if `process` ends or 10 s pass first."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} did not start")


@contextlib.contextmanager
def demo_server(binary):
    """Runs `binary` with --demo on a fresh SQLite file in a new folder, logging warnings
    only; yields (process, port, folder) once it listens. Afterwards the server is stopped
    if it still runs, and the folder removed: a minute of load leaves a gigabyte of
    messages, and a day of measuring filled this machine's disk before it did."""
    folder = tempfile.mkdtemp(prefix="kabar-measure-")
    process = None
    try:
        port = free_port()
        process = subprocess.Popen([binary, "--demo", "--port", str(port), "--http-port", "0", "--tls-port", "0",
                                    "--database", os.path.join(folder, "kabar.sqlite"), "--log-level", "warning"])
        wait_for_port(port, process, os.path.basename(binary))
        yield process, port, folder
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def requests_served(op, folder, chatload_result, warmup=2, duration=6):
    """The requests a server started by `demo_server` answered over a chatload run
    (warm-up included): for `send` the messages in its file, otherwise chatload's count of
    the measured seconds scaled to the warm-up before them."""
    if op == "send":
        with sqlite3.connect(os.path.join(folder, "kabar.sqlite")) as database:
            return database.execute("SELECT count(*) FROM messages").fetchone()[0]
    return chatload_result["ok"] * (warmup + duration) / duration


def generator_command(binary, port, op, pipeline, duration, is_chatload, warmup=0):
    """The command line of a load generator driving Kabar on `port` for `duration` seconds,
    50 connections logged in as the three demo users: chatload (`--mode progjar`, after
    `warmup` seconds not measured) if `is_chatload`, otherwise kabar-bench (no warm-up)."""
    if is_chatload:
        return [binary, "--mode", "progjar", "--port", str(port), "--conns", "50", "--op", op,
                "--pipeline", str(pipeline), "--duration", str(duration), "--warmup", str(warmup), "--json"]
    return [binary, "--port", str(port), "--connections", "50", "--op", op, "--pipeline", str(pipeline),
            "--users", "3", "--duration", str(duration), "--json"]


def run_generator(command):
    """Runs a load generator (`generator_command`) to its end. Returns (requests per second,
    requests answered, user seconds, system seconds) of the child, set-up included; raises
    `subprocess.CalledProcessError` if it fails."""
    before = os.times()
    run = subprocess.run(command, capture_output=True, text=True, check=True)
    after = os.times()
    result = json.loads(run.stdout.strip().splitlines()[-1])
    return (result.get("ops_per_sec") or result.get("requests_per_second"),
            result.get("ok") or result.get("requests") or 0,
            after.children_user - before.children_user, after.children_system - before.children_system)


def tasks(pid, *files):
    """(name, the text of each of `files`) of each of the process's threads, from
    /proc/PID/task/TID/; a thread that ended meanwhile is left out."""
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            yield (task / "comm").read_text().strip(), *[(task / file).read_text() for file in files]
        except FileNotFoundError:
            continue


def threads(pid):
    """(name, user seconds, system seconds, run-queue seconds) so far of each of the
    process's threads: its CPU time, and its time runnable but waiting for a CPU."""
    ticks = os.sysconf("SC_CLK_TCK")
    for name, stat, schedstat in tasks(pid, "stat", "schedstat"):
        fields = stat.rsplit(")", 1)[1].split()
        yield name, int(fields[11]) / ticks, int(fields[12]) / ticks, int(schedstat.split()[1]) / 1e9


def request(connection, line):
    """Sends one request line to Kabar and returns its whole reply (bytes, ending in the
    blank line that ends every reply); exits if the server closes the connection."""
    connection.sendall(line.encode() + b"\r\n")
    reply = b""
    while not reply.endswith(b"\r\n\r\n"):
        chunk = connection.recv(1 << 20)
        if not chunk:
            sys.exit("the server closed the connection")
        reply += chunk
    return reply


def process_cpu_seconds(pid, leaving_out=None):
    """CPU seconds so far of the process's threads, except those whose name starts with
    `leaving_out`."""
    return sum(user + system for name, user, system, _ in threads(pid)
               if leaving_out is None or not name.startswith(leaving_out))


GROUPS = ("store", "flusher", "checkpoint", "event loops", "hashing", "other")


def group_of(thread_name):
    """The group of a kabar-server thread: the store (`kabar-sqlite`), its flusher
    (`kabar-flush`), its checkpoints (`kabar-checkpt`), the event loops, the password
    hashing (`kabar-work-N`) or the rest."""
    if thread_name.startswith("NIO-ELT"):
        return "event loops"
    if thread_name.startswith("kabar-work-"):
        return "hashing"
    return {"kabar-sqlite": "store", "kabar-flush": "flusher", "kabar-checkpt": "checkpoint"}.get(thread_name, "other")


def thread_groups(pid):
    """CPU seconds and run-queue seconds so far of each group of a kabar-server's threads
    (`group_of`)."""
    cpu = dict.fromkeys(GROUPS, 0.0)
    waiting = dict(cpu)
    for name, user_seconds, system_seconds, waiting_seconds in threads(pid):
        group = group_of(name)
        cpu[group] += user_seconds + system_seconds
        waiting[group] += waiting_seconds
    return cpu, waiting


def thread_group_sleeps(pid):
    """How often so far each group of a kabar-server's threads (`group_of`) went to sleep:
    its voluntary context switches (waiting for work, a lock, the disk), from
    /proc/PID/task/*/status."""
    sleeps = dict.fromkeys(GROUPS, 0)
    for name, status in tasks(pid, "status"):
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                sleeps[group_of(name)] += int(line.split()[1])
    return sleeps
