"""ONVIF WS-Discovery (SOAP over UDP 3702): the Probe a scanner multicasts, and the facts in
the ProbeMatches and Hello messages cameras send back.
"""

from __future__ import annotations

import re
from urllib.parse import unquote
from xml.etree.ElementTree import Element

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.xmlsafe import child, soap_envelope
from camscan.protocols.spec import DiscoverySpec, fresh_uuid

MULTICAST_GROUP = "239.255.255.250"
PORT = 3702
BPF = "udp port 3702"
# One UDP datagram can never be larger; anything bigger did not come from a camera.
MAX_MESSAGE_BYTES = 65536

SOAP12_ENVELOPE = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
DISCOVERY = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
DISCOVERY_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ACTION_PROBE = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
# ONVIF Core §7.3: NetworkVideoTransmitter is the legacy type, tds:Device the current one.
TYPE_NAMESPACES = {
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
}
ONVIF_SCOPE_PREFIX = "onvif://www.onvif.org/"

_QNAME = re.compile(r"^([A-Za-z_][\w.-]*):([A-Za-z_][\w.-]*)$")
_MESSAGE_ID = re.compile(r"^[\w:.{}-]+$")
_SCOPE_KIND = re.compile(r"^[A-Za-z0-9_.-]+$")
# Messages that carry an endpoint description; ResolveMatch has the same shape as ProbeMatch.
_MATCH_CONTAINERS = {"ProbeMatches": "ProbeMatch", "ResolveMatches": "ResolveMatch"}
_MATCH_SINGLES = {"ProbeMatch", "ResolveMatch", "Hello"}

__all__ = ["build_probe", "parse_probe_matches", "MULTICAST_GROUP", "PORT", "BPF"]


def _text(element: Element | None) -> str:
    return " ".join((element.text or "").split()) if element is not None else ""


def build_probe(types: str, message_id: str) -> bytes:
    """A WS-Discovery Probe (SOAP 1.2) for ``types``, e.g. ``dn:NetworkVideoTransmitter``.

    ``types`` is a space-separated list of ``dn:``/``tds:`` names, or "" for an untyped
    probe. Send one type per probe: WS-Discovery matching requires a target to satisfy
    every listed type. ``message_id`` is used verbatim when it already starts with
    ``uuid:`` or ``urn:uuid:``, otherwise ``uuid:`` is put in front; replies carry it
    back in RelatesTo. The namespaces are declared on the envelope, not on Types,
    because some cameras ignore probes whose Types declares its own prefix.
    """
    names = types.split()
    for name in names:
        match = _QNAME.match(name)
        if match is None or match.group(1) not in TYPE_NAMESPACES:
            known = ", ".join(f"{prefix}:" for prefix in TYPE_NAMESPACES)
            raise ValueError(f"probe type {name!r} must be a prefixed name using one of {known}")
    if not _MESSAGE_ID.match(message_id):
        raise ValueError(f"message id {message_id!r} must be a uuid such as uuid:0c7c3b0e-...")
    if not message_id.startswith(("uuid:", "urn:uuid:")):
        message_id = f"uuid:{message_id}"
    declarations = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in TYPE_NAMESPACES.items())
    probe = f"<d:Types>{' '.join(names)}</d:Types>" if names else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{SOAP12_ENVELOPE}" xmlns:a="{ADDRESSING}" xmlns:d="{DISCOVERY}"{declarations}>'
        "<s:Header>"
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{ANONYMOUS}</a:Address></a:ReplyTo>"
        f'<a:To s:mustUnderstand="true">{DISCOVERY_TO}</a:To>'
        f'<a:Action s:mustUnderstand="true">{ACTION_PROBE}</a:Action>'
        "</s:Header>"
        f"<s:Body><d:Probe>{probe}</d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode("utf-8")


