"""The reference implementation's side of scripts/bench-biscuit (biscuit-python 0.4.0, which
wraps biscuit-auth 6.0.0).

    python3 SystemTests/bench/biscuit_reference.py fixtures DIR   write the root key, tokens and Datalog
    python3 SystemTests/bench/biscuit_reference.py time DIR       time the reference on them (JSON, µs; the
                                                            script saves it as DIR/reference-*.json)
    python3 SystemTests/bench/biscuit_reference.py compare DIR    one table: the reference's medians and the
                                                            Swift benchmarks' (from DIR's jmh file)

The tokens look like the ones Rampart issues: an authority block stating the principal, its
organization, its bindings and their permissions, with an expiry check; attenuation blocks
narrowing the operation, the project and the expiry.
"""

import glob
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

from biscuit_auth import AuthorizerBuilder, Biscuit, BiscuitBuilder, BlockBuilder, PrivateKey, PublicKey

AUTHORITY = """principal("acme/deployer");
kind("service_account");
organization("acme");
api_key("0000000000000000000000000000abcd");
binding("acme/deployer", "ops", "project", "acme/web");
permission("acme/deployer", "compute.instances.create", "acme/web");
permission("acme/deployer", "compute.instances.get", "acme/web");
permission("acme/deployer", "compute.disks.get", "acme/web");
issued_at(2026-12-07T00:00:00Z);
check if time($t), $t < 2036-12-07T00:00:00Z;"""

ATTENUATION = """check if operation($op), ["compute.instances.get", "compute.disks.get"].contains($op);
check if time($t), $t < 2035-01-01T00:00:00Z;"""

MORE = [
    'check if project("acme/web");',
    'check if resource($r), $r.starts_with("instances/");',
    'check if time($t), $t < 2034-01-01T00:00:00Z;',
]

AUTHORIZER = """time(2026-12-07T12:00:00Z);
operation("compute.instances.get");
project("acme/web");
resource("instances/vm-1");
allow if principal($p), permission($p, $perm, $project), operation($perm), project($project);"""

OPERATIONS = [
    "biscuit: parse and verify a 2-block token",
    "biscuit: parse and verify a 5-block token",
    "biscuit: authorize a verified 2-block token",
    "biscuit: parse, verify and authorize a 2-block token",
    "biscuit: issue a token (authority block, signed, base64)",
    "biscuit: attenuate a token (append a block, base64)",
]
#: Swift-only rows (RampartAuthorizer in process), compared with the reference's authorize-only time.
RAMPART_OPERATIONS = [
    "rampart: in-process authorize, cached token as issued",
    "rampart: in-process authorize, cached attenuated token",
]


def limits_for(builder):
    limits = builder.limits()
    limits.max_time = timedelta(seconds=1)
    builder.set_limits(limits)


def fixtures(folder):
    root = PrivateKey.from_bytes(os.urandom(32), __import__("biscuit_auth").Algorithm.Ed25519)
    two = BiscuitBuilder(AUTHORITY).build(root).append(BlockBuilder(ATTENUATION))
    five = two
    for code in MORE:
        five = five.append(BlockBuilder(code))
    files = {
        "root.private": repr(root), "two-blocks.token": two.to_base64(), "five-blocks.token": five.to_base64(),
        "authority.datalog": AUTHORITY, "attenuation.datalog": ATTENUATION, "authorizer.datalog": AUTHORIZER,
    }
    for name, text in files.items():
        with open(os.path.join(folder, name), "w") as handle:
            handle.write(text + "\n")


