import pytest

from harness import Cluster


@pytest.fixture
def cluster(tmp_path):
    """A started 3-replica cluster with its first admin key; killed after the test."""
    started = Cluster(tmp_path)
    started.start()
    yield started
    started.stop()


@pytest.fixture
def make_cluster(tmp_path):
    """Builds a cluster with custom settings; every cluster made is killed after the test."""
    made = []

    def make(**settings):
        root = tmp_path / f"cluster-{len(made)}"
        root.mkdir()
        created = Cluster(root, **settings)
        made.append(created)
        return created

    yield make
    for created in made:
        created.stop()
