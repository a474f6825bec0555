"""Fixtures of the supply-chain tests: an SBOM of the binary under test, made once per session."""

import json

import pytest

from supply_chain_helpers import make_sbom


@pytest.fixture(scope="session")
def sbom_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("sbom") / "sbom.cdx.json"
    make_sbom(path)
    return path


@pytest.fixture(scope="session")
def sbom(sbom_path):
    return json.loads(sbom_path.read_text())
