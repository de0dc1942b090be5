"""Lab behaviour for the exposure checks: per-path RTSP streams, still images, FTP logins.

The servers dispatch here when a service spec asks for it:

``rtsp``   ``streams: {path: open | auth | missing}`` answers DESCRIBE per path (query
           included): ``open`` with an SDP, ``auth`` with 401 and the spec's
           WWW-Authenticate, ``missing`` with 404; ``stream_default`` covers other paths
           (default ``missing``).
``http``   a route with ``image: jpeg`` serves :func:`tiny_jpeg` as ``image/jpeg``.
``http``   a route with ``login: {scheme: basic | digest, realm, user, password,
           lockout_after, granted}`` asks for that login (401 + challenge), answers the right
           one with the ``granted`` route and counts attempts in ``host.extra``; after
           ``lockout_after`` failures it says the account is locked.
``http``   a route with ``onvif_media: {media_xaddr, stream_uri, auth: none | required}``
           answers SOAP GetCapabilities (always: it is allowed before authentication),
           GetProfiles and GetStreamUri (401 when ``auth: required``).
``http``   ``igd_description: {control_url}`` serves a UPnP IGD description with one
           WANIPConnection:1 service; ``igd_control: {mappings: [...]}`` answers
           GetGenericPortMappingEntry by index, and fault 713 past the end.
``banner`` ``ftp_login: anonymous | refuse`` answers USER/PASS/QUIT after the greeting:
           ``anonymous`` grants ``anonymous`` (230), ``refuse`` says 530 to every login.
"""

from __future__ import annotations

import asyncio
import base64
import re
import struct
from urllib.parse import urlsplit

from camscan_lab import digest
from camscan_lab.profiles import LabHost

STREAM_STATES = ("open", "auth", "missing")
MAX_FTP_COMMANDS = 8
FTP_IDLE = 30.0


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def tiny_jpeg() -> bytes:
    """A valid baseline JPEG (ITU-T T.81) of one 8x8 mid-grey block, built from the spec.

    One component; Huffman tables with a single one-bit code each (DC difference 0, AC
    end-of-block), so the entropy-coded block is the bits ``0 0`` padded with ones.
    """
    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    quantisation = b"\x00" + b"\x01" * 64
    frame = struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00"
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1, for symbol 0x00
    scan = b"\x01\x01\x00\x00\x3f\x00"
    return (
        b"\xff\xd8"
        + _segment(0xE0, jfif)
        + _segment(0xDB, quantisation)
        + _segment(0xC0, frame)
        + _segment(0xC4, b"\x00" + one_code)
        + _segment(0xC4, b"\x10" + one_code)
        + _segment(0xDA, scan)
        + b"\x3f"
        + b"\xff\xd9"
    )


def stream_state(spec: dict, url: str) -> str | None:
    """How the stream at ``url`` answers DESCRIBE, or None when the spec has no per-path streams."""
    streams = spec.get("streams")
    if not streams:
        return None
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    state = streams.get(path, streams.get(path.rstrip("/") or "/", spec.get("stream_default", "missing")))
    if state not in STREAM_STATES:
        raise ValueError(f"stream state {state!r} is not one of {STREAM_STATES}")
    return state


async def serve_ftp_login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: LabHost, spec: dict,
                          send) -> None:
    """Answer USER/PASS/QUIT (RFC 959 reply codes) after the greeting the banner server sent."""
    anonymous = spec.get("ftp_login") == "anonymous"
    user = None
    for _ in range(MAX_FTP_COMMANDS):
        try:
            line = await asyncio.wait_for(reader.readline(), FTP_IDLE)
        except (asyncio.TimeoutError, ValueError):
            return
        if not line:
            return
        verb, _, argument = line.decode("latin-1").strip().partition(" ")
        verb = verb.upper()
        if verb == "USER":
            user = argument
            await send(writer, b"331 Please specify the password.\r\n")
        elif verb == "PASS":
            granted = anonymous and user in ("anonymous", "ftp")
            await send(writer, b"230 Login successful.\r\n" if granted else b"530 Login incorrect.\r\n")
        elif verb == "QUIT":
            await send(writer, b"221 Goodbye.\r\n")
            return
        else:
            await send(writer, b"530 Please login with USER and PASS.\r\n")


def _digest_ok(login: dict, header: str, method: str) -> bool:
    """RFC 7616 MD5 digest check of the client's response (any nonce: the lab keeps no state)."""
    params = digest.authorization_params(header)
    if params.get("username") != login["user"]:
        return False
    return digest.response_matches({**params, "realm": login.get("realm", "")}, login["password"], method)


def login_route(route: dict, authorization: str | None, method: str, host: LabHost) -> dict:
    """The route to answer with for a page that asks for a login."""
    login = dict(route["login"])
    realm = login.get("realm", "")
    for key, value in host.context().items():
        realm = realm.replace("${" + key + "}", value)
    login["realm"] = realm
    scheme = login.get("scheme", "digest")
    challenge = (f'Digest realm="{realm}", qop="auth", nonce="${{nonce}}"' if scheme == "digest"
                 else f'Basic realm="{realm}"')
    refused = {"status": 401, "headers": {"WWW-Authenticate": challenge}}
    if not authorization:
        return refused
    host.extra["login_attempts"] = host.extra.get("login_attempts", 0) + 1
    failures = host.extra.get("login_failures", 0)
    lockout_after = login.get("lockout_after")
    if lockout_after and failures >= lockout_after:
        return {**refused, "body": "<html><body>User locked: too many failed logins</body></html>"}
    if scheme == "digest":
        granted = authorization.startswith("Digest ") and _digest_ok(login, authorization, method)
    else:
        expected = base64.b64encode(f"{login['user']}:{login['password']}".encode()).decode()
        granted = authorization == f"Basic {expected}"
    if granted:
        return login.get("granted") or {"status": 200, "title": "ok"}
    host.extra["login_failures"] = failures + 1
    if lockout_after and failures + 1 >= lockout_after:
        return {**refused, "body": "<html><body>User locked: too many failed logins</body></html>"}
    return refused


