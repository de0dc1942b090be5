"""Dahua DHIP discovery: the ``DHDiscover.search`` request and the ``client.notifyDevInfo`` reply.

Dahua's ConfigTool finds devices over UDP 37810 (multicast 239.255.255.251, also broadcast).
Both directions are a 32-byte DHIP header followed by a JSON body:

    0..8    magic: 20 00 00 00 'D' 'H' 'I' 'P'   (the first word is the header size, 32, LE)
    8..12   session id, little endian (0: discovery needs no login)
    12..16  request id, little endian
    16..24  length of the body in this datagram, little endian
    24..32  length of the whole message, little endian (equal to the above when unfragmented)

Layout from mcw0/DahuaConsole (net.py), julienblitte/UniversalScanner (Dahua2.cs) and
rroller/dahua (custom_components/dahua/discovery.py); reply field names from captured replies
quoted in public projects (Haicam/Haicam, an amplification write-up of UDP 37810).
"""

from __future__ import annotations

import json
import re
import struct

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.spec import DiscoverySpec

PORT = 37810
MULTICAST_GROUP = "239.255.255.251"
BPF = "udp port 37810"
MAGIC = b"\x20\x00\x00\x00DHIP"
HEADER_SIZE = 32
SEARCH_METHOD = "DHDiscover.search"
REPLY_METHOD = "client.notifyDevInfo"

__all__ = ["PORT", "MULTICAST_GROUP", "BPF", "MAGIC", "build_search", "parse_reply"]

_HEADER = struct.Struct("<8sIIQQ")
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([-:])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}$")
# (key in deviceInfo, observation field)
_TEXT_FIELDS = (
    ("DeviceType", "dhip.device_type"),
    ("DeviceClass", "dhip.device_class"),
    ("SerialNo", "dhip.serial"),
    ("Version", "dhip.version"),
    ("Vendor", "dhip.vendor"),
    ("MachineName", "dhip.machine_name"),
)


def build_search(request_id: int) -> bytes:
    """A DHIP-framed ``DHDiscover.search``; ``request_id`` goes in the header and the JSON ``id``.

    The header matters: devices ignore the same JSON sent bare (rroller/dahua measured this).
    """
    if not isinstance(request_id, int) or isinstance(request_id, bool) or not 0 <= request_id <= 0xFFFFFFFF:
        raise ValueError(f"DHIP request id must be an integer from 0 to 4294967295, got {request_id!r}")
    body = json.dumps(
        {"method": SEARCH_METHOD, "params": {"mac": "", "uni": 1}, "id": request_id}, separators=(",", ":")
    ).encode("ascii")
    return _HEADER.pack(MAGIC, 0, request_id, len(body), len(body)) + body


def parse_reply(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """What a DHIP ``client.notifyDevInfo`` from ``ip`` says about the device, as observations.

    A looped-back ``DHDiscover.search`` (ours or another client's) yields ``[]``; anything that
    is not a well-formed DHIP discovery message raises ProtocolError.
    """
    message = _json_body(data, ip)
    method = message.get("method")
    if method == SEARCH_METHOD:
        return []
    if method != REPLY_METHOD:
        raise ProtocolError(f"DHIP message from {ip} has method {method!r}, not {REPLY_METHOD!r}")
    params = message.get("params")
    info = params.get("deviceInfo") if isinstance(params, dict) else None
    if not isinstance(info, dict):
        raise ProtocolError(f"DHIP {REPLY_METHOD} from {ip} has no params.deviceInfo object")

    values: list[tuple[str, str | None]] = [(field, _text(info.get(key))) for key, field in _TEXT_FIELDS]
    # Captured replies carry the MAC beside "method", outside deviceInfo; accept either place.
    values.append(("dhip.mac", _mac(message.get("mac")) or _mac(info.get("mac")) or _mac(info.get("Mac"))))
    address = info.get("IPv4Address")
    values.append(("dhip.ipv4", _text(address.get("IPAddress")) if isinstance(address, dict) else None))
    values.append(("dhip.http_port", _port(info.get("HttpPort"))))
    # The device's own video inputs (a camera's sensors, a DVR's analogue inputs): 1 in the
    # IPC-HDW1431T1-S4 reply Haicam/Haicam quotes.
    values.append(("dhip.video_inputs", _count(info.get("VideoInputChannels"))))
    return [
        Observation(ip=ip, source="dhip", field=field, value=value, port=port, transport="udp", observed_at=at)
        for field, value in values
        if value is not None
    ]


def _json_body(data: bytes, ip: str) -> dict:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"DHIP datagram from {ip} is not bytes")
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise ProtocolError(f"DHIP datagram from {ip} is {len(data)} bytes, shorter than the {HEADER_SIZE}-byte header")
    magic, _session, _request, length, total = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(f"datagram from {ip} does not start with the DHIP magic (got {magic.hex()})")
    present = len(data) - HEADER_SIZE
    if length > present:
        raise ProtocolError(f"DHIP header from {ip} claims {length} body bytes but the datagram carries {present}")
    if total != length:
        raise ProtocolError(f"DHIP message from {ip} is fragmented or inconsistent ({length} of {total} bytes)")
    body, rest = data[HEADER_SIZE : HEADER_SIZE + length], data[HEADER_SIZE + length :]
    if rest.strip(b"\x00"):
        raise ProtocolError(f"DHIP datagram from {ip} has {len(rest)} bytes beyond the length its header gives")
    # Devices end the JSON with "\n\0" and count it in the length.
    body = body.rstrip(b"\x00 \t\r\n")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")  # a non-UTF-8 MachineName must not hide the ASCII model and serial
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"DHIP body from {ip} is not valid JSON: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"DHIP body from {ip} is JSON but not an object")
    return message


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _mac(value: object) -> str | None:
    if isinstance(value, str) and _MAC.match(value.strip()):
        return value.strip().replace("-", ":").lower()
    return None


def _count(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 65536:
        return str(value)
    return None


def _port(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and 0 < value < 65536:
        return str(value)
    return None


SPEC = DiscoverySpec(
    "dhip", "DHIP", PORT, parse_reply, MULTICAST_GROUP,
    requests=lambda rng: (build_search(rng.getrandbits(31)),),
    mac_fields=("dhip.mac",), serial_fields=("dhip.serial",),
    name_fields=("dhip.vendor",), text_fields=("dhip.device_type", "dhip.device_class", "dhip.machine_name"),
    video_only=True,
)
