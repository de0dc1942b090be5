"""``camscan scan`` finds devices that answer only SNMP, Ubiquiti discovery, the XMEye search or
Bosch discovery (issue 16, items 4 and 5), keeps a credentials file's SNMP community and SNMPv3 user to their
targets and out of the recording, and ``--no-snmp`` / ``--no-discovery`` send none of it (checked on the wire)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from camscan_lab import NamespaceLab
from camscan_lab.profiles import generate_lab, load_profiles
from capture import start_capture, stop_capture

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tcpdump") is None,
    reason="namespace labs need root, iproute2 and tcpdump",
)

NET = "198.18.36.0/24"
CAMSCAN = [sys.executable, "-m", "camscan"]
COMMUNITY = "lab-s3cret-community"
V3_USER, V3_AUTH, V3_PRIV = "inventory-v3", "lab-auth-passphrase", "lab-priv-passphrase"  # discovery_more_profiles.yaml
NEW_PORTS = {161, 10001, 34569, 1757}
UBIQUITI_GROUP = "233.89.188.1"


@pytest.fixture(scope="module")
def lab():
    profiles = load_profiles(Path(__file__).with_name("discovery_more_profiles.yaml"))
    with NamespaceLab(generate_lab(len(profiles), NET, seed=16, profiles=profiles), prefix="csdm", network=NET) as lab:
        yield lab


def host(lab: NamespaceLab, profile: str):
    return next(item for item in lab.hosts if item.profile == profile)


def captured_scan(lab: NamespaceLab, work: Path, *args: str):
    """Run a scan while tcpdump watches the scanner's interface: (result, database, the scanner's packets)."""
    from scapy.layers.inet import IP
    from scapy.utils import rdpcap

    db, pcap = work / "scan.db", work / "wire.pcap"
    capture = start_capture(lab, pcap)
    try:
        result = lab.run([*CAMSCAN, "scan", NET, "--db", str(db), "--yes", "--ports", "80", *args],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    finally:
        stop_capture(capture)
    assert result.returncode == 0, result.stderr
    return result, db, [packet for packet in rdpcap(str(pcap)) if IP in packet and packet[IP].src == lab.scanner_ip]


def exported(db) -> dict[str, dict]:
    result = subprocess.run([*CAMSCAN, "export", "--db", str(db), "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return {device["ip"]: device for device in json.loads(result.stdout)}


def v3_account(target: str, auth_password: str) -> str:
    return (f"- service: snmp\n  username: {V3_USER}\n  auth_protocol: sha256\n  auth_password: {auth_password}\n"
            f"  priv_protocol: aes\n  priv_password: {V3_PRIV}\n  targets: [{target}]\n")


def snmpv3_sent(packets) -> list[str]:
    """Where each SNMPv3 message the scanner sent went."""
    from camscan.protocols.snmp import is_v3

    return [ip for ip, port, payload in udp_sent(packets) if port == 161 and is_v3(payload)]


def udp_sent(packets) -> list[tuple[str, int, bytes]]:
    from scapy.layers.inet import IP, UDP

    return [(packet[IP].dst, packet[UDP].dport, bytes(packet[UDP].payload)) for packet in packets if UDP in packet]


@pytest.fixture(scope="module")
def full_scan(lab, tmp_path_factory):
    work = tmp_path_factory.mktemp("more")
    credentials = work / "credentials.yaml"
    axis = host(lab, "axis-snmp-private-community")
    credentials.write_text(f"- service: snmp\n  community: {COMMUNITY}\n  targets: [{axis.ip}]\n"
                           + v3_account(host(lab, "axis-snmpv3-only").ip, V3_AUTH))
    credentials.chmod(0o600)
    recording = work / "scan.pcapng"
    result, db, sent = captured_scan(lab, work, "--credentials", str(credentials), "--record", str(recording))
    return result, db, sent, recording

NAMES_THE_MAKER_ONLY = {"bosch-discovery-only", "hikvision-snmp-only", "axis-snmp-private-community"}


def test_every_device_is_inventoried_and_identified(lab, full_scan):
    _, db, _, _ = full_scan
    devices = exported(db)
    for item in lab.hosts:
        device = devices.get(item.ip)
        assert device, f"{item.profile} at {item.ip} not inventoried"
        assert device["manufacturer"] == item.truth["manufacturer"], (item.profile, device["evidence"])
        # Bosch's discovery answers for cameras, encoders and decoders alike, and a sysObjectID under
        # Hikvision's or Axis's enterprise number for their intercoms, door controllers and speakers
        # too: they name the maker only.
        if item.profile in NAMES_THE_MAKER_ONLY:
            assert device["device_type"] is None, (item.profile, device["device_type"])
        else:
            assert device["is_camera"], (item.profile, device["device_type"])
    unifi = devices[host(lab, "unifi-g3-flex-discovery-only").ip]
    assert (unifi["model"], unifi["firmware"]) == ("UVC G3 Flex", "4.23.8.67")
    xmeye = devices[host(lab, "xmeye-dvr-search-only").ip]
    assert (xmeye["device_type"], xmeye["firmware"]) == ("dvr", "V4.02.R12.E7335520.12012.047502.00000")


def test_the_file_community_goes_to_its_target_only_and_is_never_kept(lab, full_scan):
    result, db, sent, recording = full_scan
    axis = host(lab, "axis-snmp-private-community")
    carrying = {ip for ip, port, payload in udp_sent(sent) if COMMUNITY.encode() in payload}
    assert carrying == {axis.ip}
    public = {ip for ip, port, payload in udp_sent(sent) if port == 161 and b"public" in payload}
    assert public == {item.ip for item in lab.hosts}, "community public goes to every live host"
    assert COMMUNITY not in result.stdout + result.stderr
    assert "snmp account 1 for" in result.stderr and "offered to 1 device(s)" in result.stderr
    with sqlite3.connect(db) as conn:
        assert COMMUNITY not in "\n".join(conn.iterdump())
    written = recording.read_bytes()
    assert COMMUNITY.encode() not in written, "the recording keeps no community"
    assert b"dock-cam" in written, "the agent's reply is recorded, its community blanked"


def test_the_snmpv3_account_reads_the_system_group_of_its_target_only_and_is_never_kept(lab, full_scan):
    result, db, sent, recording = full_scan
    agent = host(lab, "axis-snmpv3-only")
    device = exported(db)[agent.ip]
    assert (device["manufacturer"], device["is_camera"]) == ("axis", True)
    with sqlite3.connect(db) as conn:
        said = dict(conn.execute("SELECT field, value FROM observations WHERE device_id = ? AND field LIKE 'snmp.%'",
                                 [device["id"]]))
        kept = "\n".join(conn.iterdump())
    assert (said["snmp.sys_descr"], said["snmp.sys_object_id"], said["snmp.sys_name"]) == (
        "AXIS Q1615 Mk III Network Camera", "1.3.6.1.4.1.368.4", "gate-cam")
    assert snmpv3_sent(sent) == [agent.ip, agent.ip], "engine discovery and the GET, to the account's target only"
    assert not [ip for ip, _port, payload in udp_sent(sent) if V3_USER.encode() in payload and ip != agent.ip]
    assert f"({V3_USER}, SNMPv3 authPriv)" in result.stderr
    for secret in (V3_AUTH, V3_PRIV):
        assert secret not in result.stdout + result.stderr and secret not in kept
    written = recording.read_bytes()
    assert V3_USER.encode() not in written and V3_AUTH.encode() not in written, "the recording keeps no user"
    assert written.count(b"\x04\x18" + b"X" * 24) == 2, "the request's and the reply's HMAC-SHA-256 digests blanked"


def test_a_wrong_snmpv3_password_is_a_note_for_the_host_and_not_retried(lab, tmp_path):
    agent = host(lab, "axis-snmpv3-only")
    credentials = tmp_path / "credentials.yaml"
    credentials.write_text(v3_account(agent.ip, "not-the-lab-passphrase"))
    credentials.chmod(0o600)
    result, db, sent = captured_scan(lab, tmp_path, "--credentials", str(credentials))
    assert snmpv3_sent(sent) == [agent.ip, agent.ip], "engine discovery and one GET: no retry"
    notes = [line for line in result.stderr.splitlines() if "usmStatsWrongDigests" in line]
    assert len(notes) == 1 and agent.ip in notes[0] and "not retried" in notes[0], result.stderr
    assert "not-the-lab-passphrase" not in result.stdout + result.stderr
    assert (exported(db).get(agent.ip) or {}).get("manufacturer") is None


def test_ubiquiti_discovery_multicasts_on_the_in_scope_link_and_the_others_stay_unicast(lab, full_scan):
    _, _, sent, _ = full_scan
    destinations = {(ip, port) for ip, port, _payload in udp_sent(sent)}
    assert (UBIQUITI_GROUP, 10001) in destinations
    for port in (161, 34569, 1757):
        assert {ip for ip, sent_to in destinations if sent_to == port} == {item.ip for item in lab.hosts}, port


def accounts_file(lab, work: Path) -> Path:
    """A credentials file with the lab's SNMP community and SNMPv3 account."""
    credentials = work / "accounts.yaml"
    credentials.write_text(f"- service: snmp\n  community: {COMMUNITY}\n  targets: [{NET}]\n"
                           + v3_account(host(lab, "axis-snmpv3-only").ip, V3_AUTH))
    credentials.chmod(0o600)
    return credentials


