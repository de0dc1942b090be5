"""GigE Vision device discovery (GVCP, UDP 3956): the DISCOVERY_CMD and the DISCOVERY_ACK.

GigE Vision cameras (machine-vision and industrial cameras: Basler, Teledyne FLIR, Allied
Vision, Hikrobot ...) answer a discovery command with their bootstrap registers' first 248
bytes. Every field is big endian:

    command  0  0x42 key   1 flags (0x01: acknowledge required)   2..4 command 0x0002
             4..6 payload length (0)                               6..8 request id (non-zero)
    ack      0..2 status (0: success)   2..4 answer 0x0003   4..6 payload length (248)   6..8 request id
    payload  0..4 spec version (major, minor)    4..8 device mode (bits 28-30: device class)
             10..16 MAC address                  36..40 current IPv4 address
             72 manufacturer (32 bytes)          104 model (32)      136 device version (32)
             168 manufacturer information (48)   216 serial number (16)   232 user-defined name (16)

Layout from Wireshark's dissector (epan/dissectors/packet-gvcp.c: bootstrap register
addresses GVCP_MANUFACTURER_NAME 0x48 ... GVCP_USER_DEFINED_NAME 0xE8, command and
acknowledge ids, the device-class mask 0x70000000 and its names) and Aravis
(src/arvgvcpprivate.h: the same offsets and sizes, ARV_GVBS_DISCOVERY_DATA_SIZE 0xf8).
The device answers the command's source address and port.
"""

from __future__ import annotations

import ipaddress
import struct

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.spec import DiscoverySpec

PORT = 3956
KEY = 0x42
ACK_REQUIRED = 0x01
DISCOVERY_CMD = 0x0002
DISCOVERY_ACK = 0x0003
DISCOVERY_DATA_SIZE = 248

_HEADER = struct.Struct("!HHHH")
_TEXT = (("gvcp.manufacturer", 72, 32), ("gvcp.model", 104, 32), ("gvcp.version", 136, 32),
         ("gvcp.manufacturer_info", 168, 48), ("gvcp.serial", 216, 16), ("gvcp.user_name", 232, 16))
_DEVICE_CLASSES = ("transmitter", "receiver", "transceiver", "peripheral")


def build_discovery(request_id: int) -> bytes:
    """A DISCOVERY_CMD asking for an acknowledge; ``request_id`` is 1-65535 (0 is no request id)."""
    if not 0 < request_id <= 0xFFFF:
        raise ValueError(f"GVCP request id must be 1-65535, got {request_id}")
    return struct.pack("!BBHHH", KEY, ACK_REQUIRED, DISCOVERY_CMD, 0, request_id)


def _text(raw: bytes) -> str | None:
    """A NUL-padded string register, printable characters only."""
    text = raw.split(b"\x00", 1)[0].decode("utf-8", "replace")
    text = "".join(char if char.isprintable() else " " for char in text).strip()
    return text or None


def parse_discovery_ack(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """What a DISCOVERY_ACK from ``ip`` says about the device; ProtocolError for anything else."""
    if len(data) < _HEADER.size + DISCOVERY_DATA_SIZE:
        raise ProtocolError(f"GVCP reply from {ip}: {len(data)} bytes is shorter than a discovery acknowledge")
    status, answer, length, _request_id = _HEADER.unpack_from(data)
    if answer != DISCOVERY_ACK or status != 0 or length < DISCOVERY_DATA_SIZE:
        raise ProtocolError(f"GVCP reply from {ip}: not a successful discovery acknowledge "
                            f"(answer {answer:#06x}, status {status:#06x}, length {length})")
    payload = data[_HEADER.size:_HEADER.size + DISCOVERY_DATA_SIZE]
    major, minor, mode = struct.unpack_from("!HHI", payload)
    values: list[tuple[str, str | None]] = [
        ("gvcp.spec_version", f"{major}.{minor}"),
        ("gvcp.device_class", _DEVICE_CLASSES[(mode >> 28) & 0x7] if (mode >> 28) & 0x7 < 4 else None),
    ]
    mac = payload[10:16]
    values.append(("gvcp.mac", ":".join(f"{byte:02x}" for byte in mac) if any(mac) else None))
    address = ipaddress.IPv4Address(payload[36:40])
    values.append(("gvcp.ipv4", str(address) if int(address) else None))
    values += [(field, _text(payload[start:start + size])) for field, start, size in _TEXT]
    return [
        Observation(ip=ip, source="gvcp", field=field, value=value, port=port, transport="udp", observed_at=at)
        for field, value in values if value
    ]


SPEC = DiscoverySpec(
    "gvcp", "GigE Vision", PORT, parse_discovery_ack,
    # a request id of 0 is no request id: draw 1-65535
    requests=lambda rng: (build_discovery(rng.randrange(1, 0x10000)),),
    listens_on_port=False,
    mac_fields=("gvcp.mac",), serial_fields=("gvcp.serial",),
    name_fields=("gvcp.manufacturer",), text_fields=("gvcp.model", "gvcp.manufacturer_info"),
    video_only=True,
)
