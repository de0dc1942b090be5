"""The scan library: its heartbeat, and the sentence that says what a scan will touch."""

from __future__ import annotations

import asyncio

from camscan import scanning
from camscan.scanning import Scan


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


def test_a_scan_says_what_it_will_touch_with_its_rates_and_its_shard(tmp_path):
    whole = Scan(["127.0.0.1"], db_path=tmp_path / "inventory.db", ports=[80, 554], rate=250, arp_rate=50,
                 concurrency=16, discovery=False)
    assert whole.describe() == ("camscan will touch 1 address(es) in 127.0.0.1 on 2 TCP port(s), at most 250 "
                                "packets/s (ARP 50/s) and 16 connections at once.")
    second = Scan(["127.0.0.1"], db_path=tmp_path / "inventory.db", ports=[80, 554], shard=(2, 3))
    assert "(shard 2 of 3: one address-port pair in 3)" in second.describe()
    assert not second.options["discovery"], "discovery asks hosts, not pairs: only shard 1 sends it"
