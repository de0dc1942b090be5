"""ONVIF over SOAP/HTTP: the few read-only requests of the onvif-no-auth check, and their replies.

ONVIF Core: the device service lives at ``/onvif/device_service``; GetCapabilities is
allowed before authentication and names the media service address (XAddr); the media
service's GetProfiles and GetStreamUri are meant to need credentials.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from camscan.protocols import ProtocolError
from camscan.protocols.http import USER_AGENT
from camscan.protocols.xmlsafe import parse_untrusted_xml

DEVICE_SERVICE_PATH = "/onvif/device_service"
MAX_SOAP_BYTES = 256 * 1024
_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?>'
             '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>{body}</s:Body></s:Envelope>')
GET_CAPABILITIES = ('<GetCapabilities xmlns="http://www.onvif.org/ver10/device/wsdl">'
                    "<Category>Media</Category></GetCapabilities>")
GET_PROFILES = '<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>'
_GET_STREAM_URI = ('<GetStreamUri xmlns="http://www.onvif.org/ver10/media/wsdl"><StreamSetup>'
                   '<Stream xmlns="http://www.onvif.org/ver10/schema">RTP-Unicast</Stream>'
                   '<Transport xmlns="http://www.onvif.org/ver10/schema"><Protocol>RTSP</Protocol></Transport>'
                   "</StreamSetup><ProfileToken>{token}</ProfileToken></GetStreamUri>")


def get_stream_uri(token: str) -> str:
    escaped = token.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _GET_STREAM_URI.format(token=escaped)


def build_request(host: str, path: str, body: str) -> bytes:
    """A SOAP 1.2 POST of one ONVIF operation, without credentials."""
    payload = _ENVELOPE.format(body=body).encode("utf-8")
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Content-Type: application/soap+xml; charset=utf-8\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
    return head.encode("latin-1") + payload


def _parse(body: bytes, what: str) -> Element:
    root = parse_untrusted_xml(body, what, MAX_SOAP_BYTES)
    if root.tag != "Envelope":
        raise ProtocolError(f"{what}: not a SOAP envelope (<{root.tag}>)")
    return root


def fault_reason(body: bytes) -> str | None:
    """The reason of a SOAP fault (e.g. ``ter:NotAuthorized``), or None when the reply is no fault."""
    root = _parse(body, "ONVIF reply")
    fault = next(root.iter("Fault"), None)
    if fault is None:
        return None
    texts = [node.text.strip() for node in fault.iter() if node.tag in ("Value", "Text") and node.text]
    return " ".join(texts) or "SOAP fault"


def media_xaddr(body: bytes) -> str | None:
    """The media service address from a GetCapabilities response."""
    root = _parse(body, "ONVIF GetCapabilities reply")
    for media in root.iter("Media"):
        xaddr = next((node.text.strip() for node in media.iter("XAddr") if node.text), None)
        if xaddr:
            return xaddr
    return None


def profile_tokens(body: bytes) -> list[str]:
    """The tokens of the media profiles in a GetProfiles response."""
    root = _parse(body, "ONVIF GetProfiles reply")
    return [node.get("token", "") for node in root.iter("Profiles") if node.get("token")]


def stream_uri(body: bytes) -> str | None:
    """The stream URI from a GetStreamUri response."""
    root = _parse(body, "ONVIF GetStreamUri reply")
    for media_uri in root.iter("MediaUri"):
        uri = next((node.text.strip() for node in media_uri.iter("Uri") if node.text), None)
        if uri:
            return uri
    return None
