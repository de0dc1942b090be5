"""Passive identification and the DHCP parser, on captures of lab devices' own reply bytes."""

from __future__ import annotations

import json
import struct

import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import wrpcap

from camscan.cli import main
from camscan_lab.discovery_replies import Site, answer
from camscan_lab.profiles import build_hosts
from camscan_lab.servers import http_response, rtsp_reply
from camscan.passive import analyse_capture, store_inventory
from camscan.protocols import ProtocolError, dhcp, dhip, sadp, wsd
from camscan.protocols.tls_handshake import server_certificates
from camscan.store import Store

NETWORK = "198.18.80.0/24"
SCANNER, SCANNER_MAC = "198.18.80.1", "02:00:00:00:80:01"
PROFILES = ["hikvision-ds2cd", "dahua-ipc", "axis-p3245", "hp-laserjet", "linux-nginx"]


def dhcp_request(mac: str, requested: str, host_name: str, vendor_class: str, xid: int = 0x3903F326) -> bytes:
    """A DHCPREQUEST as a client sends it (RFC 2131 fixed header, RFC 2132 options)."""
    header = struct.pack("!BBBBIHH", 1, 1, 6, 0, xid, 0, 0) + b"\0" * 16
    header += bytes.fromhex(mac.replace(":", "")) + b"\0" * 10 + b"\0" * 192
    options = b"\x35\x01\x03" + b"\x32\x04" + bytes(int(part) for part in requested.split("."))
    options += bytes([12, len(host_name)]) + host_name.encode() + bytes([60, len(vendor_class)]) + vendor_class.encode()
    return header + dhcp.MAGIC_COOKIE + options + b"\xff"


def udp(src: str, src_mac: str, sport: int, dst: str, dport: int, payload: bytes, ts: float):
    packet = Ether(src=src_mac, dst="ff:ff:ff:ff:ff:ff") / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload
    packet.time = ts
    return packet


def tcp_exchange(client: str, server: str, server_mac: str, port: int, request: bytes, response: bytes,
                 sport: int, ts: float):
    """A whole connection: handshake, one request, the response in 1000-byte segments, FIN both ways."""
    c = Ether(src=SCANNER_MAC, dst=server_mac) / IP(src=client, dst=server)
    s = Ether(src=server_mac, dst=SCANNER_MAC) / IP(src=server, dst=client)
    c_seq, s_seq = 100, 9000
    packets = [c / TCP(sport=sport, dport=port, flags="S", seq=c_seq),
               s / TCP(sport=port, dport=sport, flags="SA", seq=s_seq, ack=c_seq + 1),
               c / TCP(sport=sport, dport=port, flags="PA", seq=c_seq + 1, ack=s_seq + 1) / request]
    offset = 0
    while offset < len(response):
        chunk = response[offset : offset + 1000]
        packets.append(s / TCP(sport=port, dport=sport, flags="PA", seq=s_seq + 1 + offset, ack=c_seq + 1 + len(request)) / chunk)
        offset += len(chunk)
    packets += [s / TCP(sport=port, dport=sport, flags="FA", seq=s_seq + 1 + len(response)),
                c / TCP(sport=sport, dport=port, flags="FA", seq=c_seq + 1 + len(request))]
    for index, packet in enumerate(packets):
        packet.time = ts + index / 1000
    return packets


