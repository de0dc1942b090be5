"""UPnP Internet Gateway Device: the WAN connection service and its port-mapping table (read only).

UPnP Forum WANIPConnection:1 / WANPPPConnection:1: GetGenericPortMappingEntry(index)
returns one mapping (NewExternalPort, NewProtocol, NewInternalClient, NewInternalPort,
NewEnabled, NewPortMappingDescription ...); an index past the end gets SOAP fault 713
(SpecifiedArrayIndexInvalid).
"""

from __future__ import annotations

from urllib.parse import urljoin

from camscan.protocols import ProtocolError
from camscan.protocols.http import USER_AGENT
from camscan.protocols.xmlsafe import parse_untrusted_xml

MAX_IGD_BYTES = 256 * 1024
WAN_SERVICES = ("urn:schemas-upnp-org:service:WANIPConnection:", "urn:schemas-upnp-org:service:WANPPPConnection:")
MAPPING_FIELDS = ("NewRemoteHost", "NewExternalPort", "NewProtocol", "NewInternalPort", "NewInternalClient",
                  "NewEnabled", "NewPortMappingDescription", "NewLeaseDuration")


def wan_connection_services(description: bytes, location: str) -> list[tuple[str, str]]:
    """(service type, absolute control URL) of every WAN IP/PPP connection service in a description."""
    root = parse_untrusted_xml(description, "UPnP device description", MAX_IGD_BYTES)
    if root.tag != "root":
        raise ProtocolError(f"UPnP device description: root element is <{root.tag}>, not <root>")
    base = next((node.text.strip() for node in root if node.tag == "URLBase" and node.text), location)
    found = []
    for service in root.iter("service"):
        kind = next((n.text.strip() for n in service if n.tag == "serviceType" and n.text), "")
        control = next((n.text.strip() for n in service if n.tag == "controlURL" and n.text), "")
        if kind.startswith(WAN_SERVICES) and control:
            found.append((kind, urljoin(base, control)))
    return found


def build_mapping_request(host: str, path: str, service_type: str, index: int) -> bytes:
    """SOAP 1.1 POST of GetGenericPortMappingEntry(index)."""
    body = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
            f'<u:GetGenericPortMappingEntry xmlns:u="{service_type}"><NewPortMappingIndex>{int(index)}'
            "</NewPortMappingIndex></u:GetGenericPortMappingEntry></s:Body></s:Envelope>").encode("utf-8")
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
            'Content-Type: text/xml; charset="utf-8"\r\n'
            f'SOAPAction: "{service_type}#GetGenericPortMappingEntry"\r\n'
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode("latin-1") + body


def parse_mapping(body: bytes) -> dict[str, str] | None:
    """One port mapping from a GetGenericPortMappingEntry response; None for a SOAP fault (end of table)."""
    root = parse_untrusted_xml(body, "UPnP port-mapping reply", MAX_IGD_BYTES)
    if root.tag != "Envelope":
        raise ProtocolError(f"UPnP port-mapping reply: not a SOAP envelope (<{root.tag}>)")
    if next(root.iter("Fault"), None) is not None:
        return None
    response = next((node for node in root.iter() if node.tag == "GetGenericPortMappingEntryResponse"), None)
    if response is None:
        raise ProtocolError("UPnP port-mapping reply: no GetGenericPortMappingEntryResponse")
    return {node.tag: (node.text or "").strip() for node in response if node.tag in MAPPING_FIELDS}
