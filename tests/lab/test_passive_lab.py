"""``camscan passive`` on a capture of OTHER tools (curl, nmap -sV, a discovery script) probing a namespace lab.

tcpdump runs inside the lab's scanner namespace while the tools run there too; nothing
leaves the lab bridge (198.18.80.0/24, no route out). camscan itself sends nothing here:
it only reads the capture file. Root and iproute2, tcpdump, curl and nmap are needed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys

import pytest

from camscan.capture.reader import ArpFrame, Datagram, TcpConversation, iter_capture
from camscan_lab import NamespaceLab, generate_lab
from camscan_lab.score import score
from camscan.protocols import ProtocolError, arp, dhip, sadp, ssdp, wsd
from capture import start_capture, stop_capture
from labs import torn_down_lab

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or any(shutil.which(tool) is None for tool in ("ip", "tcpdump", "curl", "nmap")),
                       reason="needs root, iproute2, tcpdump, curl and nmap"),
]

NETWORK = "198.18.80.0/24"
PREFIX = "p4"
NMAP_PORTS = "80,554,8000,37777"

# Runs inside the scanner namespace: the discovery probes a third-party tool would send (replies
# are read so they are delivered, and captured), then a stream player's DESCRIBE of each stream.
CLIENT_SCRIPT = r"""
import json, select, socket, sys, time
spec = json.loads(sys.stdin.read())
sockets = []
for group, port, data in spec["probes"]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((spec["scanner"], 0))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(spec["scanner"]))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.sendto(bytes.fromhex(data), (group, port))
    sockets.append(s)
deadline = time.monotonic() + spec["wait"]
while (left := deadline - time.monotonic()) > 0:
    for s in select.select(sockets, [], [], left)[0]:
        s.recvfrom(65535)
# a stream player asking for each stream's description, as VLC does after OPTIONS
for ip, port in spec["streams"]:
    try:
        with socket.create_connection((ip, port), 3) as s:
            s.settimeout(3)
            s.sendall(f"DESCRIBE rtsp://{ip}:{port}/ RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n"
                      "User-Agent: LibVLC/3.0.18\r\n\r\n".encode())
            s.recv(65535)
    except OSError:
        pass
