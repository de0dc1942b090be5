"""The stateless SYN sweep of a routed block, as root, checked against the lab's truth and a capture:
it finds exactly the open ports, SYNs only in-scope addresses, sends no byte to a connect-only
port, and its recording replays to the same inventory."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys

import pytest

from capture import start_capture, stop_capture

from camscan_lab.routed import SCANNER_ADDRESS, RoutedLab

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tcpdump") is None
    or shutil.which("unshare") is None,
    reason="namespace labs need root, iproute2, tcpdump and unshare",
)

SWEPT = "198.19.7.0/24"
SCOPE = "198.19.7.0/25"  # the upper half is live too, and out of scope
PORTS = (80, 554, 37777)  # 37777: Dahua's binary protocol, connect-only
OPEN = {"198.19.7.10": [80], "198.19.7.11": [80, 554], "198.19.7.12": [37777], "198.19.7.126": [554],
        "198.19.7.200": [80, 554, 37777]}
CAMSCAN = [sys.executable, "-m", "camscan"]


def scan_argv(db, *extra: str) -> list[str]:
    return [*CAMSCAN, "scan", SCOPE, "--ports", ",".join(map(str, PORTS)), "--db", str(db), "--yes",
            "--no-discovery", "--no-checks", "--json", "--timeout", "1", *extra]


def open_ports(output: str) -> dict[str, list[int]]:
    return {device["ip"]: sorted(service["port"] for service in device["services"])
            for device in json.loads(output) if device["services"]}


def test_the_syn_sweep_finds_exactly_the_open_ports_and_sends_nothing_outside_scope(tmp_path):
    import scapy.layers.inet  # noqa: F401  (rdpcap dissects only the layers loaded)
    from scapy.layers.inet import IP, TCP
    from scapy.utils import rdpcap

    pcap, recording = tmp_path / "wire.pcap", tmp_path / "scan.pcapng"
    with RoutedLab(SWEPT, OPEN) as lab:
        capture = start_capture(lab, pcap)
        try:
            live = subprocess.run(lab.exec_argv(scan_argv(tmp_path / "live.db", "--record", str(recording))),
                                  capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        finally:
            stop_capture(capture)
    assert live.returncode == 0, live.stderr
    in_scope = {ip: ports for ip, ports in OPEN.items() if ipaddress.ip_address(ip) in ipaddress.ip_network(SCOPE)}
    assert open_ports(live.stdout) == in_scope

    sent = [packet[IP] for packet in rdpcap(str(pcap)) if IP in packet and packet[IP].src == SCANNER_ADDRESS]
    assert sent and all(ipaddress.ip_address(packet.dst) in ipaddress.ip_network(SCOPE) for packet in sent)
    syns = [packet for packet in sent if TCP in packet and str(packet[TCP].flags) == "S"]
    # One source port for the whole sweep: one SYN to every port of every in-scope address, none carrying data.
    sweep_port = max({packet[TCP].sport for packet in syns}, key=lambda port: sum(p[TCP].sport == port for p in syns))
    swept = sorted((packet.dst, packet[TCP].dport) for packet in syns if packet[TCP].sport == sweep_port)
    addresses = [str(ip) for ip in ipaddress.ip_network(SCOPE).hosts()]
    assert swept == sorted((ip, port) for ip in addresses for port in PORTS)
    assert all(not bytes(packet[TCP].payload) for packet in syns)
    assert not [packet for packet in sent if TCP in packet and packet[TCP].dport == 37777 and bytes(packet[TCP].payload)]
    # Each SYN-ACK the sweep drew was reset by the scanner's kernel, never acknowledged.
    assert {(packet.dst, packet[TCP].dport) for packet in sent
            if TCP in packet and packet[TCP].sport == sweep_port and str(packet[TCP].flags) == "R"} == {
        (ip, port) for ip, ports in in_scope.items() for port in ports}

    # The lab is gone, and the replay runs in an empty network namespace: it cannot send anything.
    replay = subprocess.run(["unshare", "--net", *scan_argv(tmp_path / "replay.db", "--replay", str(recording))],
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert open_ports(replay.stdout) == in_scope
