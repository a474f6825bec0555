"""Every named fault schedule in its short form: faults for a few seconds, then heal, converge
and check the history (set, register linearizability, audit). The long form is scripts/faults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nemesis import NEEDS_ROOT, SCHEDULES

HERE = Path(__file__).resolve().parent
SECONDS = os.environ.get("RAMPART_FAULT_SECONDS", "8")


def run_schedule(schedule, tmp_path, *options):
    """Runs `schedule` in its short form and checks what every run must show."""
    if schedule in NEEDS_ROOT and os.geteuid() != 0:
        pytest.skip("this schedule needs root: a network namespace and iptables, or a mount (CI runs as root)")
    # As root every schedule runs in a network namespace of its own, replicas on 127.0.0.2-4.
    namespace = ["--netns"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [sys.executable, str(HERE / "run.py"), "--schedule", schedule, "--seconds", SECONDS, "--keep", str(tmp_path), *namespace, *options],
        capture_output=True, text=True, timeout=600)
    print(result.stdout)
    assert result.returncode == 0, f"{schedule} failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    assert "lost: 0;" in result.stdout and "divergences: 0;" in result.stdout
    assert (tmp_path / f"history-{schedule}.jsonl").stat().st_size > 0
    if schedule == "follower-cutoff":
        installed = next(line for line in result.stdout.splitlines() if "snapshots installed" in line)
        assert int(installed.rsplit(" ", 1)[1]) > 0, "the cut-off follower caught up by snapshot"
    if schedule == "leader-kill":
        assert "leader kill to first acknowledged write" in result.stdout
    if schedule == "grow-shrink":
        cycles = next(line for line in result.stdout.splitlines() if "membership cycles:" in line)
        assert int(cycles.split("membership cycles:")[1].split()[0]) >= 1, cycles
        assert "membership problem" not in result.stdout
    return result


@pytest.mark.parametrize("schedule", sorted(s for s in SCHEDULES if s != "none"))
def test_schedule_keeps_every_acknowledged_write_and_converges(schedule, tmp_path):
    run_schedule(schedule, tmp_path)


@pytest.mark.parametrize("schedule", ["leader-kill", "proxy-chaos", "isolate-leader", "grow-shrink"])
def test_schedule_with_tls_keeps_every_acknowledged_write_and_converges(schedule, tmp_path):
    """The same with HTTPS for the clients and mutual TLS between the replicas: a crash, a relay
    that cuts, delays and duplicates the TLS stream, a partition, and members added by address
    (each proved by its certificate) and removed."""
    result = run_schedule(schedule, tmp_path, "--tls")
    assert "TLS on" in result.stdout
    logs = [path.read_text(errors="replace") for path in tmp_path.glob("replica-*.log")]
    assert logs and all("peer_tls=mutual" in log for log in logs), "every replica ran its peers over mutual TLS"
