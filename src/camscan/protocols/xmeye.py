"""Xiongmai (XMEye / NETSurveillance) device search: UDP 34569, a 20-byte header and JSON.

Xiongmai's device manager searches by sending, to UDP 34569, a bare header with message id
1530; each DVR, NVR or camera answers with message id 1531 and a JSON body whose
``NetWork.NetCommon`` object holds its network settings, serial number and ports. The
header, little endian (OpenIPC/python-dvr DeviceManager.py, ``SearchXM``: ``BBHIIHHI``):

    0      head: 0xFF
    1      version: 0
    2..4   reserved
    4..8   session id
    8..12  sequence number
    12..14 total / current packet
    14..16 message id (1530 search, 1531 reply)
    16..20 body length

``HostIP`` is a hexadecimal string of the address in little-endian byte order
("0x0A01A8C0" is 192.168.1.10; python-dvr ``GetIP``). Field names as in replies quoted in
public write-ups (a factory-reset camera's reply with ``Version`` "V4.02.R12.E7335520.12012..."
in a Go "sofia" discovery package; a Besder camera's in a teardown write-up). The tools broadcast the search;
camscan never broadcasts, so it sends the search to each live host (and listens on 34569
where it may multicast, so replies sent to the broadcast address are heard).
"""

from __future__ import annotations

import ipaddress
import json
import re
import struct

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.spec import DiscoverySpec

PORT = 34569
BPF = "udp port 34569"
HEAD = 0xFF
SEARCH = 1530
REPLY = 1531
SECTION = "NetWork.NetCommon"

__all__ = ["PORT", "BPF", "SEARCH", "REPLY", "build_search", "parse_reply"]

_HEADER = struct.Struct("<BBHIIHHI")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$")
_TEXT_FIELDS = (("HostName", "xmeye.hostname"), ("SN", "xmeye.serial"), ("Version", "xmeye.version"))
_PORT_FIELDS = (("TCPPort", "xmeye.tcp_port"), ("HttpPort", "xmeye.http_port"))


def build_search() -> bytes:
    """The search request: a header with message id 1530 and no body."""
    return _HEADER.pack(HEAD, 0, 0, 0, 0, 0, SEARCH, 0)


def parse_reply(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """What a search reply from ``ip`` says: serial, hostname, firmware, MAC, address and ports.

    A search (ours, looped back) yields ``[]``; anything else that is not a well-formed reply
    raises ProtocolError.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"XMEye datagram from {ip} is not bytes")
    data = bytes(data)
    if len(data) < _HEADER.size:
        raise ProtocolError(f"XMEye datagram from {ip} is {len(data)} bytes, shorter than the 20-byte header")
    head, _version, _reserved, _session, _sequence, _packets, message, length = _HEADER.unpack_from(data)
    if head != HEAD:
        raise ProtocolError(f"datagram from {ip} does not start with the XMEye head byte 0xff")
    if message == SEARCH:
        return []
    if message != REPLY:
        raise ProtocolError(f"XMEye message from {ip} has id {message}, not the search reply {REPLY}")
    body = data[_HEADER.size:_HEADER.size + length]
    if len(body) != length:
        raise ProtocolError(f"XMEye reply from {ip} claims {length} body bytes but carries {len(body)}")
    try:
        reply = json.loads(body.replace(b"\x00", b"").decode("utf-8", "replace"))
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"XMEye reply body from {ip} is not valid JSON: {error}") from None
    common = reply.get(SECTION) if isinstance(reply, dict) else None
    if not isinstance(common, dict):
        raise ProtocolError(f"XMEye reply from {ip} has no {SECTION} object")
    values = [(field, _text(common.get(key))) for key, field in _TEXT_FIELDS]
    mac = common.get("MAC")
    values.append(("xmeye.mac", mac.lower() if isinstance(mac, str) and _MAC.match(mac) else None))
    values.append(("xmeye.ipv4", _address(common.get("HostIP"))))
    values += [(field, _port(common.get(key))) for key, field in _PORT_FIELDS]
    return [
        Observation(ip=ip, source="xmeye", field=field, value=value, port=port, transport="udp", observed_at=at)
        for field, value in values
        if value is not None
    ]


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = "".join(char if char.isprintable() else " " for char in value).strip()
    return text or None


def _address(value: object) -> str | None:
    """``HostIP``'s address: a hexadecimal number whose bytes are the address in little-endian order."""
    if not isinstance(value, str) or not re.fullmatch(r"0[xX][0-9A-Fa-f]{1,8}", value):
        return None
    return str(ipaddress.IPv4Address(int(value, 16).to_bytes(4, "little")))


def _port(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return str(value)
    return None


SPEC = DiscoverySpec(
    "xmeye", "XMEye", PORT, parse_reply, requests=lambda rng: (build_search(),),
    mac_fields=("xmeye.mac",), serial_fields=("xmeye.serial",),
)
