import pytest

from interop_helpers import Rampart, reference


@pytest.fixture(scope="session")
def rampart(tmp_path_factory):
    """`rampart biscuit` from a private copy of the binary under test (a test fails, never
    skips, when the binary is missing)."""
    return Rampart.copied(tmp_path_factory.mktemp("rampart-biscuit"))


@pytest.fixture(scope="session")
def ref():
    """The reference implementation, biscuit-python 0.4.0 (a test fails when it is missing)."""
    return reference()
