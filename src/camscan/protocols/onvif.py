"""ONVIF device service replies: GetDeviceInformation, GetSystemDateAndTime and SOAP Faults.

The ``parse_*`` functions read the replies from raw SOAP envelopes, for the live scan
(whose requests onvif-zeep-async builds), a pcap replay and the tests alike. Element names follow the ONVIF device
service WSDL (ver10/device/wsdl) and schema (ver10/schema); elements are matched by
local name, so SOAP 1.1 or 1.2 envelopes parse whatever prefixes a camera uses.

The onvif-no-auth exposure check sends its own few read-only requests (GetCapabilities,
then the media service's GetProfiles and GetStreamUri, meant to need credentials) with
:func:`build_request` and reads the replies with the functions at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from xml.etree.ElementTree import Element

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols import http
from camscan.protocols.xmlsafe import child, soap_envelope

# A device-information or date reply is a few kilobytes even with the long namespace
# lists some firmware declares; this leaves ample room and still bounds the parse.
MAX_REPLY_BYTES = 262144

# GetDeviceInformationResponse element -> observation field (ONVIF Core, GetDeviceInformation).
DEVICE_INFORMATION_FIELDS = {
    "Manufacturer": "onvif.manufacturer",
    "Model": "onvif.model",
    "FirmwareVersion": "onvif.firmware",
    "SerialNumber": "onvif.serial",
    "HardwareId": "onvif.hardware_id",
}

__all__ = [
    "OnvifFault",
    "device_information_observations",
    "parse_device_information",
    "parse_fault",
    "parse_system_date_and_time",
    "system_time_observations",
]


class OnvifFault(ProtocolError):
    """A device answered with a SOAP Fault; ``code`` is its most specific code, e.g. ``ter:NotAuthorized``."""

    def __init__(self, message: str, code: str, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


def _text(element: Element | None) -> str | None:
    if element is None:
        return None
    text = " ".join((element.text or "").split())
    return text or None


def _value(info: Any, key: str) -> Any:
    """``info[key]`` when ``info`` is a mapping (a parsed element's children), else None (a leaf's text)."""
    return info.get(key) if isinstance(info, Mapping) else None


def _clean(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = " ".join(str(value).split())
    return "".join(char for char in text if char.isprintable()) or None


def _observations(fields: list[tuple[str, str | None]], ip: str, port: int | None, at: float) -> list[Observation]:
    return [
        Observation(ip=ip, source="onvif", field=field, value=value, port=port, transport="tcp", observed_at=at)
        for field, value in fields
        if value
    ]


def device_information_observations(
    info: Mapping[str, str | None], ip: str, port: int | None, at: float = 0.0
) -> list[Observation]:
    """Manufacturer, model, firmware, serial number and hardware id of a GetDeviceInformation result.

    ``info`` maps ``Manufacturer``, ``Model``, ``FirmwareVersion``, ``SerialNumber`` and
    ``HardwareId`` to their text; missing or empty values are left out.
    """
    return _observations(
        [(field, _clean(_value(info, key))) for key, field in DEVICE_INFORMATION_FIELDS.items()], ip, port, at
    )


def system_time_observations(
    system_date_and_time: Mapping[str, Any], ip: str, port: int | None, at: float = 0.0
) -> list[Observation]:
    """The device clock (``onvif.utc_time``, ISO 8601) and time zone (``onvif.timezone``).

    ``system_date_and_time`` is shaped like ONVIF's ``tt:SystemDateAndTime``: ``TimeZone``
    holding ``TZ``, ``UTCDateTime`` holding ``Date`` (Year, Month, Day) and ``Time`` (Hour,
    Minute, Second). An impossible date (some unset clocks report month 0) is left out.
    """
    zone = _value(system_date_and_time, "TimeZone")
    fields: list[tuple[str, str | None]] = [("onvif.timezone", _clean(_value(zone, "TZ")) if zone else None)]
    utc = _value(system_date_and_time, "UTCDateTime")
    date, clock = (_value(utc, "Date"), _value(utc, "Time")) if utc is not None else (None, None)
    if date is not None and clock is not None:
        parts = [_value(date, "Year"), _value(date, "Month"), _value(date, "Day"),
                 _value(clock, "Hour"), _value(clock, "Minute"), _value(clock, "Second")]
        try:
            year, month, day, hour, minute, second = (int(str(part).strip()) for part in parts)
            moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
        except (TypeError, ValueError, OverflowError):
            moment = None
        if moment is not None:
            fields.append(("onvif.utc_time", moment.isoformat().replace("+00:00", "Z")))
    return _observations(fields, ip, port, at)


def _body(xml: bytes, what: str) -> Element:
    _root, body = soap_envelope(xml, what, MAX_REPLY_BYTES)
    fault = child(body, "Fault")
    if fault is not None:
        code, reason = _fault_details(fault)
        raise OnvifFault(f"{what}: SOAP Fault {code}{f' ({reason})' if reason else ''}", code, reason)
    return body


def _fault_details(fault: Element) -> tuple[str, str]:
    """The most specific fault code and the reason text, for SOAP 1.2 or SOAP 1.1 faults."""
    code = None
    level = child(fault, "Code")
    while level is not None:  # SOAP 1.2: Code/Value, then Subcode/Value, nested
        code = _text(child(level, "Value")) or code
        level = child(level, "Subcode")
    code = code or _text(child(fault, "faultcode"))
    reason = _text(child(child(fault, "Reason"), "Text")) or _text(child(fault, "faultstring")) or ""
    return code or "unknown fault code", reason


def parse_fault(xml: bytes, ip: str = "device") -> str:
    """The most specific code of a SOAP Fault reply (``ter:NotAuthorized``, ``env:Sender`` ...), for evidence.

    Raises ProtocolError when the reply is not a Fault.
    """
    try:
        _body(xml, f"ONVIF reply from {ip}")
    except OnvifFault as fault:
        return fault.code
    raise ProtocolError(f"ONVIF reply from {ip}: not a SOAP Fault")


def parse_device_information(xml: bytes, ip: str, port: int | None, at: float = 0.0) -> list[Observation]:
    """Observations from a GetDeviceInformationResponse envelope; a Fault raises :class:`OnvifFault`."""
    what = f"ONVIF GetDeviceInformation reply from {ip}:{port}"
    response = child(_body(xml, what), "GetDeviceInformationResponse")
    if response is None:
        raise ProtocolError(f"{what}: SOAP body holds no GetDeviceInformationResponse")
    info = {key: _text(child(response, key)) for key in DEVICE_INFORMATION_FIELDS}
    return device_information_observations(info, ip, port, at)


def _as_tree(element: Element) -> dict[str, Any] | str | None:
    """Nested dicts of child elements, leaves as text."""
    if len(element) == 0:
        return _text(element)
    return {child.tag: _as_tree(child) for child in element}


def parse_system_date_and_time(xml: bytes, ip: str, port: int | None, at: float = 0.0) -> list[Observation]:
    """Observations from a GetSystemDateAndTimeResponse envelope; a Fault raises :class:`OnvifFault`."""
    what = f"ONVIF GetSystemDateAndTime reply from {ip}:{port}"
    response = child(_body(xml, what), "GetSystemDateAndTimeResponse")
    system = child(response, "SystemDateAndTime")
    if system is None:
        raise ProtocolError(f"{what}: SOAP body holds no GetSystemDateAndTimeResponse/SystemDateAndTime")
    tree = _as_tree(system)
    return system_time_observations(tree if isinstance(tree, dict) else {}, ip, port, at)


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


def envelope(body: str) -> bytes:
    """The SOAP 1.2 envelope of one ONVIF operation's body, without credentials."""
    return _ENVELOPE.format(body=body).encode("utf-8")


