"""Fixtures of the replay tests."""

from __future__ import annotations

import pytest

from camscan.transport.replay import ReplayNetwork


@pytest.fixture
def replay_networks(monkeypatch) -> list[ReplayNetwork]:
    """The replay networks the test's scans ran on, with the sends each logged."""
    networks: list[ReplayNetwork] = []
    opened = ReplayNetwork.__init__

    def open_and_keep(network: ReplayNetwork, recording) -> None:
        opened(network, recording)
        networks.append(network)

    monkeypatch.setattr(ReplayNetwork, "__init__", open_and_keep)
    return networks