def test_no_snmp_sends_nothing_to_udp_161(lab, tmp_path):
    """Not even with an SNMPv3 account and a community in the credentials file."""
    result, db, sent = captured_scan(lab, tmp_path, "--no-snmp", "--credentials", str(accounts_file(lab, tmp_path)))
    assert not [item for item in udp_sent(sent) if item[1] == 161]
    devices = exported(db)
    assert devices[host(lab, "unifi-g3-flex-discovery-only").ip]["manufacturer"] == "ubiquiti"
    snmp_only = host(lab, "hikvision-snmp-only")
    assert (devices.get(snmp_only.ip) or {}).get("manufacturer") is None, "only SNMP could have named it"


def test_no_discovery_sends_no_discovery_at_all_snmp_included(lab, tmp_path):
    result, db, sent = captured_scan(lab, tmp_path, "--no-discovery", "--credentials", str(accounts_file(lab, tmp_path)))
    assert not [item for item in udp_sent(sent) if item[1] in NEW_PORTS or item[0] == UBIQUITI_GROUP]
    assert not [item for item in udp_sent(sent) if item[1] != 53], "ARP and TCP only"


def test_the_recording_replays_to_the_same_inventory_without_the_community(lab, full_scan, tmp_path):
    _, db, _, recording = full_scan
    replayed = tmp_path / "replay.db"
    result = subprocess.run([*CAMSCAN, "scan", NET, "--db", str(replayed), "--yes", "--replay", str(recording)],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    live, again = exported(db), exported(replayed)
    # The SNMPv3 exchange is not replayed: the recording kept neither its user nor its digests.
    v3_only = host(lab, "axis-snmpv3-only").ip
    assert (again.get(v3_only) or {}).get("manufacturer") is None
    assert {ip: device["manufacturer"] for ip, device in again.items() if ip != v3_only} == {
        ip: device["manufacturer"] for ip, device in live.items() if ip != v3_only}
    assert again[host(lab, "axis-snmp-private-community").ip]["manufacturer"] == "axis", (
        "the agent's reply, its community blanked, still identifies it")
