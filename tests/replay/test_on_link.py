"""A replayed scan that also hears its link: devices claiming addresses outside scope and IPv6
neighbours are inventoried, and the scan attempts no send to any of them."""

from __future__ import annotations

import ipaddress
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, IPv6
from scapy.layers.l2 import ARP, Ether

from camscan.cli import main
from camscan.transport.replay import ReplayNetwork

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
NETWORK, LINK = "198.18.90.0/29", "198.18.90.1/29"
CAMERA, CAMERA_MAC = "198.18.90.2", "c0:56:e3:96:fb:71"  # pcaps/hikvision-ds2cd.json
FACTORY, FACTORY_MAC = "198.19.77.64", "58:50:ed:1f:00:10"
SADP_REPLY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ProbeMatch>\n<Uuid>1F9B2A6C-4E1D-4F5A-9C3E-7A2B5D8E0C11</Uuid>\n'
              b"<Types>inquiry</Types>\n<DeviceType>141945</DeviceType>\n<DeviceDescription>DS-2CD1043G0-I</DeviceDescription>\n"
              b"<DeviceSN>DS-2CD1043G0-I20200414AAWR123456789</DeviceSN>\n<MAC>58-50-ed-1f-00-10</MAC>\n"
              b"<IPv4Address>198.19.77.64</IPv4Address>\n<Activated>false</Activated>\n</ProbeMatch>\n")
HEARD = [
    Ether(src=FACTORY_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=FACTORY, dst="239.255.255.250")
    / UDP(sport=37020, dport=37020) / SADP_REPLY,
    # the in-scope camera also answers for a factory alias: the same MAC, claimed elsewhere
    Ether(src=CAMERA_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=CAMERA_MAC, psrc="198.19.0.108", pdst="198.19.0.1"),
    Ether(src=CAMERA_MAC, dst="02:00:00:00:00:01") / IPv6(src="fe80::c256:e3ff:fe96:fb71", dst="fe80::1") / ICMPv6EchoReply(),
    Ether(src="02:00:00:00:06:01", dst="02:00:00:00:00:01") / IPv6(src="fe80::6:1", dst="fe80::1") / ICMPv6EchoReply(),
]


def test_devices_heard_on_the_link_are_inventoried_and_never_sent_anything(tmp_path, monkeypatch):
    networks: list[ReplayNetwork] = []
    opened = ReplayNetwork.__init__

    def open_and_keep(network: ReplayNetwork, recording) -> None:
        opened(network, recording)
        networks.append(network)

    def hearing(network, links, bpf, on_frame):
        def open_() -> None:
            for frame in HEARD:
                on_frame("replay", bytes(frame), 1.0)
        return SimpleNamespace(open=open_, close=lambda: None, notices=[])

    monkeypatch.setattr(ReplayNetwork, "__init__", open_and_keep)
    monkeypatch.setattr(ReplayNetwork, "multicast_links",
                        lambda network, scope, interface: {"replay": ipaddress.IPv4Interface(LINK)})
    monkeypatch.setattr(ReplayNetwork, "link_listener", hearing)
    db = tmp_path / "replay.db"
    runner = CliRunner()
    result = runner.invoke(main, ["scan", NETWORK, "--replay", str(PCAPS / "hikvision-ds2cd.pcapng"), "--db", str(db),
                                  "--yes"])
    assert result.exit_code == 0, result.output
    devices = {device["ip"]: device for device in json.loads(
        runner.invoke(main, ["export", "--db", str(db), "--format", "json"]).output)}

    factory = devices[FACTORY]
    assert (factory["seen_as"], factory["mac"], factory["manufacturer"], factory["is_camera"]) == (
        "on-link, outside scope", FACTORY_MAC, "hikvision", True)
    assert [finding["check"] for finding in factory["findings"]] == ["misaddressed-device"]
    camera = devices[CAMERA]
    assert "seen_as" not in camera and "misaddressed-device" in [finding["check"] for finding in camera["findings"]]
    assert "198.19.0.108" not in devices, "the alias is the in-scope camera's, not a device of its own"
    assert "fe80::c256:e3ff:fe96:fb71%replay" not in devices, "joined the camera by its MAC"
    assert devices["fe80::6:1%replay"]["seen_as"] == "on-link, outside scope"
    with sqlite3.connect(db) as conn:
        said = set(conn.execute("SELECT field, value FROM observations WHERE device_id = ?", [camera["id"]]))
    assert {("ipv6.address", "fe80::c256:e3ff:fe96:fb71%replay"), ("onlink.outside_address", "198.19.0.108")} <= said

    table = runner.invoke(main, ["devices", "--db", str(db)]).output
    assert any(FACTORY in line and "(on-link, outside scope)" in line for line in table.splitlines()), table
    shown = runner.invoke(main, ["show", FACTORY, "--db", str(db)]).output
    assert "seen_as: on-link, outside scope" in shown and "misaddressed-device" in shown, shown

    attempted = {send.address for network in networks for send in network.attempted_sends}
    assert not {address for address in attempted if address.startswith(("198.19.", "fe80:"))}, attempted
    assert "ff02::1" in attempted
