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


def run_cli(argv):
    from toolkit.cli import main

    return main(argv)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def python():
    return sys.executable