def median_microseconds(operation, seconds=2.0):
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 20:
        started = time.perf_counter_ns()
        operation()
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    return samples[len(samples) // 2]


def timings(folder):
    read = lambda name: open(os.path.join(folder, name)).read().strip()
    root = PrivateKey(read("root.private"))
    public = root.public_key if hasattr(root, "public_key") else None
    from biscuit_auth import KeyPair
    public = KeyPair.from_private_key(root).public_key
    two, five = read("two-blocks.token"), read("five-blocks.token")
    verified = Biscuit.from_base64(two, public)

    # The authorizer's Datalog is parsed once, as the Swift side's is (and as a service would):
    # both sides time building the authorizer for a token and running it.
    builder = AuthorizerBuilder(AUTHORIZER)
    limits_for(builder)

    def authorize(token):
        return builder.build(token).authorize()

    assert authorize(verified) == 0
    authority, attenuation = read("authority.datalog"), read("attenuation.datalog")
    results = {
        OPERATIONS[0]: median_microseconds(lambda: Biscuit.from_base64(two, public)),
        OPERATIONS[1]: median_microseconds(lambda: Biscuit.from_base64(five, public)),
        OPERATIONS[2]: median_microseconds(lambda: authorize(verified)),
        OPERATIONS[3]: median_microseconds(lambda: authorize(Biscuit.from_base64(two, public))),
        OPERATIONS[4]: median_microseconds(lambda: BiscuitBuilder(authority).build(root).to_base64()),
        OPERATIONS[5]: median_microseconds(lambda: verified.append(BlockBuilder(attenuation)).to_base64()),
    }
    json.dump(results, sys.stdout, indent=2)


def swift_results(folder):
    """Each Swift benchmark's median wall-clock microseconds and median allocations, from the
    jmh file the benchmark package wrote into `folder`."""
    paths = glob.glob(os.path.join(folder, "*.jmh.json"))
    if not paths:
        sys.exit(f"no jmh file in {folder}: run the Swift benchmarks with --format jmh --path {folder} first")
    scale = {"ns": 1 / 1000, "us": 1, "\u03bcs": 1, "ms": 1000, "s": 1_000_000}
    results = {}
    for entry in json.load(open(paths[0])):
        # The package writes "package.benchmark.<target>.<name with spaces as underscores>".
        name = entry["benchmark"].split(".", 3)[-1].replace("_", " ")
        operation = next((o for o in OPERATIONS + RAMPART_OPERATIONS if o.replace("_", " ") == name), None)
        if operation is None:
            continue
        metrics = entry.get("secondaryMetrics", {})
        wall, mallocs = metrics.get("Time (wall clock)"), metrics.get("Malloc (total)")
        if wall is None or mallocs is None:
            sys.exit(f"{entry['benchmark']}: the jmh file lacks the wall-clock time or the allocation count")
        unit = wall["scoreUnit"].split("/")[0].strip()
        if unit not in scale:
            sys.exit(f"{entry['benchmark']}: unknown time unit {unit!r}")
        results[operation] = (wall["scorePercentiles"]["50.0"] * scale[unit], mallocs["scorePercentiles"]["50.0"])
    return results


def compare(folder):
    """The reference is timed before and after the Swift benchmarks (this machine's speed
    drifts); the ratio is against the faster of its two medians."""
    runs = sorted(glob.glob(os.path.join(folder, "reference*.json")))
    if not runs:
        sys.exit(f"no reference timings in {folder}: run the time step first")
    references = [json.load(open(path)) for path in runs]
    swift = swift_results(folder)
    missing = [operation for operation in OPERATIONS + RAMPART_OPERATIONS if operation not in swift]
    if missing:
        sys.exit(f"the Swift benchmarks did not report: {', '.join(missing)}")
    print("| operation | reference (biscuit-python 0.4.0) p50 µs | Rampart Biscuit p50 µs | ratio | Rampart allocations |")
    print("|---|---:|---:|---:|---:|")
    for operation in OPERATIONS:
        ours, allocations = swift[operation]
        theirs = [reference[operation] for reference in references]
        shown = " / ".join(f"{value:.1f}" for value in theirs)
        print(f"| {operation.removeprefix('biscuit: ')} | {shown} | {ours:.1f} | {ours / min(theirs):.2f}× | {allocations:.0f} |")
    # The in-process path against the reference's authorize-only time (a verified token).
    theirs = [reference[OPERATIONS[2]] for reference in references]
    shown = " / ".join(f"{value:.1f}" for value in theirs)
    for operation in RAMPART_OPERATIONS:
        ours, allocations = swift[operation]
        print(f"| {operation.removeprefix('rampart: ')} (vs. the reference's authorize) | {shown} | {ours:.1f} | "
              f"{ours / min(theirs):.2f}× | {allocations:.0f} |")


if __name__ == "__main__":
    {"fixtures": fixtures, "time": timings, "compare": compare}[sys.argv[1]](sys.argv[2])
