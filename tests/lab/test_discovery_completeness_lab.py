"""Discovery completeness on a namespace lab: every camera on the link is inventoried.

One link (198.18.21.0/24 and 2001:2:0:21::/120) carries a Hikvision left on a factory-style
address outside the scanned network (198.19.77.64/24: a stand-in for 192.168.1.64), an
IPv6-only Axis camera, a dual-stack Hikvision, and an Axis camera and a printer that answer
mDNS alone in the upper half of the segment. Captures on the scanner's interface check that
nothing is ever sent to the misaddressed camera, and that --no-multicast and --no-discovery
keep to their word.
"""

from __future__ import annotations

import dataclasses
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
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tcpdump") is None,
    reason="namespace labs need root, iproute2 and tcpdump",
)

NET, NET6 = "198.18.21.0/24", "2001:2:0:21::/120"
UPPER_HALF = "198.18.21.128/25"  # part of the segment: multicast may not go there
FACTORY_IP, FACTORY_NET = "198.19.77.64", "198.19.77.0/24"
IPV6_ONLY = "2001:2:0:21::10"
CAMSCAN = [sys.executable, "-m", "camscan"]
DISCOVERY_PORTS = {3702, 37020, 37810, 1900, 5353}
IPV4_GROUPS = ipaddress.ip_network("224.0.0.0/4")
IGMP_REPORTS = "224.0.0.22"  # the kernel announcing group joins
# The kernel's own IPv6 link traffic, whatever camscan does: Neighbor Discovery to solicited-node
# groups (RFC 4861 §7.2.2: the IPv6 counterpart of an ARP request) and MLDv2 reports (RFC 3810).
SOLICITED_NODE = ipaddress.ip_network("ff02::1:ff00:0/104")
MLD_REPORTS = "ff02::16"


@pytest.fixture(scope="module")
def lab():
    dual_stack, factory, v6_only, mdns_camera, mdns_printer = build_hosts(
        ["hikvision-ds2cd", "hikvision-sadp-unactivated", "axis-p3245", "axis-p3245", "hp-laserjet"], NET, seed=21)
    hosts = [
        dataclasses.replace(dual_stack, ipv6=True),
        dataclasses.replace(factory, ip=FACTORY_IP, network=FACTORY_NET),
        dataclasses.replace(v6_only, ip=IPV6_ONLY, discovery={}),
        *(dataclasses.replace(host, ip=f"198.18.21.{130 + index}", services={},
                              discovery={"mdns": host.discovery["mdns"]})
          for index, host in enumerate((mdns_camera, mdns_printer))),
    ]
    with NamespaceLab(hosts, prefix="cdc", network=NET, ipv6_network=NET6) as running:
        yield running


def host(lab: NamespaceLab, ip: str):
    return next(item for item in lab.hosts if item.ip == ip)


