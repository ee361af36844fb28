#!/usr/bin/env python3
"""CPU per request of load generators driving one Kabar server, alternating in each round:
to compare two builds of kabar-bench, or kabar-bench with chatload.

    scripts/generator-cpu.py SERVER_BINARY OP PIPELINE ROUNDS NAME=BINARY [NAME=BINARY ...]
    scripts/generator-cpu.py .build/release/kabar-server send 16 6 \
        new=.build/release/kabar-bench old=/tmp/kabar-bench-old chatload=.build/chatload

Starts SERVER_BINARY with --demo on a fresh SQLite file and runs each generator for 6 s
(c50, three demo users) in turn, round after round, in the reverse order every other
round. A NAME starting with `chatload` is run as chatload (`--mode progjar`), any other as
kabar-bench. Prints each run's rate and the
generator's CPU per request (rusage of the child, set-up included), all and user only: a
client's kernel time per request follows how many replies each read brings, which follows
the server's speed, so the user part is the steadier one for comparing two builds.
"""
import sys

from processes import demo_server, generator_command, run_generator


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    server, op, pipeline, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    generators = [argument.split("=", 1) for argument in sys.argv[5:]]
    with demo_server(server) as (_, port, _):
        for round_number in range(1, rounds + 1):
            for name, binary in (generators if round_number % 2 else generators[::-1]):
                command = generator_command(binary, port, op, pipeline, 6, name.startswith("chatload"))
                rate, requests, user, system = run_generator(command)
                print(f"round {round_number} {op} P{pipeline} {name:12} {rate:>12,.0f}/s  "
                      f"{(user + system) * 1e6 / requests:.3f} µs per request, user {user * 1e6 / requests:.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
