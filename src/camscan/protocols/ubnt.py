"""Ubiquiti's discovery protocol (UDP 10001): the four-byte request and the TLV reply.

UniFi, UniFi Protect cameras and recorders, AirOS and EdgeOS devices answer a request of
``01 00 00 00`` (version 1, command 0, no payload) with a message of the same header,

    0      version (1; version 2 devices send 2 with command 6, 9 or 11)
    1      command (0 for a version 1 reply)
    2..4   payload length, big endian
    4..    TLVs: type (1 byte), length (2 bytes, big endian), value

Layout and TLV types from Wireshark's dissector (epan/dissectors/packet-ubdp.c: 1 hardware
address, 2 hardware + IPv4 address, 3 full firmware string, 11 hostname, 12 product, 21
model, 22 firmware version), nmap's ubiquiti-discovery.nse (Tom Sellers: both versions,
the command values, and the request) and the UNMS discovery documentation ("four bytes
0x1 0x0 0x0 0x0"). The multicast group 233.89.188.1 is the one Ubiquiti devices and
tools use besides broadcast (julienblitte/UniversalScanner Ubiquiti.cs;
nitefood/python-ubnt-discovery README, "Method 3").
"""

from __future__ import annotations

import ipaddress
import struct

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.spec import DiscoverySpec

PORT = 10001
MULTICAST_GROUP = "233.89.188.1"
BPF = "udp port 10001"
REQUEST = b"\x01\x00\x00\x00"
# Version -> the commands a reply (or an announcement) carries (nmap ubiquiti-discovery.nse).
REPLY_COMMANDS = {1: (0,), 2: (6, 9, 11)}

__all__ = ["PORT", "MULTICAST_GROUP", "BPF", "build_request", "parse_reply"]

_HARDWARE = 0x01
_HARDWARE_IP = 0x02
_TEXT_TYPES = {0x03: "ubnt.firmware", 0x0B: "ubnt.hostname", 0x0C: "ubnt.product", 0x15: "ubnt.model",
               0x16: "ubnt.version"}


def build_request() -> bytes:
    """The version 1 discovery request."""
    return REQUEST


def parse_reply(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """What a discovery reply from ``ip`` says, as observations: MAC, IPv4, firmware, hostname,
    product and model. A request (ours, looped back, or another tool's) yields ``[]``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"Ubiquiti discovery datagram from {ip} is not bytes")
    data = bytes(data)
    if len(data) < 4:
        raise ProtocolError(f"Ubiquiti discovery datagram from {ip} is {len(data)} bytes, shorter than its header")
    version, command, length = struct.unpack_from("!BBH", data)
    if version not in REPLY_COMMANDS:
        raise ProtocolError(f"datagram from {ip} is not Ubiquiti discovery (version byte {version})")
    if length == 0:
        return []
    if command not in REPLY_COMMANDS[version]:
        raise ProtocolError(f"Ubiquiti discovery v{version} message from {ip} has unknown command {command}")
    if length != len(data) - 4:
        raise ProtocolError(f"Ubiquiti reply from {ip} claims {length} payload bytes but carries {len(data) - 4}")
    values: dict[str, str] = {}
    position = 4
    while position < len(data):
        if position + 3 > len(data):
            raise ProtocolError(f"Ubiquiti discovery reply from {ip} ends inside a TLV header")
        kind, size = struct.unpack_from("!BH", data, position)
        value = data[position + 3:position + 3 + size]
        if len(value) != size:
            raise ProtocolError(f"Ubiquiti discovery TLV {kind:#04x} from {ip} runs past the datagram")
        position += 3 + size
        if kind in (_HARDWARE, _HARDWARE_IP) and size >= 6:
            values.setdefault("ubnt.mac", ":".join(f"{byte:02x}" for byte in value[:6]))
            if kind == _HARDWARE_IP and size == 10:
                values.setdefault("ubnt.ipv4", str(ipaddress.IPv4Address(value[6:10])))
        elif kind in _TEXT_TYPES and (text := _text(value)):
            values.setdefault(_TEXT_TYPES[kind], text)
    return [
        Observation(ip=ip, source="ubnt", field=field, value=value, port=port, transport="udp", observed_at=at)
        for field, value in values.items()
    ]


def _text(value: bytes) -> str | None:
    text = value.split(b"\x00", 1)[0].decode("utf-8", "replace")
    text = "".join(char if char.isprintable() else " " for char in text).strip()
    return text or None


SPEC = DiscoverySpec("ubnt", "Ubiquiti", PORT, parse_reply, MULTICAST_GROUP, requests=lambda rng: (build_request(),))