def scan(lab: NamespaceLab, tmp_path, name: str, *args: str) -> tuple[dict[str, dict], list, str]:
    """Run a captured scan; its exported inventory by address, the frames it sent, its stderr."""
    import scapy.layers.inet  # noqa: F401  (rdpcap dissects only the layers loaded)
    import scapy.layers.inet6  # noqa: F401
    from scapy.layers.l2 import Ether
    from scapy.utils import rdpcap

    db, pcap = tmp_path / f"{name}.db", tmp_path / f"{name}.pcap"
    capture = start_capture(lab, pcap)
    try:
        result = lab.run([*CAMSCAN, "scan", *args, "--db", str(db), "--yes", "--timeout", "1",
                          "--ports", "80,443,554,631,8000"],
                         capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    finally:
        stop_capture(capture)
    assert result.returncode == 0, result.stderr
    exported = subprocess.run([*CAMSCAN, "export", "--db", str(db), "--format", "json"],
                              capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    sent = [frame for frame in rdpcap(str(pcap)) if Ether in frame and frame[Ether].src == lab.scanner_mac]
    return {device["ip"]: device for device in json.loads(exported.stdout)}, sent, result.stderr


def destinations(sent: list) -> set[str]:
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    return {frame[IP].dst for frame in sent if IP in frame} | {frame[IPv6].dst for frame in sent if IPv6 in frame}


def assert_never_contacted(lab: NamespaceLab, sent: list) -> None:
    """Not a packet to the misaddressed camera: no IP packet, no ARP request, no frame to its MAC."""
    from scapy.layers.l2 import ARP, Ether

    factory = host(lab, FACTORY_IP)
    assert FACTORY_IP not in destinations(sent)
    assert not [frame for frame in sent if ARP in frame and frame[ARP].pdst == FACTORY_IP]
    assert not [frame for frame in sent if frame[Ether].dst.lower() == factory.mac.lower()]


def said_by_mdns(device: dict) -> bool:
    """Whether mDNS answers are among the evidence that identified the device (not its MAC alone)."""
    return any(item["field"].startswith("mdns.") for item in device["evidence"])


def multicast_sent(sent: list) -> set[str]:
    """Multicast camscan itself sent (the kernel's group reports and neighbour solicitations aside)."""
    found = set()
    for destination in destinations(sent):
        address = ipaddress.ip_address(destination)
        if address.version == 4 and address in IPV4_GROUPS and destination != IGMP_REPORTS:
            found.add(destination)
        elif address.version == 6 and address.is_multicast and address not in SOLICITED_NODE \
                and destination != MLD_REPORTS:
            found.add(destination)
    return found


@pytest.fixture(scope="module")
def whole_link(lab, tmp_path_factory):
    return scan(lab, tmp_path_factory.mktemp("whole"), "whole", NET, NET6)


def test_a_camera_on_a_factory_address_is_inventoried_marked_and_never_contacted(lab, whole_link):
    devices, sent, _stderr = whole_link
    factory = host(lab, FACTORY_IP)
    device = devices.get(FACTORY_IP)
    assert device, sorted(devices)
    assert device["seen_as"] == "on-link, outside scope"
    assert device["mac"] == factory.mac.lower()
    assert device["is_camera"] and device["manufacturer"] == "hikvision", device
    [finding] = [item for item in device["findings"] if item["check"] == "misaddressed-device"]
    assert "lab0" in finding["detail"] and NET in finding["detail"] and FACTORY_IP in finding["detail"]
    assert {"239.255.255.250", "ff02::1"} <= multicast_sent(sent), "the link is wholly in scope: multicast went"
    assert_never_contacted(lab, sent)


def test_an_ipv6_only_camera_is_found_probed_and_identified(lab, whole_link):
    devices, sent, _stderr = whole_link
    camera = host(lab, IPV6_ONLY)
    device = devices.get(IPV6_ONLY)
    assert device, sorted(devices)
    assert "seen_as" not in device, "its address is in scope: probed like any other"
    assert device["is_camera"] and device["vendor"] == "axis", device
    assert {item["field"].split(".")[0] for item in device["evidence"]} & {"http", "rtsp", "tls"}, "probed over IPv6"
    assert device["mac"] == camera.mac.lower(), "the MAC its echo reply came from"
    assert "ff02::1" in destinations(sent)


def test_a_dual_stack_device_gains_its_ipv6_address_by_its_mac(lab, whole_link, tmp_path):
    devices, _sent, _stderr = whole_link
    dual = lab.hosts[0]
    assert devices[dual.ip]["manufacturer"] == "hikvision"
    assert not [ip for ip in devices if ip.startswith("fe80:")], "its link-local address joined its IPv4 device"


def test_mdns_only_devices_on_part_of_a_segment_are_asked_directly(lab, tmp_path):
    devices, sent, _stderr = scan(lab, tmp_path, "upper", UPPER_HALF)
    camera, printer = (host(lab, f"198.18.21.{last}") for last in (130, 131))
    assert devices[camera.ip]["is_camera"] and devices[camera.ip]["vendor"] == "axis", devices[camera.ip]
    assert said_by_mdns(devices[camera.ip]) and said_by_mdns(devices[printer.ip])
    assert devices[printer.ip]["device_type"] == "printer" and not devices[printer.ip]["is_camera"]
    assert multicast_sent(sent) == set(), "half a link is not wholly in scope: no multicast"
    assert FACTORY_IP not in devices
    assert_never_contacted(lab, sent)


def test_no_multicast_keeps_to_unicast(lab, tmp_path):
    from scapy.layers.inet import UDP

    devices, sent, _stderr = scan(lab, tmp_path, "unicast", NET, NET6, "--no-multicast")
    assert multicast_sent(sent) == set()
    mdns_camera = devices[host(lab, "198.18.21.130").ip]
    assert mdns_camera["is_camera"] and said_by_mdns(mdns_camera), "mDNS asked of the host directly"
    assert {frame[UDP].dport for frame in sent if UDP in frame} & {5353, 37020}
    assert_never_contacted(lab, sent)


def test_no_discovery_sends_no_discovery_at_all_not_even_ipv6(lab, tmp_path):
    from scapy.layers.inet import UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest

    devices, sent, _stderr = scan(lab, tmp_path, "quiet", NET, NET6, "--no-discovery")
    assert multicast_sent(sent) == set()
    assert not [frame for frame in sent if UDP in frame and frame[UDP].dport in DISCOVERY_PORTS]
    assert not [frame for frame in sent if ICMPv6EchoRequest in frame]
    assert FACTORY_IP not in devices and IPV6_ONLY in devices, "the IPv6 range in scope is still swept"
    assert_never_contacted(lab, sent)


def test_the_lab_refuses_hosts_outside_the_test_blocks():
    one, two = build_hosts(["hikvision-ds2cd", "axis-p3245"], NET, seed=1)
    for host_, lab_ipv6 in (
        (dataclasses.replace(two, ip="203.0.113.64", network="203.0.113.0/24"), None),  # not 198.18.0.0/15
        (dataclasses.replace(two, ip="198.18.21.64", network="198.18.21.0/25"), None),  # overlaps the lab's network
        (dataclasses.replace(two, ip="2001:2:0:21::10"), None),  # IPv6 without the lab's IPv6 network
        (dataclasses.replace(two, ip="2001:db8::10"), "2001:db8::/120"),  # not 2001:2::/48
    ):
        with pytest.raises(ValueError):
            NamespaceLab([one, host_], prefix="cdr", network=NET, ipv6_network=lab_ipv6)