def build_request(host: str, path: str, body: str) -> bytes:
    """A SOAP 1.2 POST of one ONVIF operation, without credentials."""
    return http.build_post(host, path, envelope(body), "application/soap+xml; charset=utf-8")


def _parse(body: bytes, what: str) -> Element:
    return soap_envelope(body, what, MAX_SOAP_BYTES)[0]


def fault_reason(body: bytes) -> str | None:
    """The reason of a SOAP fault (e.g. ``ter:NotAuthorized``), or None when the reply is no fault."""
    root = _parse(body, "ONVIF reply")
    fault = next(root.iter("Fault"), None)
    if fault is None:
        return None
    texts = [node.text.strip() for node in fault.iter() if node.tag in ("Value", "Text") and node.text]
    return " ".join(texts) or "SOAP fault"


def _first_text(body: bytes, what: str, container: str, leaf: str) -> str | None:
    """The first non-empty ``leaf`` text inside a ``container`` element of a SOAP reply."""
    for element in _parse(body, what).iter(container):
        text = next((node.text.strip() for node in element.iter(leaf) if node.text and node.text.strip()), None)
        if text:
            return text
    return None


def media_xaddr(body: bytes) -> str | None:
    """The media service address from a GetCapabilities response."""
    return _first_text(body, "ONVIF GetCapabilities reply", "Media", "XAddr")


def profile_tokens(body: bytes) -> list[str]:
    """The tokens of the media profiles in a GetProfiles response."""
    root = _parse(body, "ONVIF GetProfiles reply")
    return [node.get("token", "") for node in root.iter("Profiles") if node.get("token")]


