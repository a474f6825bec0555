"""The README's walkthrough runs as written: the commands of "Start a local cluster" and "Use the
API and the CLI", top to bottom, against a local cluster that `scripts/cluster` starts, with
`rampart` on the PATH as a newcomer would have it. It runs in a copy of the files the walkthrough
uses (so that a developer's own local cluster is never touched), and must write nothing there
but the cluster's state directory (ignored by git)."""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from harness import binary

ROOT = Path(__file__).resolve().parents[2]
#: What the walkthrough writes outside the repository, removed before and after.
OUTPUTS = ["/tmp/rampart.snapshot", "/tmp/deployer.key", "/tmp/deployer.token", "/tmp/audit.jsonl"]


def sh_blocks(readme, heading):
    """The ```sh blocks of the section under `heading`, in order."""
    section = readme[readme.index(heading) + len(heading):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    return re.findall(r"```sh\n(.*?)```", section, re.DOTALL)


def files_under(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_the_readme_walkthrough_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    start = sh_blocks(readme, "## Start a local cluster")
    # The first starts the cluster (the test runs it, in the background); the next use it.
    assert start[0].strip() == "scripts/cluster", start[0]
    blocks = [start[1], sh_blocks(readme, "## Use the API and the CLI")[0]]
    copy = tmp_path / "repository"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "cluster", copy / "scripts" / "cluster")
    shutil.copytree(ROOT / "cluster" / "local-3", copy / "cluster" / "local-3", ignore=shutil.ignore_patterns("state"))
    before = files_under(copy)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "rampart").symlink_to(binary())
    environment = {"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(tmp_path), "RAMPART_BINARY": binary()}
    for path in OUTPUTS:
        Path(path).unlink(missing_ok=True)
    started = subprocess.Popen([str(copy / "scripts" / "cluster")], cwd=copy, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    printed = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = started.stdout.readline()
            if not line:
                break
            printed.append(line)
            if line.startswith("Ctrl-C stops every replica"):
                break
        assert any("Rampart: 3 replicas running" in line for line in printed), "".join(printed)
        # One shell session, as a reader's terminal: the first block's exports hold for the second.
        marker = "=== the next block of the README ==="
        script = f"\necho '{marker}'\n".join(blocks)
        ran = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=copy, env=environment, capture_output=True, text=True,
                             timeout=300)
        assert ran.returncode == 0, f"the walkthrough stopped:\nstdout:\n{ran.stdout[-3000:]}\nstderr:\n{ran.stderr[-3000:]}"
        outputs = ran.stdout.split(marker)
        assert len(outputs) == 2
        # What a newcomer sees: the members table with replica 4 added by address, the metric...
        assert "MEMBER" in outputs[0] and "replica 4 waits to be added" in outputs[0] and "rampart_raft_term" in outputs[0], outputs[0]
        # ...a decision, a verified token, the audit chain verified.
        assert "allowed" in outputs[1] and "verified" in outputs[1], outputs[1][-2000:]
        for path in OUTPUTS:
            assert Path(path).is_file(), f"the walkthrough did not write {path}"
        written = [name for name in files_under(copy) if name not in before and not name.startswith("cluster/local-3/state/")]
        assert written == [], f"the walkthrough wrote into the repository: {written}"
    finally:
        os.killpg(started.pid, signal.SIGINT)
        try:
            started.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(started.pid, signal.SIGKILL)
        subprocess.run(["pkill", "-f", f"--config {copy}"], check=False)
        for path in OUTPUTS:
            Path(path).unlink(missing_ok=True)