MAX_SOAP_BODY = 64 * 1024
_SOAP = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
         'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
         'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error">'
         "<s:Body>{body}</s:Body></s:Envelope>")


async def read_body(stream, length: str, timeout: float) -> bytes:
    """The request body announced by Content-Length (capped), from the server's buffered stream."""
    count = min(int(length), MAX_SOAP_BODY) if length.isdigit() else 0
    deadline = asyncio.get_running_loop().time() + timeout
    while len(stream.buffer) < count and await stream._fill(deadline):
        pass
    body, stream.buffer = stream.buffer[:count], stream.buffer[count:]
    return body


def _soap_reply(body: str, status: int = 200) -> dict:
    return {"status": status, "content_type": "application/soap+xml; charset=utf-8", "body": _SOAP.format(body=body)}


def onvif_route(route: dict, body: bytes) -> dict:
    """The reply to one ONVIF SOAP request, chosen by the operation named in its body."""
    spec = route["onvif_media"]
    text = body.decode("utf-8", "replace")
    protected = spec.get("auth") == "required"
    if "GetCapabilities" in text:
        return _soap_reply(
            "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media>"
            f"<tt:XAddr>{spec['media_xaddr']}</tt:XAddr>"
            "<tt:StreamingCapabilities><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities>"
            "</tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>")
    if protected and ("GetProfiles" in text or "GetStreamUri" in text):
        return {"status": 401, "headers": {"WWW-Authenticate": 'Digest realm="ONVIF", qop="auth", nonce="${nonce}"'}}
    if "GetProfiles" in text:
        return _soap_reply(
            '<trt:GetProfilesResponse><trt:Profiles token="Profile_1" fixed="true"><tt:Name>mainStream</tt:Name>'
            '</trt:Profiles><trt:Profiles token="Profile_2" fixed="true"><tt:Name>subStream</tt:Name>'
            "</trt:Profiles></trt:GetProfilesResponse>")
    if "GetStreamUri" in text:
        return _soap_reply(
            f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{spec['stream_uri']}</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
            "<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>")
    return _soap_reply(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:ActionNotSupported</s:Value>"
        "</s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en\">Action not supported</s:Text></s:Reason></s:Fault>",
        400)


_WAN_IP = "urn:schemas-upnp-org:service:WANIPConnection:1"


def igd_description_route(route: dict) -> dict:
    """A UPnP IGD root description (InternetGatewayDevice:1 > WANDevice > WANConnectionDevice)."""
    control = route["igd_description"]["control_url"]
    body = (
        '<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">'
        "<specVersion><major>1</major><minor>0</minor></specVersion><device>"
        "<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>"
        "<friendlyName>Lab router</friendlyName><manufacturer>Lab</manufacturer><deviceList><device>"
        "<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><deviceList><device>"
        "<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><serviceList><service>"
        f"<serviceType>{_WAN_IP}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>"
        f"<controlURL>{control}</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL>"
        "</service></serviceList></device></deviceList></device></deviceList></device></root>"
    )
    return {"status": 200, "content_type": 'text/xml; charset="utf-8"', "body": body}


def igd_control_route(route: dict, body: bytes) -> dict:
    """GetGenericPortMappingEntry(index) from the route's mapping list; fault 713 past its end."""
    mappings = route["igd_control"].get("mappings") or []
    match = re.search(rb"<NewPortMappingIndex>\s*(\d{1,5})\s*</NewPortMappingIndex>", body)
    index = int(match.group(1)) if match else len(mappings)
    envelope = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
                's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>{}</s:Body></s:Envelope>')
    if index >= len(mappings):
        fault = ("<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>"
                 '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>713</errorCode>'
                 "<errorDescription>SpecifiedArrayIndexInvalid</errorDescription></UPnPError></detail></s:Fault>")
        return {"status": 500, "content_type": 'text/xml; charset="utf-8"', "body": envelope.format(fault)}
    entry = mappings[index]
    fields = {
        "NewRemoteHost": "", "NewExternalPort": entry["external_port"], "NewProtocol": entry.get("protocol", "TCP"),
        "NewInternalPort": entry["internal_port"], "NewInternalClient": entry["internal_client"],
        "NewEnabled": "1" if entry.get("enabled", True) else "0",
        "NewPortMappingDescription": entry.get("description", ""), "NewLeaseDuration": "0",
    }
    inner = "".join(f"<{name}>{value}</{name}>" for name, value in fields.items())
    body_xml = f'<u:GetGenericPortMappingEntryResponse xmlns:u="{_WAN_IP}">{inner}</u:GetGenericPortMappingEntryResponse>'
    return {"status": 200, "content_type": 'text/xml; charset="utf-8"', "body": envelope.format(body_xml)}
