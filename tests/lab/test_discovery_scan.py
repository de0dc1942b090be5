"""``camscan scan`` with discovery against emulated devices in network namespaces.

Devices that answer only WS-Discovery, SADP or DHIP are found and identified; models from
discovery replies reach the model field; XAddrs and LOCATIONs outside scope are never
contacted; ONVIF credentials work and are never stored or printed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from camscan_lab import NamespaceLab, build_hosts
from capture import start_capture, stop_capture

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="namespace labs need root and iproute2"
)

NET = "198.18.20.0/24"
CAMSCAN = [sys.executable, "-m", "camscan"]
PROFILES = [
    "hikvision-sadp-unactivated", "dahua-dhip-only", "honeywell-wsd-only", "hikvision-ds2cd", "dahua-ipc",
    "amcrest-ip2m", "axis-p3245", "bosch-dinion", "hikvision-locked", "onvif-rogue-refs", "onvif-malformed-wsd",
    "hp-laserjet", "synology-ds", "generic-onvif-cam",
]
GROUPS = {"239.255.255.250", "239.255.255.251", "224.0.0.251", "233.89.188.1"}  # the last: Ubiquiti discovery
IGMP_REPORTS = "224.0.0.22"  # IGMPv3 membership reports: the kernel announcing the joins above, on the link


@pytest.fixture(scope="module")
def lab():
    with NamespaceLab(build_hosts(PROFILES, NET, seed=4), prefix="csd", network=NET) as lab:
        yield lab


def scan(lab: NamespaceLab, db, *args: str) -> subprocess.CompletedProcess:
    return lab.run([*CAMSCAN, "scan", NET, "--db", str(db), "--yes", *args],
                   capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def exported(db) -> dict[str, dict]:
    result = subprocess.run([*CAMSCAN, "export", "--db", str(db), "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return {device["ip"]: device for device in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def discovery_scan(lab, tmp_path_factory):
    from scapy.layers.inet import IP
    from scapy.utils import rdpcap

    work = tmp_path_factory.mktemp("discovery")
    db, pcap = work / "discovery.db", work / "discovery.pcap"
    credentials = work / "credentials.yaml"
    hikvision = lab.hosts[PROFILES.index("hikvision-ds2cd")]
    user, password = hikvision.onvif_credentials
    credentials.write_text(f"- service: onvif\n  username: {user}\n  password: {password}\n"
                           f"  targets: [{hikvision.ip}]\n")
    credentials.chmod(0o600)
    capture = start_capture(lab, pcap) if shutil.which("tcpdump") else None
    try:
        result = scan(lab, db, "--credentials", str(credentials))
    finally:
        if capture:
            stop_capture(capture)
    assert result.returncode == 0, result.stderr
    sent = [p for p in rdpcap(str(pcap)) if IP in p and p[IP].src == lab.scanner_ip] if capture else None
    return db, result, sent, password


def test_discovery_only_devices_are_found_and_identified(lab, discovery_scan):
    db, _, _, _ = discovery_scan
    devices = exported(db)
    for host in lab.hosts:
        if host.profile in ("hikvision-sadp-unactivated", "dahua-dhip-only", "honeywell-wsd-only"):
            device = devices.get(host.ip)
            assert device, f"{host.profile} at {host.ip} not inventoried"
            assert device["is_camera"], (host.profile, device["device_type"], device["evidence"])
            assert {device["vendor"], device["manufacturer"]} & {host.truth["vendor"], host.truth["manufacturer"]}, (
                host.profile, device["vendor"], device["manufacturer"])


def test_models_from_discovery_reach_the_model_field(lab, discovery_scan):
    db, _, _, _ = discovery_scan
    devices = exported(db)
    carrying = [host for host in lab.hosts if host.is_camera and host.truth.get("discovery_model")]
    right = [h for h in carrying if (devices.get(h.ip, {}).get("model") or "").lower() == h.truth["discovery_model"].lower()]
    wrong = [(h.profile, devices.get(h.ip, {}).get("model"), h.truth["discovery_model"]) for h in carrying if h not in right]
    assert len(carrying) >= 8 and len(right) >= 0.9 * len(carrying), wrong


def test_non_cameras_answering_discovery_are_not_cameras(lab, discovery_scan):
    db, _, _, _ = discovery_scan
    devices = exported(db)
    for host in lab.hosts:
        if not host.is_camera:
            assert not devices[host.ip]["is_camera"], (host.profile, devices[host.ip]["device_type"])


def test_onvif_credentials_are_used_and_never_stored_or_printed(lab, discovery_scan):
    db, result, _, password = discovery_scan
    hikvision = lab.hosts[PROFILES.index("hikvision-ds2cd")]
    evidence = exported(db)[hikvision.ip]["evidence"]
    assert any(item["field"] == "onvif.model" for item in evidence), evidence
    assert password not in result.stdout + result.stderr
    assert "offered to 1 device(s)" in result.stderr, "only the Hikvision inside the account's targets was offered it"
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert password not in dump


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_nothing_leaves_scope_not_even_toward_rogue_xaddrs(lab, discovery_scan):
    _, result, sent, _ = discovery_scan
    scope = ipaddress.ip_network(NET)
    destinations = {p["IP"].dst for p in sent}
    stray = sorted(d for d in destinations if ipaddress.ip_address(d) not in scope and d not in GROUPS | {IGMP_REPORTS})
    assert not stray, f"scan sent to {stray}"
    assert "198.19.255.77" not in destinations
    assert destinations & GROUPS, "the lab link is wholly in scope, so discovery should have multicast"
    assert "outside scope: recorded, not contacted" in result.stderr


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_no_multicast_keeps_to_unicast(lab, tmp_path):
    from scapy.layers.inet import IP
    from scapy.utils import rdpcap

    pcap = tmp_path / "unicast.pcap"
    capture = start_capture(lab, pcap)
    try:
        result = scan(lab, tmp_path / "unicast.db", "--no-multicast")
    finally:
        stop_capture(capture)
    assert result.returncode == 0, result.stderr
    destinations = {p[IP].dst for p in rdpcap(str(pcap)) if IP in p and p[IP].src == lab.scanner_ip}
    assert not destinations & GROUPS and not any(ipaddress.ip_address(d).is_multicast for d in destinations)
    dahua = lab.hosts[PROFILES.index("dahua-dhip-only")]
    assert exported(tmp_path / "unicast.db")[dahua.ip]["manufacturer"] == "dahua"