def _endpoints(body: Element, ip: str) -> list[Element]:
    """The ProbeMatch/ResolveMatch/Hello elements in a SOAP body."""
    found: list[Element] = []
    for message in body:
        if message.tag in _MATCH_CONTAINERS:
            found += [match for match in message if match.tag == _MATCH_CONTAINERS[message.tag]]
        elif message.tag in _MATCH_SINGLES:
            found.append(message)
        elif message.tag == "Fault":
            reason = " ".join(_text(node) for node in message.iter() if node.tag in {"Value", "Text", "faultstring"})
            raise ProtocolError(f"WS-Discovery reply from {ip} is a SOAP Fault: {reason or 'no reason given'}")
        else:
            raise ProtocolError(f"WS-Discovery {message.tag} message from {ip}, not ProbeMatches or Hello")
    if not found and not any(message.tag in _MATCH_CONTAINERS for message in body):
        raise ProtocolError(f"WS-Discovery reply from {ip}: SOAP body holds no WS-Discovery message")
    return found


def _scope_fields(scope: str) -> list[tuple[str, str]]:
    """``wsd.scope`` for every scope, plus ``wsd.scope.<kind>`` for ONVIF ones (ONVIF Core §7.3.2.2)."""
    fields = [("wsd.scope", scope)]
    if scope[: len(ONVIF_SCOPE_PREFIX)].lower() == ONVIF_SCOPE_PREFIX:
        kind, _, value = scope[len(ONVIF_SCOPE_PREFIX):].partition("/")
        value = unquote(value).strip()
        if _SCOPE_KIND.match(kind) and value:
            # location/country/china keeps "country/china": the kind is the first segment.
            fields.append((f"wsd.scope.{kind}", value))
    return fields


def parse_probe_matches(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """What a ProbeMatches, ResolveMatches or Hello message says about the device(s) it describes.

    Elements are found by local name, so SOAP 1.1 or 1.2 envelopes and WS-Discovery
    2005/04 or 1.1 namespaces all parse, whatever their prefixes.
    """
    root, body = soap_envelope(data, f"WS-Discovery reply from {ip}", MAX_MESSAGE_BYTES)
    header = child(root, "Header")

    fields: list[tuple[str, str]] = []
    if header is not None and (relates_to := _text(child(header, "RelatesTo"))):
        fields.append(("wsd.relates_to", relates_to))
    for endpoint in _endpoints(body, ip):
        reference = child(endpoint, "EndpointReference")
        if address := _text(child(reference, "Address") if reference is not None else None):
            fields.append(("wsd.endpoint", address))
        if types := _text(child(endpoint, "Types")):
            fields.append(("wsd.types", types))
        for scope in _text(child(endpoint, "Scopes")).split():
            fields += _scope_fields(scope)
        fields += [("wsd.xaddr", xaddr) for xaddr in _text(child(endpoint, "XAddrs")).split()]

    seen: set[tuple[str, str]] = set()
    found: list[Observation] = []
    for field, value in fields:
        if (field, value) in seen:
            continue
        seen.add((field, value))
        found.append(
            Observation(ip=ip, source="wsd", field=field, value=value, port=port, transport="udp", observed_at=at)
        )
    return found


# ONVIF Core §7.3.1: legacy cameras answer only NetworkVideoTransmitter, current ones
# tds:Device; one type per probe because a target must match every listed type.
PROBE_TYPES = ("dn:NetworkVideoTransmitter", "tds:Device")

SPEC = DiscoverySpec(
    "wsd", "WS-Discovery", PORT, parse_probe_matches, MULTICAST_GROUP,
    requests=lambda rng: tuple(build_probe(types, f"uuid:{fresh_uuid(rng)}") for types in PROBE_TYPES),
    # the ONVIF device information a ProbeMatch's XAddrs lead to (camscan.probes.onvif)
    serial_fields=("onvif.serial",),
    # ONVIF Core 7.3.2.2 scopes
    name_fields=("wsd.scope.manufacturer", "wsd.scope.name"),
    text_fields=("wsd.scope.hardware", "wsd.scope.type", "wsd.scope.extension"),
    video_only=True,
)
