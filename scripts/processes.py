"""What the measuring scripts share: loopback ports, and the CPU a process's threads spent."""
import os
import pathlib
import socket
import sys
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


def threads(pid):
    """(name, CPU seconds, run-queue seconds) so far of each of the process's threads: user
    plus system time, and time runnable but waiting for a CPU."""
    ticks = os.sysconf("SC_CLK_TCK")
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            schedstat = (task / "schedstat").read_text().split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        yield name, (int(fields[11]) + int(fields[12])) / ticks, int(schedstat[1]) / 1e9
