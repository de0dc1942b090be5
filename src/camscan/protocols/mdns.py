"""Multicast DNS / DNS-SD (UDP 5353): service announcements and answers, as observations.

Devices announce their services as DNS-SD records (RFC 6763): a PTR from the service
type to an instance, an SRV naming the host and port, and a TXT record of ``key=value``
strings that often names the model and MAC. Packets are decoded with python-zeroconf's
``DNSIncoming``, a pure parser; the live scan's zeroconf browser hands its results to
:func:`service_observations`, so both paths yield the same observations.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from zeroconf import DNSAddress, DNSIncoming, DNSOutgoing, DNSPointer, DNSQuestion, DNSService, DNSText
from zeroconf.const import _CLASS_IN, _FLAGS_QR_QUERY, _TYPE_PTR

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.spec import DiscoverySpec, declared_values

PORT = 5353
MULTICAST_GROUP = "224.0.0.251"
BPF = "udp port 5353"
# RFC 6762 §17: a Multicast DNS message must never exceed 9000 bytes.
MAX_MESSAGE_BYTES = 9000
# RFC 6763 §9: a PTR from this name lists the service types a host offers.
SERVICE_ENUMERATION = "_services._dns-sd._udp.local."
# Camera-relevant types and the printer/NAS/computer types that must be told apart from cameras (data).
BROWSED_TYPES = declared_values(Path(__file__).with_name("mdns_browsed_types.yaml"), "type", "for")

# TXT keys that name the maker, model or MAC, reported on their own as mdns.txt.<key>
# (lower-cased: RFC 6763 §6.4 makes keys case-insensitive). Sources: Axis ``macaddress``
# (Home Assistant's zeroconf matchers); Bonjour Printing Specification 1.2.1 ``ty``,
# ``product``, ``usb_MFG``, ``usb_MDL``; HomeKit Accessory Protocol ``md`` (model) and
# ``ci`` (category); ``model``/``vendor``/``manufacturer`` as Synology, Apple and Samsung
# devices send them; AirPlay's ``am`` (Apple model); QNAP QDiscover's ``displayModel``.
IDENTIFYING_TXT_KEYS = frozenset(
    {"macaddress", "model", "vendor", "manufacturer", "md", "ci", "am", "ty", "product", "usb_mfg", "usb_mdl",
     "displaymodel"}
)

_SERVICE_TYPE = re.compile(r"^_[A-Za-z0-9][A-Za-z0-9-]{0,62}\._(?:tcp|udp)\.local\.?$", re.IGNORECASE)
_INSTANCE_NAME = re.compile(r"^(?P<instance>.+)\.(?P<type>_[^.]+\._(?:tcp|udp)\.local\.?)$", re.IGNORECASE)

__all__ = ["PORT", "MULTICAST_GROUP", "BPF", "build_query", "parse_packet", "service_observations"]


def _canonical_type(service_type: str) -> str:
    return service_type if service_type.endswith(".") else service_type + "."


def _printable(text: str) -> str:
    return "".join(char if char.isprintable() else "\ufffd" for char in text).strip()


def _text(value: str | bytes | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", errors="replace")
    return _printable(str(value))


def _instance_label(instance: str, service_type: str) -> str:
    """The instance label alone, whether given bare or as the full ``<label>.<type>`` name."""
    suffix = "." + service_type
    if instance.lower().endswith(suffix.lower()):
        return instance[: -len(suffix)]
    if instance.lower().endswith(suffix.rstrip(".").lower()):
        return instance[: -len(suffix.rstrip("."))]
    return instance


def service_observations(
    ip: str,
    service_type: str,
    instance: str | None,
    server: str | None,
    port: int | None,
    txt: Mapping[str, str | bytes | None] | Mapping[bytes, str | bytes | None] | None,
    at: float = 0.0,
    source_port: int | None = PORT,
) -> list[Observation]:
    """What one DNS-SD service instance says about the host at ``ip``.

    ``service_type`` is e.g. ``_axis-video._tcp.local.``; ``instance`` the instance label
    (``AXIS M3045-V - ACCC8E123456``) or the full instance name; ``server`` the SRV target;
    ``port`` the SRV port; ``txt`` the TXT entries as zeroconf's ``ServiceInfo.properties``
    gives them (a key without ``=`` maps to None). ``source_port`` is the UDP port the
    answer came from, recorded on each observation.
    """
    if not _SERVICE_TYPE.match(service_type or ""):
        raise ProtocolError(
            f"mDNS answer from {ip}: {service_type!r} is not a DNS-SD service type such as _http._tcp.local."
        )
    service_type = _canonical_type(service_type)
    fields: list[tuple[str, str]] = [("mdns.service_type", service_type)]
    if instance and (label := _printable(_instance_label(instance, service_type))):
        fields.append(("mdns.instance", label))
    if server and (host := _printable(server.rstrip("."))):
        fields.append(("mdns.hostname", host))
    if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
        fields.append(("mdns.port", str(port)))
    seen_keys: set[str] = set()
    for raw_key, raw_value in (txt or {}).items():
        key = _text(raw_key)
        # RFC 6763 §6.4: keys are case-insensitive, and only the first of a repeated key counts.
        if not key or "=" in key or key.lower() in seen_keys:
            continue
        seen_keys.add(key.lower())
        value = _text(raw_value)
        fields.append(("mdns.txt", key if value is None else f"{key}={value}"))
        if key.lower() in IDENTIFYING_TXT_KEYS and value:
            fields.append((f"mdns.txt.{key.lower()}", value))
    return _observations(fields, ip, source_port, at)


def _observations(fields: Iterable[tuple[str, str]], ip: str, port: int | None, at: float) -> list[Observation]:
    seen: set[tuple[str, str]] = set()
    found = []
    for field, value in fields:
        if (field, value) not in seen:
            seen.add((field, value))
            found.append(
                Observation(ip=ip, source="mdns", field=field, value=value, port=port, transport="udp", observed_at=at)
            )
    return found


def _txt_entries(raw: bytes) -> dict[bytes, bytes | None]:
    """The ``key=value`` strings of a TXT record's RDATA; an entry running past the end is dropped."""
    entries: dict[bytes, bytes | None] = {}
    position = 0
    while position < len(raw):
        length = raw[position]
        chunk = raw[position + 1 : position + 1 + length]
        position += 1 + length
        if len(chunk) < length:
            break
        key, equals, value = chunk.partition(b"=")
        if key and key not in entries:  # the first of a repeated key counts (RFC 6763 §6.4)
            entries[key] = value if equals else None
    return entries


