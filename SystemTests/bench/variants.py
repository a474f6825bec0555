"""Builds of Rampart side by side, in interleaved rounds: the same cases of compare.py against
each variant in turn, round after round, so that the machine's drift falls on every variant
alike. A variant is a binary, optionally run with a memory allocator preloaded (to measure one
before linking it in).

    python3 SystemTests/bench/variants.py --seconds 8 --rounds 3 \\
        --variant glibc=.build/release/rampart \\
        --variant jemalloc=.build/release/rampart+/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \\
        --case writes/64 --case 'authorize on a follower/64'

Prints, per case and variant, the median over the rounds of req/s, p50, p99 and the replicas'
peak RSS, and each round's req/s (the spread is the noise)."""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "process"))
from compare import run  # noqa: E402


def variant_binary(spec, directory):
    """`NAME=BINARY` or `NAME=BINARY+PRELOAD`: the name and an executable that runs it (a
    wrapper that sets LD_PRELOAD for a preloaded allocator)."""
    name, _, rest = spec.partition("=")
    binary, _, preload = rest.partition("+")
    if not name or not Path(binary).is_file():
        raise SystemExit(f"--variant {spec}: expected NAME=BINARY[+LIBRARY] with an existing binary")
    if not preload:
        return name, str(Path(binary).resolve())
    if not Path(preload).is_file():
        raise SystemExit(f"--variant {spec}: no library {preload}")
    wrapper = Path(directory) / f"rampart-{name}"
    wrapper.write_text(f'#!/bin/sh\nLD_PRELOAD={preload} exec {Path(binary).resolve()} "$@"\n')
    wrapper.chmod(0o755)
    return name, str(wrapper)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=BINARY[+PRELOAD]")
    parser.add_argument("--case", action="append", required=True, metavar="NAME/CONNECTIONS")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        variants = [variant_binary(spec, directory) for spec in arguments.variant]
        samples = {}
        for round_number in range(1, arguments.rounds + 1):
            for name, binary in variants:
                os.environ["RAMPART_BINARY"] = binary
                results = run(arguments.seconds, ("rampart",), tuple(arguments.case))
                for (case, connections, _), result in results.items():
                    samples.setdefault((case, connections), {}).setdefault(name, []).append(result)
                    print(f"round {round_number} {name:10} {case}/{connections}: {result['rate']:.0f} req/s, "
                          f"p99 {result['p99']:.2f} ms", flush=True)
    print(f"\nmedians of {arguments.rounds} interleaved rounds, {arguments.seconds} s each")
    print(f"{'case':36} {'variant':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8}  rounds (req/s)")
    for (case, connections), by_variant in samples.items():
        for name, _ in variants:
            runs = by_variant.get(name, [])
            if not runs:
                continue
            median = lambda key: statistics.median(r[key] for r in runs if r.get(key) is not None)
            rates = " ".join(f"{r['rate']:.0f}" for r in runs)
            print(f"{case + '/' + str(connections):36} {name:10} {median('rate'):9.0f} {median('p50'):8.2f} {median('p99'):8.2f} "
                  f"{median('rss'):8.0f}  {rates}")


if __name__ == "__main__":
    main()
