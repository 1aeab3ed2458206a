import os
import sys

import pytest

os.environ.setdefault("DASK_DISTRIBUTED__ADMIN__TICK__LIMIT", "10s")


@pytest.fixture(scope="session")
def client():
    """One real LocalCluster of 2 process workers (1 GiB each) for the integration tier."""
    import toolkit

    c = toolkit.connect(None, jobs=2, memory_limit="1GiB", dashboard_address="127.0.0.1:0")
    yield c
    cluster = c.cluster
    c.close()
    cluster.close()


@pytest.fixture
def make_cluster():
    """Dedicated LocalClusters for tests that change, hang or kill their workers; closed afterwards."""
    import toolkit

    made = []

    def make(limit="1GiB", jobs=2):
        c = toolkit.connect(None, jobs=jobs, memory_limit=limit, dashboard_address="127.0.0.1:0")
        made.append(c)
        return c

    yield make
    for c in made:
        cluster = c.cluster
        c.close()
        cluster.close()


def run_cli(argv):
    from toolkit._cli import main

    return main(argv)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def python():
    return sys.executable
