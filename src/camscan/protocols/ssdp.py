"""SSDP/UPnP (UDP 1900): the M-SEARCH a scanner multicasts, the responses and NOTIFY
announcements devices send, and the UPnP device description their LOCATION points at.
"""

from __future__ import annotations

import re

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.message import parse_headers, parse_response, split_head
from camscan.protocols.xmlsafe import parse_untrusted_xml
from camscan.protocols.spec import DiscoverySpec

MULTICAST_GROUP = "239.255.255.250"
PORT = 1900
BPF = "udp port 1900"
MAX_MESSAGE_BYTES = 65536
# A description comes over HTTP, so it may be bigger than a datagram; icon and service
# lists stay far below this.
MAX_DESCRIPTION_BYTES = 262144

_REQUEST_LINE = re.compile(rb"^([A-Z-]+) (\S+) HTTP/(\d\.\d)$")
_SAFE_TARGET = re.compile(r"^[\x21-\x7e]+$")
# header -> observation field; ST answers an M-SEARCH, NT is its NOTIFY counterpart.
_SSDP_HEADERS = {
    "server": "ssdp.server",
    "location": "ssdp.location",
    "st": "ssdp.st",
    "nt": "ssdp.nt",
    "usn": "ssdp.usn",
}
# UPnP Device Architecture 1.1 §2.3 element -> observation field.
_DESCRIPTION_FIELDS = {
    "deviceType": "upnp.device_type",
    "friendlyName": "upnp.friendly_name",
    "manufacturer": "upnp.manufacturer",
    "modelDescription": "upnp.model_description",
    "modelName": "upnp.model_name",
    "modelNumber": "upnp.model_number",
    "serialNumber": "upnp.serial_number",
}

__all__ = ["build_msearch", "parse_ssdp", "parse_device_description", "MULTICAST_GROUP", "PORT", "BPF"]


def build_msearch(target: str = "ssdp:all", mx: int = 2) -> bytes:
    """A multicast M-SEARCH for ``target`` (``ssdp:all``, ``upnp:rootdevice``, a URN ...).

    ``mx`` is how many seconds devices may spread their answers over; UDA 1.1 wants 1-5.
    """
    if not _SAFE_TARGET.match(target):
        raise ValueError(f"search target {target!r} must be one printable token such as ssdp:all")
    if isinstance(mx, bool) or not isinstance(mx, int) or not 1 <= mx <= 5:
        raise ValueError(f"MX must be a whole number of seconds from 1 to 5, not {mx!r}")
    return (
        "M-SEARCH * HTTP/1.1\r\n"
        f"HOST: {MULTICAST_GROUP}:{PORT}\r\n"
        'MAN: "ssdp:discover"\r\n'
        f"MX: {mx}\r\n"
        f"ST: {target}\r\n"
        "\r\n"
    ).encode("ascii")


def _ssdp_headers(data: bytes, ip: str) -> tuple[tuple[str, str], ...]:
    """The headers of an M-SEARCH response or a NOTIFY; anything else is a ProtocolError."""
    if data.startswith(b"HTTP/"):
        response = parse_response(data)
        if response.protocol != "HTTP" or response.status != 200:
            raise ProtocolError(f"SSDP reply from {ip}: status {response.status}, an M-SEARCH answer is 200 OK")
        return response.headers
    parts = split_head(data)
    head = parts[0] if parts is not None else data
    lines = head.split(b"\n")
    match = _REQUEST_LINE.match(lines[0].rstrip(b"\r"))
    if match is None:
        raise ProtocolError(f"SSDP message from {ip}: not an HTTP-over-UDP start line: {lines[0][:60]!r}")
    method, target, _version = match.groups()
    if method != b"NOTIFY" or target != b"*":
        raise ProtocolError(f"SSDP message from {ip}: {method.decode()} {target.decode('latin-1')} is not a NOTIFY *")
    return parse_headers(lines[1:])


def parse_ssdp(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """SERVER, LOCATION, ST/NT and USN of an M-SEARCH response or NOTIFY, as observations."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"SSDP message from {ip}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"SSDP message from {ip}: {len(data)} bytes is larger than any datagram")
    headers = _ssdp_headers(data, ip)
    found = [
        Observation(
            ip=ip, source="ssdp", field=_SSDP_HEADERS[name], value=value, port=port, transport="udp", observed_at=at
        )
        for name, value in headers
        if name in _SSDP_HEADERS and value
    ]
    if not any(seen.field in {"ssdp.st", "ssdp.nt", "ssdp.usn"} for seen in found):
        raise ProtocolError(f"SSDP message from {ip}: no ST, NT or USN header, so not an SSDP message")
    return found


def parse_device_description(xml: bytes, ip: str, port: int, at: float = 0.0) -> list[Observation]:
    """Manufacturer, model, serial number and names of the root device in a UPnP description.

    Embedded devices (``deviceList``) are left out: the root device is the box itself.
    """
    root = parse_untrusted_xml(xml, f"UPnP description from {ip}:{port}", MAX_DESCRIPTION_BYTES)
    if root.tag != "root":
        raise ProtocolError(f"UPnP description from {ip}:{port}: root element is <{root.tag}>, not <root>")
    device = next((child for child in root if child.tag == "device"), None)
    if device is None:
        raise ProtocolError(f"UPnP description from {ip}:{port}: <root> has no <device>")
    found: list[Observation] = []
    for child in device:
        field = _DESCRIPTION_FIELDS.get(child.tag)
        value = " ".join((child.text or "").split())
        if field and value and all(seen.field != field for seen in found):
            found.append(Observation(ip=ip, source="upnp", field=field, value=value, port=port, observed_at=at))
    return found


# Seconds devices may spread their M-SEARCH answers over (UDA 1.1 §1.3.2).
MX = 1


SPEC = DiscoverySpec(
    "ssdp", "SSDP", PORT, parse_ssdp, MULTICAST_GROUP,
    requests=lambda rng: (build_msearch("ssdp:all", MX),),
    # the UPnP device description a LOCATION leads to (parse_device_description)
    serial_fields=("upnp.serial_number",),
    name_fields=("upnp.manufacturer",),  # UPnP Device Architecture 2.0 <manufacturer>
    text_fields=("upnp.friendly_name", "upnp.model_name", "upnp.model_description", "upnp.model_number",
                 "ssdp.server"),
)