@pytest.fixture(scope="module")
def lab_capture(tmp_path_factory):
    """Another tool's view of five lab devices: discovery replies, web and RTSP answers, DHCP, ARP."""
    hosts = {host.profile: host for host in build_hosts(PROFILES, NETWORK, seed=4)}
    site = Site(netmask="255.255.255.0")
    packets = []
    ts = 1000.0
    for host in hosts.values():
        asked = Ether(src=SCANNER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=SCANNER_MAC, psrc=SCANNER, pdst=host.ip)
        if host.profile == "linux-nginx":  # it asked for the scanner before the scanner asked for it
            reply = Ether(src=host.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=host.mac, psrc=host.ip, pdst=SCANNER)
        else:
            reply = Ether(src=host.mac, dst=SCANNER_MAC) / ARP(op=2, hwsrc=host.mac, psrc=host.ip, hwdst=SCANNER_MAC, pdst=SCANNER)
        asked.time = reply.time = ts
        packets += [asked, reply]
    probes = {
        "sadp": sadp.build_inquiry("8c0bcd48-1a3b-4f2e-9c9e-1b2a3c4d5e6f"),
        "dhip": dhip.build_search(7),
        "wsd": wsd.build_probe("dn:NetworkVideoTransmitter", "urn:uuid:5a1c9e0e-7f1d-4d7a-a8f1-3c2b1a0f9e8d"),
    }
    ports = {"sadp": sadp.PORT, "dhip": dhip.PORT, "wsd": wsd.PORT}
    for protocol, probe in probes.items():
        ts += 1
        packets.append(udp(SCANNER, SCANNER_MAC, 40000, "239.255.255.250", ports[protocol], probe, ts))
        for host in hosts.values():
            for payload, (destination, dport) in answer(protocol, probe, (SCANNER, 40000), host, site):
                packets.append(udp(host.ip, host.mac, ports[protocol], destination, dport, payload, ts + 0.01))
    sport = 50000
    for host in hosts.values():
        for port, spec in sorted(host.services.items()):
            kind = spec.get("kind") or spec.get("protocol")
            ts += 1
            sport += 1
            if kind == "rtsp":
                request = f"OPTIONS rtsp://{host.ip}:{port}/ RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode()
                response = rtsp_reply("OPTIONS", f"rtsp://{host.ip}:{port}/", "1", spec, host)
            elif kind == "http" and "/" in (spec.get("routes") or {}):
                request = f"GET / HTTP/1.1\r\nHost: {host.ip}\r\n\r\n".encode()
                response = http_response(spec, spec["routes"]["/"], host)
            else:
                continue
            packets += tcp_exchange(SCANNER, host.ip, host.mac, port, request, response, sport, ts)
    camera = hosts["hikvision-ds2cd"]
    packets.append(udp("0.0.0.0", camera.mac, 68, "255.255.255.255", 67,
                       dhcp_request(camera.mac, camera.ip, "HIKVISION-CAM", "udhcp 1.20.2"), ts + 1))
    path = tmp_path_factory.mktemp("passive") / "lab.pcap"
    wrpcap(str(path), packets)
    return path, hosts


def test_passive_names_lab_cameras_and_no_other_camera(lab_capture):
    from camscan.fingerprint.identify import Identifier

    path, hosts = lab_capture
    inventory = analyse_capture(path)
    assert inventory.problems == []
    devices = {device.ip: device for device in inventory.devices(Identifier())}
    assert SCANNER not in devices, "the probing host never answered, so it is no device"
    for profile, host in hosts.items():
        device = devices[host.ip]
        assert device.mac == host.mac.lower()
        assert device.identification.is_camera == host.is_camera, (profile, device.identification)
        if host.is_camera:
            assert device.identification.manufacturer == host.truth["manufacturer"], profile
    assert all(seen.source.startswith("passive-") for device in devices.values() for seen in device.observations)
    hikvision = devices[hosts["hikvision-ds2cd"].ip]
    said = {(seen.field, seen.value) for seen in hikvision.observations}
    assert ("dhcp.host_name", "HIKVISION-CAM") in said and ("dhcp.vendor_class", "udhcp 1.20.2") in said
    assert {service.port for service in hikvision.services} >= {80, 554}


def test_passive_scan_is_stored_as_passive_evidence(lab_capture, tmp_path):
    path, hosts = lab_capture
    with Store(tmp_path / "inventory.db") as store:
        scan_id, device_ids = store_inventory(store, analyse_capture(path), str(path))
        [scan] = [row for row in store.scans() if row["id"] == scan_id]
        assert scan["parameters"]["mode"] == "passive"
        assert scan["status"] == "complete"
        assert len(device_ids) == len(hosts)
        sources = {seen.source for _, seen_list in store.device_observations(device_ids[0]) for seen in seen_list}
        assert sources and all(source.startswith("passive-") for source in sources)


