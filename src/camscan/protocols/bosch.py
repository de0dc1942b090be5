"""Bosch device discovery (UDP 1757): the 12-byte scan request and its binary or XML reply.

Bosch's configuration tools find video devices by sending, to UDP 1757, three big-endian
words: the magic 0x9939a427, a transaction id and the request code 0xff0006de; devices
answer to UDP 1758 (julienblitte/UniversalScanner Bosch.cs, which listens there) either with
a 32-byte binary record,

    0..4   magic 0x9939a427
    4..8   transaction id
    8..14  MAC address
    16..20 IPv4 address, 20..24 netmask, 24..28 gateway (big endian)

or with an XML ``<device>`` record: ``friendlyName``, ``serialNumber``, ``physAddress``,
``unitIPAddress``, ``HTTPPort`` ... (UniversalScanner's Bosch.xml.selftest).
"""

from __future__ import annotations

import ipaddress
import re
import struct

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.xmlsafe import parse_untrusted_xml
from camscan.protocols.spec import DiscoverySpec

PORT = 1757
REPLY_PORT = 1758
BPF = "udp port 1757 or udp port 1758"
MAGIC = 0x9939A427
SCAN_REQUEST = 0xFF0006DE
BINARY_REPLY_SIZE = 32
MAX_REPLY = 16384

__all__ = ["PORT", "REPLY_PORT", "BPF", "build_scan", "parse_reply"]

_REQUEST = struct.Struct("!III")
_BINARY = struct.Struct("!II6s2xIII4x")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([-:])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}$")
_TEXT_ELEMENTS = (("friendlyName", "bosch.friendly_name"), ("unitName", "bosch.unit_name"),
                  ("serialNumber", "bosch.serial"))


def build_scan(transaction_id: int) -> bytes:
    """The scan request with ``transaction_id``."""
    if not isinstance(transaction_id, int) or isinstance(transaction_id, bool) or not 0 <= transaction_id <= 0xFFFFFFFF:
        raise ValueError(f"Bosch transaction id must be an integer from 0 to 4294967295, got {transaction_id!r}")
    return _REQUEST.pack(MAGIC, transaction_id, SCAN_REQUEST)


def parse_reply(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """What a Bosch discovery reply from ``ip`` says: MAC, address, name and serial.

    A scan request (ours, looped back) yields ``[]``; anything else that is neither reply
    form raises ProtocolError.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"Bosch discovery datagram from {ip} is not bytes")
    data = bytes(data)
    if data.lstrip().startswith(b"<"):
        values = _xml_values(data, ip)
    elif len(data) == _REQUEST.size and _REQUEST.unpack(data)[::2] == (MAGIC, SCAN_REQUEST):
        return []
    elif len(data) == BINARY_REPLY_SIZE and _BINARY.unpack(data)[0] == MAGIC:
        _magic, _transaction, mac, address, _mask, _gateway = _BINARY.unpack(data)
        values = [("bosch.mac", ":".join(f"{byte:02x}" for byte in mac)),
                  ("bosch.ipv4", str(ipaddress.IPv4Address(address)))]
    else:
        raise ProtocolError(f"datagram from {ip} is no Bosch discovery reply ({len(data)} bytes)")
    return [
        Observation(ip=ip, source="bosch", field=field, value=value, port=port, transport="udp", observed_at=at)
        for field, value in values
        if value
    ]


def _xml_values(data: bytes, ip: str) -> list[tuple[str, str | None]]:
    root = parse_untrusted_xml(data, f"Bosch discovery reply from {ip}", MAX_REPLY)
    device = root if root.tag == "device" else root.find("device")
    if device is None:
        raise ProtocolError(f"Bosch discovery reply from {ip} has no <device> element")
    text = {element.tag: (element.text or "").strip() for element in device}
    values: list[tuple[str, str | None]] = [(field, _printable(text.get(name))) for name, field in _TEXT_ELEMENTS]
    mac = text.get("physAddress", "")
    values.append(("bosch.mac", mac.replace("-", ":").lower() if _MAC.match(mac) else None))
    try:
        values.append(("bosch.ipv4", str(ipaddress.IPv4Address(text.get("unitIPAddress", "")))))
    except ValueError:
        pass
    http_port = text.get("HTTPPort", "")
    values.append(("bosch.http_port", http_port if http_port.isdigit() and 0 < int(http_port) < 65536 else None))
    return values


def _printable(value: str | None) -> str | None:
    if not value:
        return None
    text = "".join(char if char.isprintable() else " " for char in value).strip()
    return text or None


SPEC = DiscoverySpec(
    "bosch", "Bosch", PORT, parse_reply, requests=lambda rng: (build_scan(rng.getrandbits(32)),),
    reply_port=REPLY_PORT, mac_fields=("bosch.mac",), serial_fields=("bosch.serial",),
)
