#!/usr/bin/env python3
"""Where one group of a kabar-server's threads spends its CPU under load: the profiles
behind each look of issue 14 in BENCHMARKS.md.

    scripts/profile-threads.py --chatload BIN [--op send|ping] [--pipeline 16] \
        [--group "event loops"|store|flusher|checkpoint|all] [--seconds 3] [--out FILE] SERVER_BINARY

Starts the server with --demo on a fresh SQLite file, drives it with chatload (50
connections, the given op and pipeline depth), and 3 s into the load records the group's
threads with `perf record -F 4000 -g` for the given seconds. Prints chatload's rate, the
group's hottest functions (their own samples), and which functions call `swift_retain`
and `swift_release` the most: reference counting is where Swift code's per-request
copies show. The recording stays in FILE (perf.data by default) for `perf report -i`.
Needs `perf` and the permission to record another process (root, or a low
`kernel.perf_event_paranoid`)."""
import argparse
import collections
import json
import subprocess
import time

from processes import demo_server, generator_command, group_of, tasks

WARM_UP = 3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chatload", required=True)
    parser.add_argument("--op", choices=["send", "ping", "inbox", "mix"], default="send")
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--group", default="event loops")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--out", default="perf.data")
    parser.add_argument("server")
    arguments = parser.parse_args()

    with demo_server(arguments.server) as (process, port, _):
        command = generator_command(arguments.chatload, port, arguments.op, arguments.pipeline,
                                    WARM_UP + arguments.seconds + 2, is_chatload=True, warmup=1)
        load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        time.sleep(WARM_UP)
        thread_ids = [tid for tid, name in thread_names(process.pid)
                      if arguments.group == "all" or group_of(name) == arguments.group]
        if not thread_ids:
            raise SystemExit(f"no thread of the group {arguments.group!r}")
        subprocess.run(["perf", "record", "-F", "4000", "-g", "-t", ",".join(thread_ids), "-o", arguments.out,
                        "--", "sleep", str(arguments.seconds)], capture_output=True, check=True)
        result = json.loads(load.communicate()[0].strip().splitlines()[-1])
    print(f"{arguments.op} c50 P{arguments.pipeline}: {result['ops_per_sec']:,.0f} req/s, "
          f"{arguments.group}: {len(thread_ids)} threads recorded for {arguments.seconds} s into {arguments.out}")

    report = subprocess.run(["perf", "report", "-i", arguments.out, "--no-children", "--sort", "sym", "--stdio",
                             "-g", "none"], capture_output=True, text=True).stdout
    print("\nown samples, hottest first:")
    print("\n".join([line for line in report.splitlines() if "%" in line and not line.startswith("#")][:30]))

    shares, total = callers_of(arguments.out, {"swift_retain", "swift_release"})
    print(f"\nswift_retain and swift_release: {sum(shares.values()) / total:.1%} of the samples; their callers:")
    for caller, count in shares.most_common(15):
        print(f"{count / total:6.2%}  {caller[:150]}")


def thread_names(pid):
    """(thread id, name) of each of the process's threads (a thread's stat opens with its id)."""
    for name, stat in tasks(pid, "stat"):
        yield stat.split()[0], name


def callers_of(recording, functions):
    """How many samples of `recording` are in one of `functions`, by the first caller that
    is not one of them nor the Swift runtime's, and how many samples there are in all."""
    script = subprocess.run(["perf", "script", "-i", recording, "-F", "ip,sym"], capture_output=True, text=True).stdout
    counts, total = collections.Counter(), 0
    for block in script.split("\n\n"):
        frames = [line.strip().split(" ", 1)[1] for line in block.strip().splitlines() if " " in line.strip()]
        if not frames:
            continue
        total += 1
        if frames[0] in functions:
            counts[next((f for f in frames[1:] if f not in functions and not f.startswith("swift::")), "?")] += 1
    return counts, max(total, 1)


if __name__ == "__main__":
    main()
