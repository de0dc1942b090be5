"""MAC addresses from the kernel's ARP table (/proc/net/arp), for scans without root."""

from __future__ import annotations

from camscan.transport import neighbours
from camscan.transport.neighbours import KernelNeighbours, parse_arp_table

TABLE = """IP address       HW type     Flags       HW address            Mask     Device
198.18.60.9      0x1         0x2         EC:71:DB:D2:02:62     *        lab0
198.18.60.252    0x1         0x0         00:00:00:00:00:00     *        lab0
198.18.60.4      0x1         0x6         4c:bd:8f:5a:d1:96     *        lab0
198.18.60.7      0x1         0x2         00:00:00:00:00:00     *        lab0
198.18.60.8      0x1         zz          4c:bd:8f:5a:d1:97     *        lab0
truncated line
"""


def test_only_resolved_entries_count():
    assert parse_arp_table(TABLE) == {"198.18.60.9": "ec:71:db:d2:02:62", "198.18.60.4": "4c:bd:8f:5a:d1:96"}


def test_lookup_rereads_for_an_address_it_has_not_seen_yet(tmp_path, monkeypatch):
    table = tmp_path / "arp"
    table.write_text(TABLE.splitlines()[0] + "\n")
    clock = [100.0]
    monkeypatch.setattr(neighbours.time, "monotonic", lambda: clock[0])
    kernel = KernelNeighbours(str(table))
    assert kernel.mac_observation("198.18.60.9") is None
    table.write_text(TABLE)
    assert kernel.mac_observation("198.18.60.9") is None  # read a moment ago: not again yet
    assert kernel.mac_observation("198.18.60.9", max_age=0.0) is not None  # the scan's last look, when it must be fresh
    clock[0] += neighbours.REREAD_SECONDS
    seen = kernel.mac_observation("198.18.60.4")
    assert (seen.field, seen.value, seen.source, seen.ip) == ("mac.address", "4c:bd:8f:5a:d1:96", "neighbour", "198.18.60.4")


def test_no_table_is_no_mac(tmp_path):
    assert KernelNeighbours(str(tmp_path / "missing")).mac_observation("198.18.60.9") is None
