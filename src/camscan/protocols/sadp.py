"""Hikvision SADP (Search Active Devices Protocol): the XML inquiry and the ProbeMatch a device answers with.

SADP runs over UDP 37020, to the multicast group 239.255.255.250 (clients also broadcast).
The inquiry is a bare UTF-8 XML document, no framing; a Hikvision device answers with a
``<ProbeMatch>`` naming its model, serial, MAC, ports and firmware, without authentication.
Field names come from replies captured in public projects (Haicam/Haicam golang discovery,
cameronnewman/hikvision-tooling internal/sadp).
"""

from __future__ import annotations

import re
import uuid as uuid_module
from xml.etree.ElementTree import Element

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.xmlsafe import parse_untrusted_xml
from camscan.protocols.spec import DiscoverySpec, fresh_uuid

PORT = 37020
MULTICAST_GROUP = "239.255.255.250"
BPF = "udp port 37020"
MAX_DATAGRAM = 65535

__all__ = ["PORT", "MULTICAST_GROUP", "BPF", "build_inquiry", "parse_probe_match"]

_MAC = re.compile(r"^[0-9A-Fa-f]{2}([-:])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}$")
# No DTD can be needed in a SADP reply, so any declaration is refused before expat sees it:
# that closes entity expansion ("billion laughs") and external entities in one check.

# (element in the ProbeMatch, observation field, how the value is cleaned)
_TEXT, _PORT, _MACADDR, _BOOL = "text", "port", "mac", "bool"
_FIELDS = (
    ("devicetype", "sadp.device_type", _TEXT),
    ("devicedescription", "sadp.description", _TEXT),
    ("devicesn", "sadp.serial", _TEXT),
    ("mac", "sadp.mac", _MACADDR),
    ("ipv4address", "sadp.ipv4", _TEXT),
    ("softwareversion", "sadp.software_version", _TEXT),
    ("dspversion", "sadp.dsp_version", _TEXT),
    ("activated", "sadp.activated", _BOOL),
    ("httpport", "sadp.http_port", _PORT),
    ("commandport", "sadp.command_port", _PORT),
)
_IDENTIFYING = ("devicesn", "mac", "ipv4address", "devicedescription", "devicetype")


def build_inquiry(uuid: str) -> bytes:
    """The SADP inquiry SADPTool multicasts; the device echoes ``uuid`` in its ProbeMatch.

    ``uuid`` must be a UUID (it is written into XML, so nothing else is let through); it is sent
    upper-case and hyphenated, as SADPTool sends it.
    """
    try:
        canonical = str(uuid_module.UUID(uuid)).upper()
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"SADP inquiry needs a UUID such as {str(uuid_module.UUID(int=0))!r}, got {uuid!r}") from None
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Probe><Uuid>{canonical}</Uuid><Types>inquiry</Types></Probe>"
    ).encode("utf-8")


def parse_probe_match(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """What a SADP ``<ProbeMatch>`` from ``ip`` says about the device, as observations.

    A ``<Probe>`` (our own inquiry looped back, or another SADP client's) is valid SADP that says
    nothing about a device: it yields ``[]``. Anything that is not SADP XML raises ProtocolError.
    """
    root = _parse_xml(data, ip)
    kind = _local_name(root.tag)
    if kind == "probe":
        return []
    if kind != "probematch":
        raise ProtocolError(f"SADP reply from {ip} is a <{kind}> document, not a <ProbeMatch>")

    elements: dict[str, str] = {}
    for child in root:
        name = _local_name(child.tag)
        text = (child.text or "").strip()
        if text and name not in elements:
            elements[name] = text
    if not any(name in elements for name in _IDENTIFYING):
        raise ProtocolError(f"SADP ProbeMatch from {ip} names no model, serial, MAC or address")

    found = []
    for element, field, kind_of_value in _FIELDS:
        value = _clean(elements.get(element), kind_of_value)
        if value is not None:
            found.append(
                Observation(ip=ip, source="sadp", field=field, value=value, port=port, transport="udp", observed_at=at)
            )
    return found


def _parse_xml(data: bytes, ip: str) -> Element:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"SADP datagram from {ip} is not bytes")
    raw = bytes(data).rstrip(b"\x00 \t\r\n")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        # Non-UTF-8 descriptions exist on some firmware; latin-1 keeps the ASCII model and serial intact.
        raw = raw.decode("latin-1").encode("utf-8")
    return parse_untrusted_xml(raw, f"SADP reply from {ip}", MAX_DATAGRAM)


def _local_name(tag: object) -> str:
    if not isinstance(tag, str):  # comments and processing instructions
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _clean(value: str | None, kind: str) -> str | None:
    if value is None:
        return None
    if kind == _PORT:
        return value if value.isascii() and value.isdigit() and 0 < int(value) < 65536 else None
    if kind == _MACADDR:
        # Hikvision writes "58-50-ed-1f-e3-85"; the rest of camscan uses lower-case colons.
        return value.replace("-", ":").lower() if _MAC.match(value) else None
    if kind == _BOOL:
        return value.lower()
    return value


SPEC = DiscoverySpec(
    "sadp", "SADP", PORT, parse_probe_match, MULTICAST_GROUP,
    requests=lambda rng: (build_inquiry(fresh_uuid(rng)),),
    mac_fields=("sadp.mac",), serial_fields=("sadp.serial",),
    text_fields=("sadp.description", "sadp.device_type"), video_only=True,
)