"""


@pytest.fixture(scope="module")
def lab():
    with torn_down_lab(generate_lab(24, NETWORK, seed=44), PREFIX, NETWORK) as running:
        yield running


def in_lab(address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(NETWORK)


def third_party_traffic(lab: NamespaceLab, with_nmap: bool = True) -> None:
    """Discovery probes (to each group and each host), RTSP DESCRIBE of every stream, curl of every
    web page, stream and TLS 1.2 page, nmap -sV of a few hosts' camera ports: none of it sent by camscan."""
    targets = [host.ip for host in lab.hosts]
    assert all(in_lab(ip) for ip in targets)
    discovery_requests = {
        (wsd.MULTICAST_GROUP, wsd.PORT): wsd.build_probe("dn:NetworkVideoTransmitter", "uuid:0b8f5a52-3f0e-4c1a-9d7e-5f4b3a2c1d0e"),
        (sadp.MULTICAST_GROUP, sadp.PORT): sadp.build_inquiry("5F4B3A2C-1D0E-4C1A-9D7E-0B8F5A523F0E"),
        (dhip.MULTICAST_GROUP, dhip.PORT): dhip.build_search(44),
        (ssdp.MULTICAST_GROUP, ssdp.PORT): ssdp.build_msearch("ssdp:all", 1),
    }
    probes = [(to, port, data.hex()) for (group, port), data in discovery_requests.items() for to in [group, *targets]]
    streams = [(host.ip, port) for host in lab.hosts for port, spec in host.services.items() if spec.get("kind") == "rtsp"]
    script = subprocess.Popen(lab.exec_argv([sys.executable, "-c", CLIENT_SCRIPT]), stdin=subprocess.PIPE, text=True)
    script.communicate(json.dumps({"scanner": lab.scanner_ip, "probes": probes, "wait": 1.5, "streams": streams}),
                       timeout=60)
    assert script.returncode == 0
    # a person opening each device's web page and stream (ports as a port scan would list them)
    # (TLS 1.2 at most, as older clients speak, so the certificate crosses the wire in clear)
    urls = [f"{spec['kind']}://{host.ip}:{port}/" for host in lab.hosts for port, spec in sorted(host.services.items())
            if spec.get("kind") in ("http", "https", "rtsp")]
    curls = [subprocess.Popen(lab.exec_argv(["curl", "-s", "-k", "--tls-max", "1.2", "-o", "/dev/null", "-m", "3", url]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for url in urls]
    if with_nmap:
        nmap = lab.run(["nmap", "-n", "-Pn", "-sV", "--version-light", "-T4", "--host-timeout", "20s", "-p", NMAP_PORTS,
                        *targets[:8]], capture_output=True, text=True, timeout=60)
        assert nmap.returncode == 0, nmap.stderr
    for curl in curls:
        curl.wait(timeout=30)


def responders(path) -> set[str]:
    """Addresses that sent anything (an ARP reply, a datagram, a TCP answer) in the capture."""
    seen = set()
    for record in iter_capture(path):
        if isinstance(record, Datagram):
            seen.add(record.src)
        elif isinstance(record, TcpConversation) and (record.established or any(role == "s" for role, _ in record.turns)):
            seen.add(record.server[0])
        elif isinstance(record, ArpFrame):
            try:
                seen.add(arp.parse_reply(record.frame).ip)
            except ProtocolError:
                pass
    return seen


def test_passive_names_cameras_others_probed(lab, tmp_path):
    pcap = tmp_path / "others.pcap"
    tcpdump = start_capture(lab, pcap)
    try:
        third_party_traffic(lab)
    finally:
        stop_capture(tcpdump)
    db = tmp_path / "passive.db"
    result = subprocess.run([sys.executable, "-m", "camscan", "passive", str(pcap), "--db", str(db), "--json"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    found = {device["ip"]: device for device in json.loads(result.stdout)}
    visible = responders(pcap)
    judged = [host for host in lab.hosts if not host.is_camera or host.ip in visible]
    result = score(judged, list(found.values()))
    assert result.identifiable >= 12, "the tools should have made most of the lab's cameras speak"
    assert result.accuracy >= 0.9, result.problems
    assert result.false_cameras == 0, result.problems
    camera_ips = {host.ip for host in lab.hosts if host.is_camera}
    assert [ip for ip, device in found.items() if device["is_camera"] and ip not in camera_ips] == []


def test_live_sniff_agrees_with_the_capture(lab, tmp_path):
    """``camscan passive --interface`` in the scanner namespace, while tcpdump records the same traffic."""
    lab.run(["ip", "neigh", "flush", "all"], check=True)  # so the scanner ARPs again and MACs cross the wire
    pcap = tmp_path / "same.pcap"
    tcpdump = start_capture(lab, pcap)
    sniff = subprocess.Popen(
        lab.exec_argv([sys.executable, "-m", "camscan", "passive", "--interface", lab.interface, "--duration", "7",
                       "--db", str(tmp_path / "live.db"), "--json"]),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "listening on" in sniff.stderr.readline()
        third_party_traffic(lab, with_nmap=False)
        output, errors = sniff.communicate(timeout=60)
    finally:
        stop_capture(tcpdump)
        if sniff.poll() is None:
            sniff.kill()
    assert sniff.returncode == 0, errors
    live = {device["ip"]: device for device in json.loads(output)}
    visible = responders(pcap)
    result = score([host for host in lab.hosts if not host.is_camera or host.ip in visible], list(live.values()))
    assert result.identifiable >= 12
    assert result.accuracy >= 0.9, result.problems
    assert result.false_cameras == 0, result.problems
    certified = [ip for ip, device in live.items() if any(item["source"] == "passive-tls" for item in device["evidence"])]
    assert certified, "a TLS 1.2 handshake's certificate should be evidence"
