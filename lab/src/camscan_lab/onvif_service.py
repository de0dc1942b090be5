"""The lab's ONVIF device service: SOAP 1.2 answers to the device-management calls a scanner makes.

``GetSystemDateAndTime``, ``GetCapabilities`` and ``GetServices`` answer anyone (ONVIF Core
§5.9.4 puts them in the PRE_AUTH access class); ``GetDeviceInformation`` (READ_SYSTEM)
answers anyone only when the profile says ``auth: none``, otherwise it wants a WS-Security
UsernameToken whose PasswordDigest is Base64(SHA1(nonce + created + password)) (OASIS
UsernameToken Profile 1.0 §3.1, required by ONVIF Core §5.12) for the profile's account.
A refusal is the SOAP fault ONVIF Core §5.11.2.1 defines (env:Sender / ter:NotAuthorized),
sent with HTTP 400 or 401 as the profile says: both occur in the field (the comments of
Haicam/Haicam's ONVIF client record one of each).  Calls are dispatched on the first
element of the SOAP body, or on the ``action`` parameter of the Content-Type when the body
is empty.  Response element names follow ONVIF's devicemgmt.wsdl and onvif.xsd.

A profile with ``media: true`` also serves the Media (ver10) and Media2 (ver20) services at
``/onvif/Media`` and ``/onvif/Media2`` (``media: [media2]`` or ``[media]``: only that one;
the other answers ActionNotSupported and is left out of GetServices, and a device without
Media leaves it out of GetCapabilities too, whose Media capability is the ver10 service's):
GetVideoSources and GetProfiles (media.wsdl), GetProfiles and GetVideoSourceConfigurations
(media2.wsdl) list one video source per channel of ``truth.channels``, with a main and a sub
profile on each; they are READ_MEDIA calls (ONVIF Core §5.9.4), so they want the same
UsernameToken as GetDeviceInformation unless the profile says ``auth: none``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from camscan.protocols import ProtocolError
from camscan.protocols.xmlsafe import parse_untrusted_xml

if TYPE_CHECKING:
    from camscan_lab.profiles import LabHost

MAX_REQUEST_BODY = 65536
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
PASSWORD_DIGEST = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"

_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" '
    'xmlns:ter="http://www.onvif.org/ver10/error">'
    "<env:Body>{body}</env:Body></env:Envelope>\n"
)
_ACTION = re.compile(r'action\s*=\s*"?([^";]+)"?', re.IGNORECASE)
_PUBLIC = frozenset({"GetSystemDateAndTime", "GetCapabilities", "GetServices"})


def _fault(code: str, subcode: str, reason: str) -> str:
    return (
        "<env:Fault><env:Code><env:Value>env:{code}</env:Value>"
        "<env:Subcode><env:Value>ter:{subcode}</env:Value></env:Subcode></env:Code>"
        '<env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason></env:Fault>'
    ).format(code=code, subcode=subcode, reason=escape(reason))


def _reply(status: int, body: str) -> tuple[int, str, bytes]:
    return status, CONTENT_TYPE, _ENVELOPE.format(body=body).encode("utf-8")


def _child(element: Element | None, name: str) -> Element | None:
    return None if element is None else next((c for c in element if c.tag == name), None)


def _text(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def authorized(header: Element | None, username: str, password: str) -> bool:
    """Whether the SOAP header carries a UsernameToken with a correct PasswordDigest for the account."""
    token = _child(_child(header, "Security"), "UsernameToken")
    password_element = _child(token, "Password")
    if token is None or password_element is None or _text(_child(token, "Username")) != username:
        return False
    if password_element.get("Type", PASSWORD_DIGEST) != PASSWORD_DIGEST:
        return False  # PasswordText is not accepted: the lab's devices insist on digests
    try:
        nonce = base64.b64decode(_text(_child(token, "Nonce")), validate=True)
    except (binascii.Error, ValueError):
        return False
    created = _text(_child(token, "Created"))
    expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return bool(nonce and created) and hmac.compare_digest(expected, _text(password_element))


def _date_time(now: float) -> str:
    moment = time.gmtime(now)
    stamp = (
        f"<tt:Time><tt:Hour>{moment.tm_hour}</tt:Hour><tt:Minute>{moment.tm_min}</tt:Minute>"
        f"<tt:Second>{moment.tm_sec}</tt:Second></tt:Time>"
        f"<tt:Date><tt:Year>{moment.tm_year}</tt:Year><tt:Month>{moment.tm_mon}</tt:Month>"
        f"<tt:Day>{moment.tm_mday}</tt:Day></tt:Date>"
    )
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
        "<tt:TimeZone><tt:TZ>GMT0</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime>{stamp}</tt:UTCDateTime><tt:LocalDateTime>{stamp}</tt:LocalDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )


def _device_information(spec: dict[str, Any], host: LabHost) -> str:
    fields = "".join(
        f"<tds:{name}>{escape(host.render(str(spec['device_information'][name])))}</tds:{name}>"
        for name in ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "HardwareId")
    )
    return f"<tds:GetDeviceInformationResponse>{fields}</tds:GetDeviceInformationResponse>"


def _base(spec: dict[str, Any], host: LabHost) -> str:
    port = spec["port"]
    return f"http://{host.ip}" + ("" if port == 80 else f":{port}")


def media_services(spec: dict[str, Any]) -> tuple[str, ...]:
    """The media services a profile offers: ``media: true`` both, a list those, else none."""
    offered = spec.get("media")
    if offered is True:
        return ("media", "media2")
    return tuple(offered or ())


def _capabilities(spec: dict[str, Any], host: LabHost) -> str:
    base = _base(spec, host)
    without_media = bool(spec.get("media")) and "media" not in media_services(spec)
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr>"
        "<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>"
        "<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>"
        "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye>"
        "<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>"
        "<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
        "<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>40</tt:Minor></tt:SupportedVersions></tt:System>"
        "<tt:IO><tt:InputConnectors>0</tt:InputConnectors><tt:RelayOutputs>0</tt:RelayOutputs></tt:IO>"
        "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>"
        "<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig>"
        "<tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken>"
        "<tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security></tt:Device>"
        + ("" if without_media else
           f"<tt:Media><tt:XAddr>{base}/onvif/Media</tt:XAddr><tt:StreamingCapabilities>"
           "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
           "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>")
        + "</tds:Capabilities></tds:GetCapabilitiesResponse>"
    )


def _services(spec: dict[str, Any], host: LabHost) -> str:
    base = _base(spec, host)
    entries = [("http://www.onvif.org/ver10/device/wsdl", "device_service")]
    if not spec.get("media") or "media" in media_services(spec):
        entries.append(("http://www.onvif.org/ver10/media/wsdl", "Media"))
    if "media2" in media_services(spec):
        entries.append(("http://www.onvif.org/ver20/media/wsdl", "Media2"))
    return "<tds:GetServicesResponse>" + "".join(
        f"<tds:Service><tds:Namespace>{namespace}</tds:Namespace><tds:XAddr>{base}/onvif/{path}</tds:XAddr>"
        "<tds:Version><tt:Major>2</tt:Major><tt:Minor>40</tt:Minor></tds:Version></tds:Service>"
        for namespace, path in entries
    ) + "</tds:GetServicesResponse>"


def _resolution(channel: dict[str, Any]) -> tuple[int, int]:
    width, _, height = str(channel.get("resolution") or "1920x1080").partition("x")
    return int(width), int(height)


def _video_source_configuration(channel: dict[str, Any], prefix: str) -> str:
    """A tt:VideoSourceConfiguration (onvif.xsd) binding channel *channel* to its video source."""
    number = channel["number"]
    width, height = _resolution(channel)
    return (f'<{prefix} token="VideoSourceConfig_{number}"><tt:Name>{escape(channel.get("name") or f"Channel{number}")}'
            f"</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_{number}</tt:SourceToken>"
            f'<tt:Bounds x="0" y="0" width="{width}" height="{height}"/></{prefix}>')


def media_reply(service: str, action: str, host: LabHost) -> str | None:
    """The Media (ver10) or Media2 (ver20) answer listing the recorder's channels, one video source
    per channel and a main and a sub profile on each (media.wsdl, media2.wsdl); None if not offered."""
    if service not in media_services(host.discovery["onvif"]):
        return None
    channels = host.truth.get("channels") or []
    streams = (("MainStream", "1"), ("SubStream", "2"))
    if service == "media" and action == "GetVideoSources":
        return "<trt:GetVideoSourcesResponse>" + "".join(
            f'<trt:VideoSources token="VideoSource_{c["number"]}"><tt:Framerate>25</tt:Framerate><tt:Resolution>'
            f"<tt:Width>{_resolution(c)[0]}</tt:Width><tt:Height>{_resolution(c)[1]}</tt:Height></tt:Resolution>"
            "</trt:VideoSources>"
            for c in channels) + "</trt:GetVideoSourcesResponse>"
    if service == "media2" and action == "GetVideoSourceConfigurations":
        # media2.wsdl: tr2:GetVideoSourceConfigurationsResponse, each tr2:Configurations a
        # tt:VideoSourceConfiguration.
        return ("<tr2:GetVideoSourceConfigurationsResponse>"
                + "".join(_video_source_configuration(c, "tr2:Configurations") for c in channels)
                + "</tr2:GetVideoSourceConfigurationsResponse>")
    if action == "GetProfiles" and service in ("media", "media2"):
        # Media: trt:Profiles with tt:Name and tt:VideoSourceConfiguration; Media2: tr2:Profiles
        # with tr2:Name and tr2:Configurations/tr2:VideoSource (both of type tt:VideoSourceConfiguration).
        if service == "media":
            prefix, name, wrap, source = "trt", "tt", "{}", "tt:VideoSourceConfiguration"
        else:
            prefix, name, wrap, source = "tr2", "tr2", "<tr2:Configurations>{}</tr2:Configurations>", "tr2:VideoSource"
        return f"<{prefix}:GetProfilesResponse>" + "".join(
            f'<{prefix}:Profiles token="Profile_{c["number"]}0{index}" fixed="true">'
            f'<{name}:Name>Channel{c["number"]}_{stream}</{name}:Name>'
            f"{wrap.format(_video_source_configuration(c, source))}</{prefix}:Profiles>"
            for c in channels for stream, index in streams) + f"</{prefix}:GetProfilesResponse>"
    return None


def _allowed(root: Element, spec: dict[str, Any], host: LabHost) -> bool:
    """Whether a call beyond PRE_AUTH may be answered: the device is open, or the request is signed."""
    credentials = host.onvif_credentials
    return credentials is None or authorized(_child(root, "Header"), *credentials)


def _refusal(spec: dict[str, Any]) -> tuple[int, str, bytes]:
    return _reply(int(spec["fault_status"]), _fault("Sender", "NotAuthorized", "Sender not Authorized"))


def device_service_reply(body: bytes, content_type: str, spec: dict[str, Any], host: LabHost,
                         now: float | None = None, service: str = "device") -> tuple[int, str, bytes]:
    """(HTTP status, Content-Type, body) answering one SOAP request to the device service, or to
    the Media or Media2 service (*service*) of a profile that offers them (``media: true``)."""
    try:
        root = parse_untrusted_xml(body, f"ONVIF request to {host.ip}", MAX_REQUEST_BODY)
    except ProtocolError:
        return _reply(400, _fault("Sender", "WellFormed", "Well-formed Error"))
    soap_body = _child(root, "Body")
    if root.tag != "Envelope" or soap_body is None:
        return _reply(400, _fault("Sender", "WellFormed", "Well-formed Error"))
    call = next(iter(soap_body), None)
    if call is not None:
        action = call.tag
    else:
        match = _ACTION.search(content_type or "")
        action = match.group(1).rstrip("/").rsplit("/", 1)[-1] if match else ""
    if service != "device":
        answer = media_reply(service, action, host)
        if answer is None:
            return _reply(500, _fault("Receiver", "ActionNotSupported", "Optional Action Not Implemented"))
        return _reply(200, answer) if _allowed(root, spec, host) else _refusal(spec)
    if action == "GetDeviceInformation":
        return _reply(200, _device_information(spec, host)) if _allowed(root, spec, host) else _refusal(spec)
    if action in _PUBLIC:
        build = {"GetSystemDateAndTime": lambda: _date_time(time.time() if now is None else now),
                 "GetCapabilities": lambda: _capabilities(spec, host),
                 "GetServices": lambda: _services(spec, host)}[action]
        return _reply(200, build())
    return _reply(500, _fault("Receiver", "ActionNotSupported", "Optional Action Not Implemented"))
