"""scripts/image: the OCI image is built without a container engine, holds the binary and exactly
what it needs (no shell, no package manager), runs as a non-root user, is reproducible, and a
3-replica cluster runs from its root filesystem (chroot): bootstrapped, serving requests,
converging.

The suite builds the image of the debug binary (the release build with `-static-executable`
takes most of an hour on a CI machine): a dynamic binary, so the image holds the shared
libraries `ldd` names, the path a dynamic build takes. `scripts/image` with no argument builds
the static release binary and its image (docs/BENCHMARKS.md has its size)."""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from supply_chain_helpers import ROOT, binary_under_test

USER = 65532


def require_root_and_umoci():
    if os.geteuid() != 0:
        pytest.fail("the image tests run as root (umoci repacks with file owners; the cluster runs in a chroot)", pytrace=False)
    if shutil.which("umoci") is None:
        pytest.fail("umoci is missing: scripts/test-deps installs it (apt-get install umoci)", pytrace=False)


def build_image(output):
    result = subprocess.run([str(ROOT / "scripts" / "image"), "--binary", str(binary_under_test()), "--output", str(output)],
                            capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, f"scripts/image failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    index = json.loads((output / "index.json").read_text())
    assert len(index["manifests"]) == 1, index
    manifest = index["manifests"][0]
    return manifest["digest"], manifest["annotations"]["org.opencontainers.image.ref.name"], result.stdout


def blob(layout, digest):
    return json.loads((layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_text())


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    require_root_and_umoci()
    root = tmp_path_factory.mktemp("image")
    digest, tag, report = build_image(root / "oci")
    bundle = root / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{root / 'oci'}:{tag}", str(bundle)], check=True, capture_output=True, timeout=300)
    return {"root": root, "layout": root / "oci", "digest": digest, "tag": tag, "rootfs": bundle / "rootfs", "report": report}


def test_the_same_binary_gives_the_same_image(image, tmp_path):
    digest, tag, _ = build_image(tmp_path / "again")
    assert (digest, tag) == (image["digest"], image["tag"]), "a second build of the same binary gave another image"
    print(image["report"].strip())


def test_the_image_holds_the_binary_and_exactly_the_libraries_it_loads(image):
    rootfs = image["rootfs"]
    files = sorted(str(path.relative_to(rootfs)) for path in rootfs.rglob("*") if path.is_file() or path.is_symlink())
    linked = subprocess.run(["ldd", str(binary_under_test())], capture_output=True, text=True)
    libraries = linked.stdout if linked.returncode == 0 else ""  # a static binary: "not a dynamic executable"
    needed = sorted({line.split("=>")[1].split()[0].lstrip("/") for line in libraries.splitlines() if "=> /" in line}
                    | {line.split()[0].lstrip("/") for line in libraries.splitlines() if line.strip().startswith("/")})
    assert needed or "statically linked" in subprocess.run(["file", "-L", str(binary_under_test())], capture_output=True, text=True).stdout
    assert files == sorted(["usr/local/bin/rampart", "etc/passwd", "etc/group"] + needed), files
    assert not any(name in files for name in ("bin/sh", "usr/bin/apt", "usr/bin/dpkg")), "no shell, no package manager"
    assert not (rootfs / "etc" / "ssl").exists(), "TLS verifies against the cluster CA, not a system trust store"
    data = rootfs / "var" / "lib" / "rampart"
    assert (data.stat().st_uid, data.stat().st_mode & 0o777) == (USER, 0o700)


def test_the_image_runs_as_a_non_root_user_with_its_build_labelled(image):
    manifest = blob(image["layout"], image["digest"])
    config = blob(image["layout"], manifest["config"]["digest"])
    assert config["config"]["User"] == f"{USER}:{USER}"
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/rampart"] and config["config"]["Cmd"] == ["server"]
    assert "/var/lib/rampart" in config["config"]["Volumes"]
    built = json.loads(subprocess.run([str(binary_under_test()), "version", "--output", "json"], capture_output=True, text=True,
                                      check=True).stdout)
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == built["revision"]
    assert labels["org.opencontainers.image.version"] == built["version"] and image["tag"] == f"rampart:{built['version']}"
    assert config["created"] == labels["org.opencontainers.image.created"], "the creation time is the commit's, not the build's"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(url, method="GET", body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(url, data=data, method=method)
    if token:
        call.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(call, timeout=5) as response:
        text = response.read().decode()
        return json.loads(text) if response.headers.get("Content-Type", "").startswith("application/json") else text


def eventually(condition, timeout=30):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # a replica still starting
            last = error
        time.sleep(0.1)
    raise AssertionError(f"timed out (last error: {last})")


def test_a_three_replica_cluster_runs_from_the_image(image):
    """Three replicas from the image's root filesystem, each as user 65532 in a chroot, with
    only their configuration and secrets added: bootstrapped with the image's own binary, they
    elect a leader, take writes through any replica and converge."""
    rootfs = image["rootfs"]
    etc = rootfs / "etc" / "rampart"
    etc.mkdir()
    (etc / "cluster.secret").write_text(secrets.token_hex(32))
    (etc / "key-encryption.key").write_text(secrets.token_hex(32))
    ports = {n: (free_port(), free_port()) for n in (1, 2, 3)}
    for n, (peer, api) in ports.items():
        config = {"replica_id": n, "data_directory": f"/var/lib/rampart/replica-{n}", "peer_listen": f"127.0.0.1:{peer}",
                  "api_listen": f"127.0.0.1:{api}", "peers": {str(m): f"127.0.0.1:{p}" for m, (p, _) in ports.items()},
                  "initial_cluster": [1, 2, 3], "cluster_secret_file": "/etc/rampart/cluster.secret",
                  "key_encryption_key_file": "/etc/rampart/key-encryption.key", "tick_milliseconds": 20}
        (etc / f"replica-{n}.json").write_text(json.dumps(config))
    for path in etc.iterdir():
        os.chown(path, USER, USER)
        os.chmod(path, 0o600)
    os.chown(etc, USER, USER)
    chroot = ["chroot", f"--userspec={USER}:{USER}", str(rootfs), "/usr/local/bin/rampart"]
    # What a container runtime gives every container: /proc (the Swift runtime reads a
    # process's arguments from /proc/self/cmdline on Linux).
    (rootfs / "proc").mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(rootfs / "proc")], check=True)
    logs = [open(image["root"] / f"replica-{n}.log", "wb") for n in ports]
    processes = [subprocess.Popen(chroot + ["server", "--config", f"/etc/rampart/replica-{n}.json"], stdout=log, stderr=log)
                 for n, log in zip(ports, logs)]
    try:
        endpoints = [f"http://127.0.0.1:{api}" for _, api in ports.values()]
        bootstrap = subprocess.run(chroot + ["bootstrap", "--endpoints", ",".join(endpoints), "--cluster-secret-file",
                                             "/etc/rampart/cluster.secret", "--admin-key-file", "/etc/rampart/admin.key", "--wait", "60"],
                                   capture_output=True, text=True, timeout=90)
        assert bootstrap.returncode == 0, bootstrap.stderr
        assert (etc / "admin.key").is_file(), f"no admin key: {bootstrap.stdout} {bootstrap.stderr}"
        token = (etc / "admin.key").read_text().strip()
        eventually(lambda: all(request(e + "/v1/cluster", token=token) for e in endpoints))
        for n, endpoint in enumerate(endpoints):
            request(endpoint + "/v1/orgs", "POST", {"name": f"from-replica-{n + 1}"}, token=token)

        def converged():
            hashes = {json.dumps({k: v for k, v in request(e + "/v1/cluster/hash", token=token).items()}) for e in endpoints}
            return len(hashes) == 1

        eventually(converged)
        organizations = {o["name"] for o in request(endpoints[2] + "/v1/orgs?consistency=linearizable", token=token)["items"]}
        assert {"from-replica-1", "from-replica-2", "from-replica-3"} <= organizations
        assert all(p.poll() is None for p in processes), "every replica still runs"
        owners = {(rootfs / "var" / "lib" / "rampart" / f"replica-{n}").stat().st_uid for n in ports}
        assert owners == {USER}, "the replicas wrote their data as the image's user"
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        subprocess.run(["umount", str(rootfs / "proc")], check=False)
