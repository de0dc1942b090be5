"""One identity rule and one service upsert: a scan and a merge find the same devices the same
way, and a service keeps what it was found to speak when a later look learns nothing."""

from __future__ import annotations

import dataclasses

import pytest
from inventory import Clock, device, scan

from camscan.model import Device, Identification, Service
from camscan.store import Store

CLAIMED_MAC = "3c:ef:8c:aa:bb:cc"

# Scans of one site, in order; each a list of devices. Between them devices move (ARP's MAC
# follows them), a MAC-less device stays at its address, a device claims a MAC (SADP-like) that
# ARP later sees at another address, and a device's MAC-less sighting meets its MAC.
SCANS = [
    [device("hikvision-cam", "198.18.0.11"), device("mystery-cam", "198.18.0.14"),
     dataclasses.replace(device("lts-cam", "198.18.0.30", mac=None), mac=CLAIMED_MAC, mac_seen=False),
     device("printer", "198.18.0.13", mac=None)],
    [device("hikvision-cam", "198.18.0.21"), device("mystery-cam", "198.18.0.14"),
     dataclasses.replace(device("lts-cam", "198.18.0.31"), mac=CLAIMED_MAC),
     device("printer", "198.18.0.13"), device("avigilon-cam", "198.18.0.12")],
    [device("hikvision-cam", "198.18.0.11"), device("mystery-cam", "198.18.0.22"),
     dataclasses.replace(device("lts-cam", "198.18.0.30", mac=None), mac=CLAIMED_MAC, mac_seen=False)],
]


def histories(store: Store) -> set[tuple]:
    """Each device as the scans saw it: its (scan order, address) pairs, and its MAC now."""
    order = {row["id"]: number for number, row in enumerate(store.scans())}
    seen: dict[int, list] = {}
    for row in store.db.query("SELECT device_id, scan_id, ip FROM sightings ORDER BY scan_id"):
        seen.setdefault(row["device_id"], []).append((order[row["scan_id"]], row["ip"]))
    macs = {row["id"]: row["mac"] for row in store.db.query("SELECT id, mac FROM devices")}
    return {(tuple(pairs), macs[device_id]) for device_id, pairs in seen.items()}


@pytest.mark.parametrize("site", ["School A", None])
def test_a_scan_and_a_merge_identify_the_same_devices_the_same_way(tmp_path, site):
    clock = Clock()
    with Store(tmp_path / "scanned.db", clock=clock) as scanned:
        for devices in SCANS:
            scan(scanned, clock, devices, site=site)
        by_scans = histories(scanned)
    clock = Clock()
    for number, devices in enumerate(SCANS):
        with Store(tmp_path / f"scan{number}.db", clock=clock) as alone:
            scan(alone, clock, devices, site=site)
    with Store(tmp_path / "merged.db") as merged:
        for number in range(len(SCANS)):
            merged.merge_from(tmp_path / f"scan{number}.db")
        assert histories(merged) == by_scans
    assert len(by_scans) == 7  # a MAC-less device at a new address is new; a MAC the wire holds elsewhere is no claim


def identified_camera(ip: str, services: list[Service]) -> Device:
    return Device(ip=ip, mac="44:19:b6:01:02:03", mac_seen=True, services=services,
                  identification=Identification(vendor="hikvision", device_type="ip-camera"))


def test_a_rescan_that_learns_no_protocol_keeps_the_known_one(tmp_path):
    ip = "198.18.0.10"
    with Store(tmp_path / "inventory.db") as store:
        for services in ([Service(ip, 8000, "hikvision-sdk", banner="SDK")], [Service(ip, 8000, None)]):
            scan_id = store.start_scan([ip], {})
            store.record_device(scan_id, identified_camera(ip, services))
            store.finish_scan(scan_id)
        [found] = store.devices()
    assert found["services"] == [{"port": 8000, "protocol": "hikvision-sdk", "transport": "tcp", "banner": "SDK"}]


def test_a_merge_of_an_older_scan_keeps_the_newer_protocol(tmp_path):
    ip = "198.18.0.10"
    clock = Clock()
    with Store(tmp_path / "old.db", clock=clock) as old:
        scan_id = old.start_scan([ip], {})
        old.record_device(scan_id, identified_camera(ip, [Service(ip, 80, "http", banner="old")]))
        old.finish_scan(scan_id)
    clock.advance(hours=1)
    with Store(tmp_path / "new.db", clock=clock) as new:
        scan_id = new.start_scan([ip], {})
        new.record_device(scan_id, identified_camera(ip, [Service(ip, 80, "https", banner="new")]))
        new.finish_scan(scan_id)
        new.merge_from(tmp_path / "old.db")
        services = new.db.execute("SELECT protocol, banner, first_seen FROM services").fetchall()
    assert services == [("https", "new", "2026-11-29T08:00:00Z")]
