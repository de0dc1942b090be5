"""Namespace labs for the tests: each one must leave no namespace behind."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from camscan_lab import LabHost, NamespaceLab
from camscan_lab.netns import list_namespaces


@contextmanager
def torn_down_lab(hosts: Sequence[LabHost], prefix: str, network: str) -> Iterator[NamespaceLab]:
    """A namespace lab of ``hosts``, checked gone (every ``prefix-`` namespace) once it is down."""
    with NamespaceLab(list(hosts), prefix=prefix, network=network) as running:
        yield running
    assert not [name for name in list_namespaces() if name.startswith(f"{prefix}-")]
