"""ClusterSession on a real LocalCluster: reused while the sizing settings are the same, replaced when they change."""

from __future__ import annotations

import pytest

from toolkit._config import BuildConfig
from toolkit._session import ClusterSession, sizing_key

pytestmark = pytest.mark.integration


def _cfg(**settings) -> BuildConfig:
    return BuildConfig.create(memory_limit="512MiB", dashboard_address="127.0.0.1:0", **settings)


def test_sizing_key_counts_the_memory_percent_only_for_an_automatic_local_limit():
    auto = BuildConfig.create(jobs=1)
    assert sizing_key(auto) != sizing_key(BuildConfig.create(jobs=1, max_memory_percent=50))
    fixed = BuildConfig.create(jobs=1, memory_limit="1GiB")
    assert sizing_key(fixed) == sizing_key(BuildConfig.create(jobs=1, memory_limit="1GiB", max_memory_percent=50))


def test_session_reuses_while_settings_match_and_replaces_on_a_jobs_change():
    session = ClusterSession()
    try:
        first = session.client(_cfg(jobs=1))
        cluster = first.cluster
        assert session.client(_cfg(jobs=1, size=64)) is first  # a non-sizing setting: same cluster
        assert session.reuses(_cfg(jobs=1)) and not session.reuses(_cfg(jobs=2))
        assert session.dashboard_link and session.dashboard_link.endswith("/status")
        second = session.client(_cfg(jobs=2))
        assert second is not first
        assert first.status == "closed" and cluster.status.name == "closed"  # what it made is closed
        assert len(second.scheduler_info()["workers"]) == 2
    finally:
        session.close()
    assert second.status == "closed" and not session.started and session.dashboard_link is None


def test_close_leaves_a_given_client_open(client):
    session = ClusterSession(client)
    assert session.client(_cfg(jobs=1)) is client
    assert session.client(_cfg(jobs=3)) is client  # your client serves every build as it is
    session.close()
    assert client.status == "running"
    assert client.submit(sum, [1, 2]).result() == 3