def test_passive_cli_json_and_damaged_capture(lab_capture, tmp_path):
    path, hosts = lab_capture
    damaged = tmp_path / "cut.pcap"
    damaged.write_bytes(path.read_bytes()[:-100])
    runner = CliRunner()
    result = runner.invoke(main, ["passive", str(damaged), "--db", str(tmp_path / "x.db"), "--json"])
    assert result.exit_code == 0, result.output
    devices = json.loads(result.stdout)
    cameras = {device["ip"] for device in devices if device["is_camera"]}
    assert cameras == {host.ip for host in hosts.values() if host.is_camera}
    assert "warning:" in result.stderr and "kept everything read" in result.stderr


def test_passive_cli_rejects_non_capture_and_missing_file(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n")
    runner = CliRunner()
    result = runner.invoke(main, ["passive", str(text), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1 and "is not a pcap or pcapng capture" in result.output
    result = runner.invoke(main, ["passive", str(tmp_path / "absent.pcap"), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1 and "cannot open capture" in result.output
    result = runner.invoke(main, ["passive", "--interface", "lo"])
    assert result.exit_code == 2 and "--duration" in result.output


def test_dhcp_request_fields():
    message = dhcp.parse_message(dhcp_request("44:19:b6:01:02:03", "198.18.80.7", "DS-2CD2143", "udhcp 1.20.2"))
    assert (message.op, message.message_type, message.client_mac) == (1, "REQUEST", "44:19:b6:01:02:03")
    assert (message.requested_ip, message.host_name, message.vendor_class) == ("198.18.80.7", "DS-2CD2143", "udhcp 1.20.2")
    fields = {seen.field: seen.value for seen in dhcp.observations(message)}
    assert fields == {"dhcp.client_mac": "44:19:b6:01:02:03", "dhcp.host_name": "DS-2CD2143",
                      "dhcp.vendor_class": "udhcp 1.20.2"}
    assert {seen.ip for seen in dhcp.observations(message)} == {"198.18.80.7"}


def test_a_camera_heard_only_through_its_dhcp_request_is_identified(tmp_path):
    from camscan.fingerprint.identify import Identifier

    mac, address = "00:40:8c:51:cb:a8", "198.18.80.31"
    request = dhcp_request(mac, address, "axis-00408c51cba8", "AXIS,Network Camera,P3245-V,10.12.165")
    path = tmp_path / "dhcp.pcap"
    wrpcap(str(path), [udp("0.0.0.0", mac, 68, "255.255.255.255", 67, request, 1.0)])
    [device] = analyse_capture(path).devices(Identifier())
    ident = device.identification
    assert (device.ip, device.mac) == (address, mac)
    assert (ident.vendor, ident.model, ident.firmware, ident.device_type, ident.is_camera) == (
        "axis", "P3245-V", "10.12.165", "ip-camera", True)


def test_dhcp_discover_without_address_says_nothing_and_malformed_raises():
    discover = bytearray(dhcp_request("44:19:b6:01:02:03", "0.0.0.0", "cam", "x"))
    assert dhcp.observations(dhcp.parse_message(bytes(discover))) == []
    with pytest.raises(ProtocolError, match="magic cookie"):
        dhcp.parse_message(b"\x01\x01\x06\x00" + b"\0" * 100)
    with pytest.raises(ProtocolError, match="runs past"):
        dhcp.parse_message(bytes(discover[:-1]).rstrip(b"\xff")[:-3] + b"\x0c\x40ab")


def test_tls_certificate_extracted_from_handshake_records():
    leaf, chain = b"\x30\x82LEAF", b"\x30\x82CA"
    certificates = b"".join(len(der).to_bytes(3, "big") + der for der in (leaf, chain))
    body = len(certificates).to_bytes(3, "big") + certificates
    server_hello = b"\x02" + (4).to_bytes(3, "big") + b"\x03\x03\0\0"
    handshake = server_hello + b"\x0b" + len(body).to_bytes(3, "big") + body
    # the Certificate message split over two records, as servers do with long chains
    records = b"".join(b"\x16\x03\x03" + len(part).to_bytes(2, "big") + part for part in (handshake[:9], handshake[9:]))
    assert server_certificates(records + b"\x14\x03\x03\x00\x01\x01") == [leaf, chain]
    assert server_certificates(records[:-3]) == [leaf]  # the capture cut the chain short
    with pytest.raises(ProtocolError):
        server_certificates(b"HTTP/1.1 200 OK\r\n\r\n")


def test_pipelined_requests_and_responses_are_each_read(tmp_path):
    """A client that pipelines (nmap's NSE http library does) gets its answers in one server turn."""
    camera = build_hosts(["hikvision-ds2cd"], NETWORK, seed=4)[0]
    requests = (f"GET / HTTP/1.1\r\nHost: {camera.ip}\r\n\r\n"
                f"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: {camera.ip}\r\n\r\n").encode()
    page = b"<html><head><title>Index</title></head></html>"
    responses = (b"HTTP/1.1 100 Continue\r\n\r\n"
                 b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(page) + page
                 + b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest qop="auth", realm="IP Camera(C2LV0)", '
                   b'nonce="4e5468694e7a453d", stale="FALSE"\r\nContent-Length: 0\r\n\r\n')
    path = tmp_path / "pipelined.pcap"
    wrpcap(str(path), tcp_exchange(SCANNER, camera.ip, camera.mac, 80, requests, responses, 50001, 1000.0))
    inventory = analyse_capture(path)
    said = {(seen.field, seen.value) for seen in inventory.observations[camera.ip].values()}
    assert {("http.status", "100 /"), ("http.status", "200 /"), ("html.title", "Index"),
            ("http.status", "401 /ISAPI/System/deviceInfo")} <= said
    assert any(field == "http.www_authenticate" and "IP Camera(C2LV0)" in value for field, value in said)


class EndlessListener:
    """A listening socket on a link busier than its reader: its queue never empties."""

    def __init__(self) -> None:
        self.frames = 0

    def fileno(self) -> int:
        return 0

    def recv_raw(self, size: int = 65535):
        self.frames += 1
        return Ether, bytes(Ether(src=SCANNER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc=SCANNER, pdst="198.18.80.9")), None

    def close(self) -> None:
        pass


def test_a_live_sniff_stops_at_its_duration_however_busy_the_link(monkeypatch):
    from camscan import passive

    listener = EndlessListener()
    monkeypatch.setattr(passive, "open_listener", lambda interface, buffer_bytes: listener)
    monkeypatch.setattr(passive.select, "select", lambda readable, writable, errors, timeout: (readable, [], []))
    inventory = passive.sniff_interface("lab0", 0.2)
    assert inventory.packets_seen == listener.frames - 1 > 0  # the frame read at the deadline is not taken


def test_snmp_ubiquiti_and_xmeye_replies_heard_passively_identify_their_senders(tmp_path):
    from scapy.asn1.asn1 import ASN1_OID
    from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind

    from camscan.fingerprint.identify import Identifier
    from camscan.protocols import snmp
    from test_discovery_ubnt_xmeye import UNIFI_CAMERA, XM_CAMERA

    snmp_reply = bytes(SNMP(version=1, community=b"public", PDU=SNMPresponse(id=1, varbindlist=[
        SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.2.0"), value=ASN1_OID("1.3.6.1.4.1.39165.1.1"))])))
    manager = "198.18.80.2"
    frames = [
        udp(manager, "02:00:00:00:00:02", 40000, "198.18.80.40", 161,
            snmp.build_get("public", snmp.SYSTEM_OIDS, 1), 1.0),
        udp("198.18.80.40", "44:19:b6:01:02:40", 161, manager, 40000, snmp_reply, 1.1),
        udp("198.18.80.41", "74:ac:b9:01:02:03", 10001, manager, 40001, UNIFI_CAMERA, 1.2),
        udp("198.18.80.42", "00:12:31:09:b7:9e", 34569, manager, 34569, XM_CAMERA, 1.3),
    ]
    path = tmp_path / "discovery.pcap"
    wrpcap(str(path), frames)
    devices = {device.ip: device.identification for device in analyse_capture(path).devices(Identifier())}
    assert devices["198.18.80.40"].manufacturer == "hikvision"
    assert (devices["198.18.80.41"].manufacturer, devices["198.18.80.41"].device_type) == ("ubiquiti", "ip-camera")
    assert devices["198.18.80.42"].manufacturer == "xiongmai"
    assert manager not in devices or devices[manager].manufacturer is None, "the asker is no device of these"
