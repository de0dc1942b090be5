"""What the replay tests share: a guard that fails a test opening any network socket."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def no_network(monkeypatch):
    """Any network socket opened during the test is a failure (Unix sockets stay allowed)."""
    real_socket = socket.socket

    def refuse(family=socket.AF_INET, *args, **kwargs):
        if family in (socket.AF_INET, socket.AF_INET6, getattr(socket, "AF_PACKET", -1)):
            raise AssertionError("a replay opened a network socket")
        return real_socket(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", refuse)
