"""What the replay tests share: a guard that fails a test opening any network socket, and the
replay networks a test's scans ran on."""

from __future__ import annotations

import socket

import pytest

from camscan.transport.replay import ReplayNetwork


@pytest.fixture
def no_network(monkeypatch):
    """Any network socket opened during the test is a failure (Unix sockets stay allowed)."""
    real_socket = socket.socket

    def refuse(family=socket.AF_INET, *args, **kwargs):
        if family in (socket.AF_INET, socket.AF_INET6, getattr(socket, "AF_PACKET", -1)):
            raise AssertionError("a replay opened a network socket")
        return real_socket(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", refuse)


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