def stream_uri(body: bytes) -> str | None:
    """The stream URI from a GetStreamUri response."""
    return _first_text(body, "ONVIF GetStreamUri reply", "MediaUri", "Uri")


def video_source_tokens(body: bytes) -> list[str]:
    """The tokens of the video sources (physical inputs) in a GetVideoSources response
    (ONVIF Media WSDL ver10/media/wsdl: ``<trt:VideoSources token="...">``), in order."""
    root = _parse(body, "ONVIF GetVideoSources reply")
    return list(dict.fromkeys(node.get("token", "") for node in root.iter("VideoSources") if node.get("token")))


# The element holding a profile's tt:VideoSourceConfiguration: Media (media.wsdl, trt:Profiles)
# names it VideoSourceConfiguration, Media2 (media2.wsdl, tr2:Profiles/tr2:Configurations) VideoSource.
_PROFILE_VIDEO_SOURCE = ("VideoSourceConfiguration", "VideoSource")


def profile_source_tokens(body: bytes) -> list[str]:
    """The video sources the media profiles of a Media or Media2 GetProfiles response draw on
    (``Profiles/VideoSourceConfiguration/SourceToken``, or ``Profiles/Configurations/VideoSource/
    SourceToken``), each once, in order."""
    root = _parse(body, "ONVIF GetProfiles reply")
    tokens = []
    for profile in root.iter("Profiles"):
        for configuration in profile.iter():
            if configuration.tag in _PROFILE_VIDEO_SOURCE:
                tokens += [node.text.strip() for node in configuration.iter("SourceToken")
                           if node.text and node.text.strip()]
    return list(dict.fromkeys(tokens))


def refused(status: int, body: bytes) -> bool:
    """Whether an ONVIF reply refuses the request for want of credentials: HTTP 401, or the SOAP
    fault ter:NotAuthorized (ONVIF Core s5.11.2.1), which devices send with 400, 401 or 500."""
    if status == 401:
        return True
    if status not in (400, 500):
        return False
    try:
        return "NotAuthorized" in (fault_reason(body) or "")
    except ProtocolError:
        return False


# ONVIF service namespaces as GetServices names them (ONVIF Core s8.1.2.1; Media2 Service
# Specification s5: "http://www.onvif.org/ver20/media/wsdl").
MEDIA_NAMESPACE = "http://www.onvif.org/ver10/media/wsdl"
MEDIA2_NAMESPACE = "http://www.onvif.org/ver20/media/wsdl"
# media2.wsdl: GetProfiles (tr2:GetProfiles: optional Token, then Type, a list of
# ConfigurationEnumeration values). Without Type a device returns profiles with no configuration
# (Media2 Service Specification s5.2.1 GetProfiles), so the video source configuration is asked for.
MEDIA2_GET_PROFILES = f'<GetProfiles xmlns="{MEDIA2_NAMESPACE}"><Type>VideoSource</Type></GetProfiles>'
# media2.wsdl: GetVideoSourceConfigurations (tr2:GetConfiguration, ConfigurationToken and
# ProfileToken both optional: every configuration of the device; Media2 Specification s5.3.1).
MEDIA2_GET_VIDEO_SOURCE_CONFIGURATIONS = f'<GetVideoSourceConfigurations xmlns="{MEDIA2_NAMESPACE}"/>'


def media2_action(operation: str) -> str:
    """The SOAP action of a Media2 operation (media2.wsdl binding: ``<namespace>/<operation>``)."""
    return f"{MEDIA2_NAMESPACE}/{operation}"


def service_xaddrs(body: bytes) -> dict[str, str]:
    """Each service's address by its namespace, from a GetServicesResponse (devicemgmt.wsdl:
    ``tds:Service`` with ``tds:Namespace`` and ``tds:XAddr``); the first address of a namespace counts."""
    found: dict[str, str] = {}
    for service in _parse(body, "ONVIF GetServices reply").iter("Service"):
        namespace, xaddr = _text(child(service, "Namespace")), _text(child(service, "XAddr"))
        if namespace and xaddr:
            found.setdefault(namespace, xaddr)
    return found


def video_source_configuration_tokens(body: bytes) -> list[str]:
    """The video sources the configurations of a Media2 (or Media) GetVideoSourceConfigurations
    response draw on (``Configurations/SourceToken``, tt:VideoSourceConfiguration), each once, in order."""
    root = _parse(body, "ONVIF GetVideoSourceConfigurations reply")
    tokens = [_text(child(configuration, "SourceToken")) for configuration in root.iter("Configurations")]
    return list(dict.fromkeys(token for token in tokens if token))
