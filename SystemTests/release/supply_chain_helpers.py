"""Helpers of the supply-chain tests: the scripts under test, the rampart binary, an SBOM made
from it. A missing binary or missing checkouts fail the tests; they never skip."""

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def load_script(name):
    """A script of scripts/ (no .py extension) as a module, for its functions."""
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(SCRIPTS / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def run(script, *arguments, env=None):
    """Runs a script of scripts/ and returns the finished process (output as text)."""
    environment = dict(os.environ)
    environment.pop("RAMPART_OSV_DIR", None)
    environment.update(env or {})
    return subprocess.run([sys.executable, str(SCRIPTS / script), *map(str, arguments)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=environment)


def binary_under_test():
    """$RAMPART_BINARY, else the debug build (as the other system tests)."""
    path = Path(os.environ.get("RAMPART_BINARY") or ROOT / ".build" / "debug" / "rampart")
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `swift build --product rampart` first (or set RAMPART_BINARY)",
                    pytrace=False)
    return path


def make_sbom(output, *extra):
    """Writes an SBOM of the binary under test with scripts/sbom; fails the test if it cannot."""
    finished = run("sbom", "--binary", binary_under_test(), "--output", output, *extra)
    assert finished.returncode == 0, f"scripts/sbom failed ({finished.returncode}):\n{finished.stderr}"
    return json.loads(Path(output).read_text())


def properties(component):
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def component(document, name):
    found = [c for c in document["components"] if c["name"] == name]
    assert found, f"the SBOM has no component {name}: {[c['name'] for c in document['components']]}"
    return found[0]
