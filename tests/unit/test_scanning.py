"""The scan library's heartbeat: it beats while the scan runs and stops with it."""

from __future__ import annotations

import asyncio

from camscan import scanning


class CountingStore:
    def __init__(self) -> None:
        self.beats: list[int] = []

    def heartbeat(self, scan_id: int) -> None:
        self.beats.append(scan_id)


def test_the_heartbeat_beats_while_the_scan_runs_and_stops_with_it(monkeypatch):
    monkeypatch.setattr(scanning, "HEARTBEAT_SECONDS", 0.01)
    store = CountingStore()

    async def scan_then_wait() -> int:
        await scanning._with_heartbeat(asyncio.sleep(0.1), store, 7)
        during = len(store.beats)
        await asyncio.sleep(0.05)
        return during

    during = asyncio.run(scan_then_wait())
    assert during >= 3 and set(store.beats) == {7}
    assert len(store.beats) == during  # none after the scan ended