def _split_instance(name: str) -> tuple[str, str] | None:
    match = _INSTANCE_NAME.match(name)
    return (match.group("instance"), _canonical_type(match.group("type"))) if match else None


def parse_packet(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """Observations from an mDNS response or announcement sent by ``ip``.

    Answers and additionals are read alike. Each service instance named by a PTR, SRV or
    TXT record becomes :func:`service_observations`; an A/AAAA record for the sender's own
    address gives its hostname; a ``_services._dns-sd._udp`` PTR names a service type the
    host offers. A query (ours looped back, or another browser's) yields ``[]``; bytes that
    are not a well-formed DNS message raise ProtocolError.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"mDNS packet from {ip}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"mDNS packet from {ip}: {len(data)} bytes is over the 9000 bytes RFC 6762 allows")
    try:
        message = DNSIncoming(data)
    except Exception as error:  # zeroconf reports what it cannot decode in several exception types
        raise ProtocolError(f"mDNS packet from {ip}: not a DNS message ({error})") from None
    if not message.valid:
        raise ProtocolError(f"mDNS packet from {ip}: malformed or truncated DNS message ({len(data)} bytes)")
    if message.is_query():
        return []

    types: dict[str, str] = {}  # full instance name -> service type
    offered: list[str] = []
    servers: dict[str, tuple[str, int]] = {}
    texts: dict[str, dict[bytes, bytes | None]] = {}
    hostnames: list[str] = []
    for record in message.answers():
        name = record.name
        if isinstance(record, DNSPointer):
            if name.lower() == SERVICE_ENUMERATION and _SERVICE_TYPE.match(record.alias):
                offered.append(_canonical_type(record.alias))
            elif "._sub." in name.lower():
                service_type = name[name.lower().index("._sub.") + len("._sub.") :]
                if _SERVICE_TYPE.match(service_type):
                    types.setdefault(record.alias.lower(), _canonical_type(service_type))
            elif _SERVICE_TYPE.match(name):
                types.setdefault(record.alias.lower(), _canonical_type(name))
        elif isinstance(record, DNSService):
            servers.setdefault(name.lower(), (record.server, record.port))
        elif isinstance(record, DNSText):
            texts.setdefault(name.lower(), _txt_entries(record.text))
        elif isinstance(record, DNSAddress) and _address_text(record.address) == ip:
            hostnames.append(name)

    names: dict[str, str] = {}  # lower-cased full name -> name as sent
    for record in message.answers():
        if isinstance(record, DNSPointer) and record.alias.lower() in types:
            names.setdefault(record.alias.lower(), record.alias)
        elif isinstance(record, (DNSService, DNSText)):
            names.setdefault(record.name.lower(), record.name)

    found: list[Observation] = []
    for key, full_name in names.items():
        split = _split_instance(full_name)
        instance_type = types.get(key) or (split[1] if split else None)
        if instance_type is None:
            continue
        server, service_port = servers.get(key, (None, None))
        found += service_observations(ip, instance_type, full_name, server, service_port, texts.get(key), at, port)
    found += _observations([("mdns.service_type", service_type) for service_type in offered], ip, port, at)
    found += _observations([("mdns.hostname", host.rstrip(".")) for host in hostnames], ip, port, at)
    return list(dict.fromkeys(found))


def _address_text(packed: bytes) -> str | None:
    try:
        return str(ipaddress.ip_address(packed))
    except ValueError:
        return None


def build_query(service_types: Iterable[str]) -> bytes:
    """A one-shot mDNS query (RFC 6762 §5.1) asking for the PTR records of ``service_types``."""
    query = DNSOutgoing(_FLAGS_QR_QUERY)
    names = list(service_types)
    if not names:
        raise ValueError("an mDNS query needs at least one service type such as _http._tcp.local.")
    for name in names:
        if name != SERVICE_ENUMERATION and not _SERVICE_TYPE.match(name):
            raise ValueError(f"{name!r} is not a DNS-SD service type such as _axis-video._tcp.local.")
        query.add_question(DNSQuestion(_canonical_type(name), _TYPE_PTR, _CLASS_IN))
    packets = query.packets()
    if len(packets) != 1:
        raise ValueError(f"{len(names)} service types do not fit one mDNS query; ask for fewer at a time")
    return packets[0]


# Multicast mDNS goes through zeroconf's browser (camscan.transport.mdns) and a unicast question
# per host (camscan.probes.discovery_probes.mdns_query_probe), not through the generic requests.
SPEC = DiscoverySpec("mdns", "mDNS", PORT, parse_packet, MULTICAST_GROUP, mac_fields=("mdns.txt.macaddress",),
                    text_fields=("mdns.instance", "mdns.hostname", "mdns.txt"))
