"""The lab's discovery answers: what an emulated device sends back to a discovery request.

One pure function per protocol turns a request datagram into the replies a real unit of
the profile would send, each with its destination: the requester, or the protocol's
multicast group where real devices answer there.  Anything that is not a well-formed
request of the protocol gets no answer.  :func:`answer` is the single entry point the
runtime calls for every datagram; it never raises.

Reply layouts follow public captures of real devices:

* WS-Discovery ProbeMatches: a Hikvision DS-2CD3955FWD-IWS reply quoted in full in a
  public ``Onvif_Discover.c`` (env/wsadis/d prefixes, AppSequence, EndpointReference
  ending in the MAC, MetadataVersion 10) and a DS-2CD2385G1-I one in Haicam/Haicam;
  an AXIS M2036-LE reply used as parser warm-up in TeleTask's onvif Android library
  (SOAP-ENV/wsa/d, AppSequence with mustUnderstand, ``location/`` left empty); the
  Amcrest IP2M-841B reply printed in "Practical IoT Hacking" (ch. 6, listing 6-4) and a
  Dahua Hello quoted in an Elixir ONVIF project (s/a/d prefixes, ``uuid:`` address,
  MetadataVersion 1); gSOAP-built generic cameras as in lumeohq/onvif-rs issue #48.
  Message layout and matching rules: WS-Discovery 2005/04 §5.3, ONVIF Core §7.3.
* Hikvision SADP ProbeMatch: the DS-2CD2385G1-I reply quoted in Haicam/Haicam.
* Dahua DHIP ``client.notifyDevInfo``: the IPC-HDW1431T1-S4 reply quoted in
  Haicam/Haicam (sorted keys, MAC beside ``method``, header lengths counting "\\n\\0").
* SSDP: Axis replies in the ABUSED project's test data and node-ssdp tests (libupnp
  headers: OPT, 01-NLS, X-User-Agent: redsonic; rootdesc1.xml on a high port) and
  Synology's ``Synology/DSM/<ip>`` replies with ``/ssdp/desc-DSM-eth0.xml``; UPnP Device
  Architecture 1.1 §1.3 and §2.3 for the rest.
* mDNS: RFC 6762/6763 records built and parsed with python-zeroconf; Axis instance names
  ``<model> - <MAC>`` with TXT ``macaddress`` as Home Assistant's axis/doorbird
  integrations match them.
* Ubiquiti discovery: the v1 reply of nmap's ubiquiti-discovery.nse and Wireshark's
  packet-ubdp.c (version 1, command 0, big-endian length, type/length/value fields: 0x02
  MAC+IPv4, 0x01 MAC, 0x0a uptime, 0x0b hostname, 0x0c product, 0x03 firmware, 0x15 model,
  0x16 version), answering only the four bytes ``01 00 00 00``.
* XMEye search: the ``BBHIIHHI`` little-endian header of OpenIPC/python-dvr with message
  1531 and the ``NetWork.NetCommon`` object of a factory-reset camera's reply quoted in a
  public Go "sofia" package (HostIP as little-endian hex). Real units broadcast the reply;
  the lab sends it to the asker.
* Bosch discovery: the 12-byte scan request (magic 0x9939a427, transaction id, 0xff0006de)
  answered with the XML ``<device>`` record of UniversalScanner's Bosch.xml.selftest, sent
  to UDP 1758 of the asker, where UniversalScanner listens for it.
* SNMP: an SNMPv2c agent answering GetRequests for the SNMPv2-MIB system group (RFC 3418)
  whose community it knows, built and read with scapy's SNMP layer; a wrong community gets
  no answer, as RFC 3584 §4.6 has agents discard it. SNMPv3 users (``users``) are served
  by an agent of the User-based Security Model (RFC 3414) built on pysnmp's message types,
  key localisation, HMAC and ciphers: an implementation apart from camscan's own. It answers
  engine discovery and the user's errors with the Reports of RFC 3414 §3.2 (unknown engine
  ID, unknown user name, unsupported security level, wrong digest).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import struct
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from zeroconf import DNSIncoming, DNSOutgoing, DNSPointer, ServiceInfo
from zeroconf.const import _CLASS_IN, _FLAGS_AA, _FLAGS_QR_RESPONSE, _TYPE_A, _TYPE_ANY, _TYPE_PTR, _TYPE_SRV, _TYPE_TXT

from camscan.protocols import ProtocolError
from camscan.protocols.xmlsafe import parse_untrusted_xml

if TYPE_CHECKING:
    from camscan_lab.profiles import LabHost

Destination = tuple[str, int]
Reply = tuple[bytes, Destination]

# Requests are a few hundred bytes; anything this big is junk and gets no answer.
MAX_REQUEST = 16384
# Requesters the lab may ever answer: its namespace block and loopback (the loopback tier).
LAB_SOURCES = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("127.0.0.0/8"))

_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_DISCOVERY = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
_ANONYMOUS = _ADDRESSING + "/role/anonymous"
_PROBE_MATCHES = _DISCOVERY + "/ProbeMatches"
# ONVIF Core §7.3.1: a device is tds:Device and, for video, the legacy dn:NetworkVideoTransmitter.
_OUR_TYPES = {
    ("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter"),
    ("http://www.onvif.org/ver10/device/wsdl", "Device"),
}
_MESSAGE_ID = re.compile(r"^[\w:.{}-]{1,128}$")
_SADP_UUID = re.compile(r"^[0-9A-Fa-f-]{1,64}$")
_DHIP_HEADER = struct.Struct("<8sIIQQ")
_DHIP_MAGIC = b"\x20\x00\x00\x00DHIP"
_UPNP_FIELDS = ("deviceType", "friendlyName", "manufacturer", "manufacturerURL", "modelDescription", "modelName",
                "modelNumber", "modelURL", "serialNumber")


@dataclass(frozen=True)
class Site:
    """What a device knows about the network it sits on (for the replies that report it)."""

    netmask: str = "255.255.252.0"
    gateway: str = "0.0.0.0"  # lab hosts have no default route, and say so


def answer(protocol: str, data: bytes, source: Destination, host: LabHost, site: Site, *,
           multicast: bool = True, sequence: int = 1) -> list[Reply]:
    """The replies *host* sends for datagram *data* from *source*; [] for anything unanswerable.

    With ``multicast=False`` (the loopback tier) replies a real unit would multicast go to
    the requester instead.  Every destination is the requester, the protocol's group, or the
    requester's address at the protocol's fixed reply port.
    """
    if not isinstance(data, bytes) or not data or len(data) > MAX_REQUEST or protocol not in host.discovery:
        return []
    ip, port = source
    try:
        requester = ipaddress.ip_address(ip)
    except ValueError:
        return []
    if port <= 0 or ip == host.ip or not any(requester in net for net in LAB_SOURCES):
        return []
    try:
        replies = RESPONDERS[protocol].build(data, source, host, site, sequence)
    except (ProtocolError, ValueError, UnicodeError, RecursionError, ElementTree.ParseError):
        return []  # not a request of this protocol
    group = (ENDPOINTS[protocol][1], ENDPOINTS[protocol][0]) if ENDPOINTS[protocol][1] else None
    allowed: list[Reply] = []
    for payload, destination in replies:
        if destination == group and not multicast:
            destination = source
        if destination in (source, group) or destination == (ip, REPLY_PORTS.get(protocol)):
            allowed.append((payload, destination))
    return allowed


# --------------------------------------------------------------------------- WS-Discovery


def _namespaces(data: bytes) -> dict[str, str]:
    """Every prefix declared anywhere in *data* (already vetted by parse_untrusted_xml)."""
    declared: dict[str, str] = {}
    parser = ElementTree.XMLPullParser(events=("start-ns",))
    parser.feed(data)
    parser.close()
    for _event, (prefix, uri) in parser.read_events():
        declared.setdefault(prefix, uri)
    return declared


def _child(element: ElementTree.Element | None, name: str) -> ElementTree.Element | None:
    return None if element is None else next((c for c in element if c.tag == name), None)


def _wsd_probe(data: bytes) -> tuple[str, list[str], list[str], dict[str, str]]:
    """(MessageID, requested types, requested scopes, namespaces) of a Probe; ProtocolError otherwise."""
    root = parse_untrusted_xml(data, "WS-Discovery probe", MAX_REQUEST)
    body, header = _child(root, "Body"), _child(root, "Header")
    probe = _child(body, "Probe")
    if root.tag != "Envelope" or probe is None:
        raise ProtocolError("not a WS-Discovery Probe")
    message_id = " ".join((getattr(_child(header, "MessageID"), "text", None) or "").split())
    if not _MESSAGE_ID.match(message_id):
        raise ProtocolError("Probe without a usable MessageID")
    types = (getattr(_child(probe, "Types"), "text", None) or "").split()
    scopes = (getattr(_child(probe, "Scopes"), "text", None) or "").split()
    return message_id, types, scopes, _namespaces(data)


def _types_match(requested: list[str], namespaces: dict[str, str]) -> bool:
    for qname in requested:
        prefix, _, local = qname.rpartition(":")
        uri = namespaces.get(prefix)
        if uri is None:  # an unbound prefix: cameras are lenient and go by the local name
            if local not in {name for _, name in _OUR_TYPES}:
                return False
        elif (uri, local) not in _OUR_TYPES:
            return False
    return True


def _scopes_match(requested: list[str], ours: list[str]) -> bool:
    """RFC 3986 prefix matching (WS-Discovery's default MatchBy): every requested scope
    must be ours or a segment-wise prefix of one of ours."""
    for want in requested:
        want = want.rstrip("/").lower()
        if not any(have.lower() == want or have.lower().startswith(want + "/") for have in ours):
            return False
    return True


def _wsd(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    spec = host.discovery["wsd"]
    message_id, types, scopes, namespaces = _wsd_probe(data)
    our_scopes = [host.render(scope) for scope in spec.get("scopes") or ()]
    if not _types_match(types, namespaces) or not _scopes_match(scopes, our_scopes):
        return []
    relates_to = escape(message_id)
    if "raw" in spec:
        return [(host.render(str(spec["raw"])).replace("${relates_to}", relates_to).encode("utf-8"), source)]
    xaddrs = spec.get("xaddrs") or ["http://${ip}" + _onvif_port_suffix(host) + "/onvif/device_service"]
    fields = {
        "relates_to": relates_to,
        "message_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{host.endpoint_uuid}/{message_id}")),
        "endpoint": host.endpoint_uuid,
        "types": escape(str(spec.get("types") or "dn:NetworkVideoTransmitter tds:Device")),
        "scopes": escape(" ".join(our_scopes)),
        "xaddrs": escape(" ".join(host.render(x) for x in xaddrs)),
        "metadata": int(spec.get("metadata_version", 1)),
        "instance": int(host.endpoint_uuid[:8], 16) % 2_000_000_000,
        "sequence": sequence,
    }
    return [(_WSD_FLAVORS[spec["flavor"]](fields).encode("utf-8"), source)]


def _onvif_port_suffix(host: LabHost) -> str:
    port = (host.discovery.get("onvif") or {}).get("port", 80)
    return "" if port == 80 else f":{port}"


def _wsd_hikvision(f: dict[str, Any]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<env:Envelope xmlns:env="{_SOAP12}" xmlns:soapenc="http://www.w3.org/2003/05/soap-encoding" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
        'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:ter="http://www.onvif.org/ver10/error" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
        f'xmlns:d="{_DISCOVERY}" xmlns:wsadis="{_ADDRESSING}" xmlns:wsa="http://www.w3.org/2005/08/addressing" '
        'xmlns:hikwsd="http://www.onvifext.com/onvif/ext/ver10/wsdl" '
        'xmlns:hikxsd="http://www.onvifext.com/onvif/ext/ver10/schema">'
        "<env:Header>"
        f"<wsadis:MessageID>urn:uuid:{f['endpoint']}</wsadis:MessageID>"
        f"<wsadis:RelatesTo>{f['relates_to']}</wsadis:RelatesTo>"
        f"<wsadis:To>{_ANONYMOUS}</wsadis:To>"
        f"<wsadis:Action>{_PROBE_MATCHES}</wsadis:Action>"
        f'<d:AppSequence InstanceId="{f["instance"]}" MessageNumber="{f["sequence"]}"/>'
        "</env:Header>"
        "<env:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<wsadis:EndpointReference><wsadis:Address>urn:uuid:{f['endpoint']}</wsadis:Address></wsadis:EndpointReference>"
        f"<d:Types>{f['types']}</d:Types>"
        f"<d:Scopes>{f['scopes']}</d:Scopes>"
        f"<d:XAddrs>{f['xaddrs']}</d:XAddrs>"
        f"<d:MetadataVersion>{f['metadata']}</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>\n"
    )


def _wsd_axis(f: dict[str, Any]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{_SOAP12}" xmlns:SOAP-ENC="http://www.w3.org/2003/05/soap-encoding" '
        f'xmlns:wsa="{_ADDRESSING}" xmlns:d="{_DISCOVERY}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl">\n'
        "<SOAP-ENV:Header>\n"
        f"<wsa:MessageID>uuid:{f['message_id']}</wsa:MessageID>\n"
        f"<wsa:RelatesTo>{f['relates_to']}</wsa:RelatesTo>\n"
        f'<wsa:To SOAP-ENV:mustUnderstand="true">{_ANONYMOUS}</wsa:To>\n'
        f'<wsa:Action SOAP-ENV:mustUnderstand="true">{_PROBE_MATCHES}</wsa:Action>\n'
        f'<d:AppSequence SOAP-ENV:mustUnderstand="true" MessageNumber="{f["sequence"]}" '
        f'InstanceId="{f["instance"]}"></d:AppSequence>\n'
        "</SOAP-ENV:Header>\n"
        "<SOAP-ENV:Body>\n<d:ProbeMatches>\n<d:ProbeMatch>\n"
        f"<wsa:EndpointReference>\n<wsa:Address>urn:uuid:{f['endpoint']}</wsa:Address>\n</wsa:EndpointReference>\n"
        f"<d:Types>{f['types']}</d:Types>\n"
        f"<d:Scopes>{f['scopes']}\n</d:Scopes>\n"
        f"<d:XAddrs>{f['xaddrs']}\n</d:XAddrs>\n"
        f"<d:MetadataVersion>{f['metadata']}</d:MetadataVersion>\n"
        "</d:ProbeMatch>\n</d:ProbeMatches>\n</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n"
    )


def _wsd_dahua(f: dict[str, Any]) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8" standalone="yes" ?>'
        f'<s:Envelope xmlns:sc="http://www.w3.org/2003/05/soap-encoding" xmlns:s="{_SOAP12}" '
        f'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
        f'xmlns:d="{_DISCOVERY}" xmlns:a="{_ADDRESSING}">'
        f"<s:Header><a:MessageID>urn:uuid:{f['message_id']}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        f"<a:Action>{_PROBE_MATCHES}</a:Action>"
        f"<a:RelatesTo>{f['relates_to']}</a:RelatesTo></s:Header>"
        "<s:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<a:EndpointReference><a:Address>uuid:{f['endpoint']}</a:Address></a:EndpointReference>"
        f"<d:Types>{f['types']}</d:Types>"
        f"<d:Scopes>{f['scopes']}</d:Scopes>"
        f"<d:XAddrs>{f['xaddrs']}</d:XAddrs>"
        f"<d:MetadataVersion>{f['metadata']}</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
    )


def _wsd_gsoap(f: dict[str, Any]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{_SOAP12}" xmlns:SOAP-ENC="http://www.w3.org/2003/05/soap-encoding" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:wsa="{_ADDRESSING}" xmlns:wsdd="{_DISCOVERY}" xmlns:tt="http://www.onvif.org/ver10/schema" '
        'xmlns:tdn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        "<SOAP-ENV:Header>"
        f"<wsa:MessageID>uuid:{f['message_id']}</wsa:MessageID>"
        f"<wsa:RelatesTo>{f['relates_to']}</wsa:RelatesTo>"
        f"<wsa:To>{_ANONYMOUS}</wsa:To>"
        f"<wsa:Action>{_PROBE_MATCHES}</wsa:Action>"
        "</SOAP-ENV:Header>"
        "<SOAP-ENV:Body><wsdd:ProbeMatches><wsdd:ProbeMatch>"
        f"<wsa:EndpointReference><wsa:Address>urn:uuid:{f['endpoint']}</wsa:Address></wsa:EndpointReference>"
        f"<wsdd:Types>{f['types']}</wsdd:Types>"
        f"<wsdd:Scopes>{f['scopes']}</wsdd:Scopes>"
        f"<wsdd:XAddrs>{f['xaddrs']}</wsdd:XAddrs>"
        f"<wsdd:MetadataVersion>{f['metadata']}</wsdd:MetadataVersion>"
        "</wsdd:ProbeMatch></wsdd:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )


_WSD_FLAVORS = {"hikvision": _wsd_hikvision, "axis": _wsd_axis, "dahua": _wsd_dahua, "gsoap": _wsd_gsoap}


# --------------------------------------------------------------------------- Hikvision SADP


def _flag(value: Any, default: bool) -> str:
    return "true" if (default if value is None else bool(value)) else "false"


def _sadp(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    spec = host.discovery["sadp"]
    root = parse_untrusted_xml(data.rstrip(b"\x00 \t\r\n"), "SADP inquiry", MAX_REQUEST)
    fields = {child.tag.lower(): (child.text or "").strip() for child in root}
    if root.tag.lower() != "probe" or fields.get("types", "").lower() != "inquiry":
        return []
    request_uuid = fields.get("uuid", "")
    if not _SADP_UUID.match(request_uuid):
        return []
    model = host.render(str(spec.get("description", "${model}")))
    elements = [
        ("Uuid", request_uuid),
        ("Types", "inquiry"),
        ("DeviceType", str(spec.get("device_type", "141945"))),
        ("DeviceDescription", model),
        ("DeviceSN", host.render(str(spec.get("serial", "${model}20210917AAWR${serial9}")))),
        ("CommandPort", str(spec.get("command_port", 8000))),
        ("HttpPort", str(spec.get("http_port", 80))),
        ("MAC", host.context()["mac_dash"]),
        ("IPv4Address", host.ip),
        ("IPv4SubnetMask", site.netmask),
        ("IPv4Gateway", site.gateway),
        ("IPv6Address", "::"),
        ("IPv6Gateway", "::"),
        ("IPv6MaskLen", "64"),
        ("DHCP", _flag(spec.get("dhcp"), False)),
        ("AnalogChannelNum", str(spec.get("analog_channels", 0))),
        ("DigitalChannelNum", str(spec.get("digital_channels", 1))),
        ("SoftwareVersion", host.render(str(spec.get("software_version", "${firmware}")))),
        ("DSPVersion", str(spec.get("dsp_version", "V7.3 build 210917"))),
        ("BootTime", str(spec.get("boot_time", "2024-03-02 08:15:27"))),
        ("Encrypt", "true"),
        ("ResetAbility", "false"),
        ("DiskNumber", "0"),
        ("Activated", _flag(spec.get("activated"), True)),
        ("PasswordResetAbility", "true"),
        ("PasswordResetModeSecond", "true"),
        ("SupportSecurityQuestion", "true"),
        ("SupportHCPlatform", "true"),
        ("HCPlatformEnable", "false"),
        ("IsModifyVerificationCode", "true"),
        ("Salt", uuid.uuid5(uuid.NAMESPACE_OID, host.serial).hex * 2),
        ("DeviceLock", "false"),
        ("SDKOverTLSPort", "8443"),
        ("SDKServerStatus", "true"),
        ("SDKOverTLSServerStatus", "true"),
        ("SupportMailBox", "true"),
    ]
    body = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in elements)
    payload = f'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch>{body}</ProbeMatch>'.encode("utf-8")
    port, group = ENDPOINTS["sadp"]
    return [(payload, (group, port) if spec["reply"] == "multicast" else source)]


# --------------------------------------------------------------------------- Dahua DHIP


def _dhip(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    spec = host.discovery["dhip"]
    if len(data) < _DHIP_HEADER.size:
        return []
    magic, _session, request_id, length, total = _DHIP_HEADER.unpack_from(data)
    body = data[_DHIP_HEADER.size : _DHIP_HEADER.size + length]
    if magic != _DHIP_MAGIC or length != total or len(body) != length:
        return []
    request = json.loads(body.rstrip(b"\x00 \t\r\n").decode("utf-8"))
    if not isinstance(request, dict) or request.get("method") != "DHDiscover.search":
        return []
    info = {
        "AlarmInputChannels": 0,
        "AlarmOutputChannels": 0,
        "DeviceClass": str(spec.get("device_class", "IPC")),
        "DeviceID": "",
        "DeviceType": host.render(str(spec.get("device_type", "${model}"))),
        "Find": "BC",
        "FindVersion": 1,
        "HttpPort": int(spec.get("http_port", 80)),
        "IPv4Address": {"DefaultGateway": site.gateway, "DhcpEnable": False, "IPAddress": host.ip,
                        "SubnetMask": site.netmask},
        "IPv6Address": {"DefaultGateway": None, "DhcpEnable": False, "IPAddress": "/0",
                        "LinkLocalAddress": _link_local(host.mac)},
        "Init": 2714,
        "MachineName": host.render(str(spec.get("machine_name", "${serial}"))),
        "Manufacturer": str(spec.get("manufacturer", "Private")),
        "Port": int(spec.get("port", 37777)),
        "RemoteVideoInputChannels": 0,
        "SerialNo": host.render(str(spec.get("serial", "${serial}"))),
        "UnLoginFuncMask": 1,
        "Vendor": str(spec.get("vendor", "Private")),
        "Version": host.render(str(spec.get("version", "${firmware}"))),
        "VideoInputChannels": int(spec.get("video_inputs", 1)),
        "VideoOutputChannels": 0,
    }
    message = {"mac": host.mac.lower(), "method": "client.notifyDevInfo", "params": {"deviceInfo": info}}
    payload = json.dumps(message, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n\x00"
    reply = _DHIP_HEADER.pack(_DHIP_MAGIC, 0, request_id, len(payload), len(payload)) + payload
    port, group = ENDPOINTS["dhip"]
    return [(reply, (group, port) if spec["reply"] == "multicast" else source)]


def _link_local(mac: str) -> str:
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    groups = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups) + "/64"


# --------------------------------------------------------------------------- SSDP / UPnP


def upnp_description_template(spec: dict[str, Any]) -> str:
    """The UPnP device description (UDA 1.1 §2.3) a profile's LOCATION serves, with ``${...}`` placeholders."""
    description = {"deviceType": "urn:schemas-upnp-org:device:Basic:1", **spec["description"]}
    lines = [f"<{key}>{escape(str(description[key]))}</{key}>" for key in _UPNP_FIELDS if description.get(key)]
    lines.append(f"<UDN>uuid:{escape(str(spec.get('usn_uuid', '${uuid}')))}</UDN>")
    if description.get("presentationURL"):
        lines.append(f"<presentationURL>{escape(str(description['presentationURL']))}</presentationURL>")
    return (
        '<?xml version="1.0"?>\n<root xmlns="urn:schemas-upnp-org:device-1-0">\n'
        "<specVersion>\n<major>1</major>\n<minor>0</minor>\n</specVersion>\n"
        "<device>\n" + "\n".join(lines) + "\n</device>\n</root>\n"
    )


def _msearch_target(data: bytes) -> str | None:
    """The ST of a well-formed M-SEARCH (UDA 1.1 §1.3.2), or None."""
    text = data.decode("latin-1")
    head = text.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")
    if head[0].strip() != "M-SEARCH * HTTP/1.1":
        return None
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    if "ssdp:discover" not in headers.get("man", "").lower():
        return None
    return headers.get("st") or None


def _ssdp(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    spec = host.discovery["ssdp"]
    target = _msearch_target(data)
    if target is None:
        return []
    usn_uuid = host.render(str(spec.get("usn_uuid", "${uuid}")))
    device_type = spec["description"].get("deviceType", "urn:schemas-upnp-org:device:Basic:1")
    own = {"upnp:rootdevice", spec["st"], device_type, f"uuid:{usn_uuid}"}
    st = spec["st"] if target == "ssdp:all" else target if target in own else None
    if st is None:
        return []
    if "location_url" in spec:
        location = host.render(str(spec["location_url"]))
    else:
        location = f"http://{host.ip}:{spec['location']['port']}{spec['location']['path']}"
    lines = [
        "HTTP/1.1 200 OK",
        f"CACHE-CONTROL: {spec.get('cache_control', 'max-age=1800')}",
        f"DATE: {host.render('${date}')}",
        "EXT:",
        f"LOCATION: {location}",
        *(f"{name}: {host.render(str(value))}" for name, value in (spec.get("headers") or {}).items()),
        f"SERVER: {host.render(spec['server'])}",
        f"ST: {st}",
        f"USN: uuid:{usn_uuid}" + ("" if st.startswith("uuid:") else f"::{st}"),
    ]
    return [(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace"), source)]


# --------------------------------------------------------------------------- mDNS


def _mdns_services(host: LabHost, ttl: int | None) -> list[tuple[ServiceInfo, str]]:
    spec = host.discovery["mdns"]
    hostname = host.render(spec["hostname"]) + ".local."
    found = []
    for entry in spec["services"]:
        type_ = entry["type"] + ".local."
        info = ServiceInfo(
            type_,
            f"{host.render(entry['name'])}.{type_}",
            port=int(entry["port"]),
            properties={str(k): host.render(str(v)) for k, v in (entry.get("txt") or {}).items()},
            server=hostname,
            addresses=[socket.inet_aton(host.ip)],
            host_ttl=ttl or 120,
            other_ttl=ttl or 4500,
        )
        found.append((info, type_))
    return found


def _mdns(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    incoming = DNSIncoming(data)
    if not incoming.valid or not incoming.is_query() or not incoming.questions:
        return []
    legacy = source[1] != ENDPOINTS["mdns"][0]  # RFC 6762 §6.7: a one-shot resolver, answered directly
    services = _mdns_services(host, 10 if legacy else None)
    answers: list = []
    additionals: list = []
    for question in incoming.questions:
        name, qtype = question.name.lower(), question.type
        wants = lambda *types: qtype == _TYPE_ANY or qtype in types  # noqa: E731
        for info, type_ in services:
            if name == "_services._dns-sd._udp.local." and wants(_TYPE_PTR):
                answers.append(DNSPointer(name, _TYPE_PTR, _CLASS_IN, 10 if legacy else 4500, type_))
            elif name == type_.lower() and wants(_TYPE_PTR):
                answers.append(info.dns_pointer())
                additionals += [info.dns_service(), info.dns_text(), *info.dns_addresses()]
            elif name == info.name.lower() and wants(_TYPE_SRV, _TYPE_TXT):
                answers += [r for r in (info.dns_service(), info.dns_text()) if wants(r.type)]
                additionals += info.dns_addresses()
            elif name == str(info.server).lower() and wants(_TYPE_A):
                answers += info.dns_addresses()
    if not answers:
        return []
    unicast = legacy or any(question.unicast for question in incoming.questions)
    out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA, not legacy, incoming.id if legacy else 0)
    if legacy:
        for question in incoming.questions:
            out.add_question(question)
    for record in _unique(answers):
        out.add_answer_at_time(record, 0)
    for record in _unique(r for r in additionals if r not in answers):
        out.add_additional_answer(record)
    port, group = ENDPOINTS["mdns"]
    destination = source if unicast else (group, port)
    return [(packet, destination) for packet in out.packets()]


def _unique(records: Iterable) -> list:
    seen: list = []
    for record in records:
        if record not in seen:
            seen.append(record)
    return seen


# --------------------------------------------------------------------------- Ubiquiti discovery


def _ubnt(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    if data != b"\x01\x00\x00\x00":
        return []
    spec = host.discovery["ubnt"]
    mac = bytes.fromhex(host.mac.replace(":", ""))
    fields = [(0x02, mac + ipaddress.IPv4Address(host.ip).packed), (0x01, mac), (0x0A, struct.pack("!I", 86400))]
    for kind, key in ((0x0B, "hostname"), (0x0C, "product"), (0x03, "firmware"), (0x15, "model"), (0x16, "version")):
        if key in spec:
            fields.append((kind, host.render(str(spec[key])).encode("utf-8")))
    payload = b"".join(struct.pack("!BH", kind, len(value)) + value for kind, value in fields)
    return [(struct.pack("!BBH", 1, 0, len(payload)) + payload, source)]


# --------------------------------------------------------------------------- XMEye search

_XM_HEADER = struct.Struct("<BBHIIHHI")


def _xmeye(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    if len(data) < _XM_HEADER.size:
        return []
    head, _version, _reserved, _session, _sequence, _packets, message, _length = _XM_HEADER.unpack_from(data)
    if head != 0xFF or message != 1530:
        return []
    spec = host.discovery["xmeye"]
    little_endian_hex = lambda address: "0x" + ipaddress.IPv4Address(address).packed[::-1].hex()  # noqa: E731
    common = {
        "DeviceType": int(spec.get("device_type", 1)),
        "GateWay": little_endian_hex(site.gateway),
        "HostIP": little_endian_hex(host.ip),
        "HostName": host.render(str(spec.get("hostname", "LocalHost"))),
        "HttpPort": 80,
        "MAC": host.mac.lower(),
        "MaxBps": 0,
        "MonMode": "TCP",
        "SN": host.render(str(spec.get("serial", "${serial}"))).lower(),
        "SSLPort": 8443,
        "Submask": little_endian_hex(site.netmask),
        "TCPMaxConn": 10,
        "TCPPort": 34567,
        "TransferPlan": "Quality",
        "UDPPort": 34568,
        "UseHSDownLoad": False,
        "Version": host.render(str(spec.get("version", "${firmware}"))),
    }
    body = json.dumps({"Name": "NetWork.NetCommon", "NetWork.NetCommon": common, "Ret": 100,
                       "SessionID": "0x00000000"}, indent="\t").encode("utf-8") + b"\n\x00"
    return [(_XM_HEADER.pack(0xFF, 1, 0, 0, 0, 0, 1531, len(body)) + body, source)]


# --------------------------------------------------------------------------- SNMP

_SYSTEM_GROUP = {
    "1.3.6.1.2.1.1.1.0": "sys_descr", "1.3.6.1.2.1.1.2.0": "sys_object_id", "1.3.6.1.2.1.1.5.0": "sys_name",
}


def _snmp(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    from scapy.asn1.asn1 import ASN1_OID, ASN1_STRING
    from scapy.layers.snmp import SNMP, SNMPget, SNMPresponse, SNMPvarbind

    if host.discovery["snmp"].get("users"):
        answer = _snmp_v3(data, host)
        if answer is not None:
            return [(answer, source)] if answer else []
    try:
        request = SNMP(data)
        version, community = request.version.val, request.community.val
        pdu = request.PDU
        asked = [binding.oid.val for binding in pdu.varbindlist] if isinstance(pdu, SNMPget) else []
    except Exception:  # scapy's BER decoder raises many kinds on junk: junk gets no answer
        return []
    spec = host.discovery["snmp"]
    if version != 1 or not asked or community.decode("utf-8", "replace") not in spec["communities"]:
        return []
    bindings = []
    for oid in asked:
        key = _SYSTEM_GROUP.get(oid.lstrip("."))
        if key and isinstance(spec.get(key), str):
            text = host.render(spec[key])
            value = ASN1_OID(text) if key == "sys_object_id" else ASN1_STRING(text.encode("utf-8"))
            bindings.append(SNMPvarbind(oid=ASN1_OID(oid), value=value))
    if not bindings:
        return []
    reply = SNMP(version=1, community=community, PDU=SNMPresponse(id=pdu.id.val, varbindlist=bindings))
    return [(bytes(reply), source)]


_LAB_EPOCH = time.monotonic()  # the lab agents' snmpEngineTime counts from here
_USM_STATS = "1.3.6.1.6.3.15.1.1.{}.0"  # RFC 3414 §5 usmStats counters
_UNSUPPORTED_LEVEL, _UNKNOWN_USER, _UNKNOWN_ENGINE, _WRONG_DIGEST = 1, 3, 4, 5


def snmp_engine_id(host: LabHost) -> bytes:
    """A lab agent's snmpEngineID (RFC 3411 §5: enterprise 8072 with the high bit set, format 4, text)."""
    return bytes.fromhex("80001f8804") + f"lab-{host.ip}".encode()


def _usm_services(user: dict[str, Any]):
    """pysnmp's authentication and privacy services for a profile's user, and its localised keys."""
    from pysnmp.proto.secmod.rfc3414.auth import hmacmd5, hmacsha
    from pysnmp.proto.secmod.rfc3414.priv import des
    from pysnmp.proto.secmod.rfc3826.priv import aes
    from pysnmp.proto.secmod.rfc7860.auth import hmacsha2

    protocol = user.get("auth_protocol")
    if protocol == "md5":
        auth, oid = hmacmd5.HmacMd5(), hmacmd5.HmacMd5.SERVICE_ID
    elif protocol == "sha":
        auth, oid = hmacsha.HmacSha(), hmacsha.HmacSha.SERVICE_ID
    else:
        oid = next(oid for oid, hashing in hmacsha2.HmacSha2.HASH_ALGORITHM.items() if hashing().name == protocol)
        auth = hmacsha2.HmacSha2(oid)
    priv = {"aes": aes.Aes(), "des": des.Des(), None: None}[user.get("priv_protocol")]
    return auth, oid, priv


def _snmp_v3(data: bytes, host: LabHost) -> bytes | None:
    """An SNMPv3 agent's answer to ``data`` (None: not an SNMPv3 message; b"": nothing to say)."""
    from pyasn1.codec.ber import decoder, encoder
    from pyasn1.type import univ
    from pysnmp.proto import rfc1902, rfc1905
    from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message, ScopedPDU
    from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

    try:
        message, _ = decoder.decode(data, asn1Spec=SNMPv3Message())
        if int(message["msgVersion"]) != 3:
            return None
        security, _ = decoder.decode(bytes(message["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())
    except Exception:  # not an SNMPv3 message: the v2c agent reads it
        return None
    spec = host.discovery["snmp"]
    engine_id, boots, now = snmp_engine_id(host), 1, int(time.monotonic() - _LAB_EPOCH)
    flags = bytes(message["msgGlobalData"]["msgFlags"])[0]
    name = bytes(security["msgUserName"])
    user = next((item for item in spec["users"] if item["name"].encode() == name), None)
    scoped_data = message["msgData"]
    request_id = 0
    if scoped_data.getName() == "plaintext":
        request = scoped_data["plaintext"]["data"]
        request_id = int(request[request.getName()]["request-id"])

    def reply(kind: str, pdu, out_flags: int, keys=None) -> bytes:
        scoped = ScopedPDU()
        scoped["contextEngineId"] = engine_id
        scoped["contextName"] = b""
        scoped["data"][kind] = pdu
        answer = SNMPv3Message()
        answer["msgVersion"] = 3
        header = answer["msgGlobalData"]
        header["msgID"] = int(message["msgGlobalData"]["msgID"])
        header["msgMaxSize"] = 65507
        header["msgFlags"] = bytes([out_flags])
        header["msgSecurityModel"] = 3
        params = UsmSecurityParameters()
        params["msgAuthoritativeEngineId"] = engine_id
        params["msgAuthoritativeEngineBoots"] = boots
        params["msgAuthoritativeEngineTime"] = now
        params["msgUserName"] = name if out_flags else b""
        params["msgPrivacyParameters"] = b""
        params["msgAuthenticationParameters"] = b""
        if keys:
            auth, priv, auth_key, priv_key = keys
            params["msgAuthenticationParameters"] = b"\0" * auth.digest_length
        if keys and priv:
            encrypted, salt = priv.encrypt_data(priv_key, (boots, now, None), encoder.encode(scoped))
            params["msgPrivacyParameters"] = salt
            answer["msgData"]["encryptedPDU"] = encrypted
        else:
            answer["msgData"]["plaintext"] = scoped
        answer["msgSecurityParameters"] = encoder.encode(params)
        whole = encoder.encode(answer)
        return auth.authenticate_outgoing_message(auth_key, whole) if keys else whole

    def report(counter: int) -> bytes:
        bindings = rfc1905.VarBindList()
        bindings[0] = rfc1905.VarBind()
        bindings[0]["name"] = rfc1902.ObjectName(_USM_STATS.format(counter))
        bindings[0][""]["value"]["application-wide"]["counter-value"] = rfc1902.Counter32(1)
        pdu = rfc1905.ReportPDU()
        pdu["request-id"], pdu["error-status"], pdu["error-index"] = request_id, 0, 0
        pdu["variable-bindings"] = bindings
        return reply("report", pdu, 0)

    if bytes(security["msgAuthoritativeEngineId"]) != engine_id:
        return report(_UNKNOWN_ENGINE)
    if user is None:
        return report(_UNKNOWN_USER)
    level = (0x03 if user.get("priv_protocol") else 0x01) if user.get("auth_protocol") else 0x00
    if flags & 0x03 != level:
        return report(_UNSUPPORTED_LEVEL)
    keys = None
    if level:
        auth, oid, priv = _usm_services(user)
        engine = univ.OctetString(engine_id)
        auth_key = auth.localize_key(auth.hash_passphrase(user["auth_password"]), engine)
        priv_key = priv.localize_key(oid, priv.hash_passphrase(oid, user["priv_password"]), engine) if priv else None
        try:
            auth.authenticate_incoming_message(auth_key, security["msgAuthenticationParameters"], data)
        except Exception:
            return report(_WRONG_DIGEST)
        keys = (auth, priv, auth_key, priv_key)
        if priv:
            privacy = (int(security["msgAuthoritativeEngineBoots"]), int(security["msgAuthoritativeEngineTime"]),
                       security["msgPrivacyParameters"])
            plain = priv.decrypt_data(priv_key, privacy, univ.OctetString(bytes(scoped_data["encryptedPDU"])))
            scoped, _ = decoder.decode(plain, asn1Spec=ScopedPDU())
        else:
            scoped = scoped_data["plaintext"]
    else:
        scoped = scoped_data["plaintext"]
    request = scoped["data"]["get-request"]
    bindings = rfc1905.VarBindList()
    for binding in request["variable-bindings"]:
        key = _SYSTEM_GROUP.get(str(binding["name"]))
        if key and isinstance(spec.get(key), str):
            text = host.render(spec[key])
            item = rfc1905.VarBind()
            item["name"] = binding["name"]
            value = item[""]["value"]["simple"]
            if key == "sys_object_id":
                value["objectID-value"] = rfc1902.ObjectIdentifier(text)
            else:
                value["string-value"] = rfc1902.OctetString(text.encode("utf-8"))
            bindings[len(bindings)] = item
    pdu = rfc1905.ResponsePDU()
    pdu["request-id"], pdu["error-status"], pdu["error-index"] = int(request["request-id"]), 0, 0
    pdu["variable-bindings"] = bindings
    return reply("response", pdu, flags & 0x03, keys)


# --------------------------------------------------------------------------- Bosch discovery


def _bosch(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    if len(data) != 12 or data[:4] != bytes.fromhex("9939a427") or data[8:] != bytes.fromhex("ff0006de"):
        return []
    spec = host.discovery["bosch"]
    fields = {
        "deviceType": "OEMExt00:device:deviceID0",
        "friendlyName": host.render(str(spec.get("friendly_name", "${model}"))),
        "unitName": host.render(str(spec.get("unit_name", ""))),
        "serialNumber": host.render(str(spec.get("serial", "${serial}"))),
        "physAddress": host.mac.replace(":", "-").upper(),
        "unitIPAddress": host.ip,
        "unitSubnetMask": site.netmask,
        "RCPPort": "1756",
        "HTTPPort": "80",
    }
    record = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    payload = ('<?xml version="1.0" encoding="UTF-8"?><root xmlns="OEMExt00:device-1-0"><device>'
               f"{record}</device></root>").encode("utf-8")
    return [(payload, (source[0], REPLY_PORTS["bosch"]))]


# --------------------------------------------------------------------------- GigE Vision (GVCP)

# Discovery acknowledge fields: (profile key, bootstrap register offset in the payload, size), per
# Wireshark's packet-gvcp.c register addresses (GVCP_MANUFACTURER_NAME 0x48 ... GVCP_USER_DEFINED_NAME 0xE8).
_GVCP_STRINGS = (("manufacturer", 0x48, 32), ("model", 0x68, 32), ("version", 0x88, 32),
                 ("manufacturer_info", 0xA8, 48), ("serial", 0xD8, 16), ("user_name", 0xE8, 16))


def _gvcp(data: bytes, source: Destination, host: LabHost, site: Site, sequence: int) -> list[Reply]:
    """A DISCOVERY_ACK (0x0003) for a DISCOVERY_CMD (key 0x42, command 0x0002, acknowledge required)."""
    if len(data) != 8:
        return []
    key, flags, command, length, request_id = struct.unpack("!BBHHH", data)
    if key != 0x42 or command != 0x0002 or length != 0 or request_id == 0 or not flags & 0x01:
        return []
    spec = host.discovery["gvcp"]
    payload = bytearray(248)
    # spec version 2.0; device mode: big endian (bit 31), device class transmitter (bits 28-30: 0), UTF-8 (1)
    struct.pack_into("!HHI", payload, 0, 2, 0, 1 << 31 | 1)
    payload[10:16] = bytes.fromhex(host.mac.replace(":", ""))
    struct.pack_into("!II", payload, 0x10, 0b111, 0b110)  # supported: persistent, DHCP, LLA; current: DHCP, LLA
    payload[0x24:0x28] = ipaddress.IPv4Address(host.ip).packed
    payload[0x34:0x38] = ipaddress.IPv4Address(site.netmask).packed
    payload[0x44:0x48] = ipaddress.IPv4Address(site.gateway).packed
    defaults = {"model": "${model}", "version": "${firmware}", "serial": "${serial}"}
    for name, offset, size in _GVCP_STRINGS:
        text = host.render(str(spec.get(name, defaults.get(name, "")))).encode("utf-8")[:size - 1]
        payload[offset:offset + len(text)] = text
    return [(struct.pack("!HHHH", 0, 0x0003, len(payload), request_id) + bytes(payload), source)]


# --------------------------------------------------------------------------- the responders


@dataclass(frozen=True)
class Responder:
    """One emulated discovery protocol: where it listens, how it answers, what a profile may say of it."""

    port: int
    group: str | None  # None: asked of each host only (SNMP, the XMEye search, Bosch discovery)
    build: Callable[[bytes, Destination, LabHost, Site, int], list[Reply]]
    keys: frozenset[str]  # the keys of a profile's discovery.<protocol> section
    model_bearing: bool = False  # its answer carries the model string
    reply_port: int | None = None  # devices answer to this port rather than the asker's (Bosch: 1758)


# Every discovery protocol the lab answers, one line each (profiles.py and the servers read this).
RESPONDERS: dict[str, Responder] = {
    "wsd": Responder(3702, "239.255.255.250", _wsd, frozenset({"flavor", "types", "scopes", "xaddrs",
                                                                "metadata_version", "raw"}), model_bearing=True),
    "sadp": Responder(37020, "239.255.255.250", _sadp, frozenset({
        "reply", "device_type", "description", "serial", "software_version", "dsp_version", "boot_time", "activated",
        "command_port", "http_port", "analog_channels", "digital_channels", "dhcp"}), model_bearing=True),
    "dhip": Responder(37810, "239.255.255.251", _dhip, frozenset({
        "reply", "device_class", "device_type", "vendor", "manufacturer", "version", "machine_name", "serial",
        "http_port", "port", "video_inputs"}), model_bearing=True),
    "ssdp": Responder(1900, "239.255.255.250", _ssdp, frozenset({
        "server", "st", "usn_uuid", "location", "location_url", "headers", "cache_control", "description"}),
        model_bearing=True),
    "mdns": Responder(5353, "224.0.0.251", _mdns, frozenset({"hostname", "services"})),
    "ubnt": Responder(10001, "233.89.188.1", _ubnt, frozenset({"hostname", "product", "model", "firmware", "version"}),
                      model_bearing=True),
    "xmeye": Responder(34569, None, _xmeye, frozenset({"hostname", "serial", "version", "device_type"})),
    "snmp": Responder(161, None, _snmp, frozenset({"communities", "users", "sys_descr", "sys_object_id", "sys_name"})),
    "bosch": Responder(1757, None, _bosch, frozenset({"friendly_name", "unit_name", "serial"}), reply_port=1758),
    "gvcp": Responder(3956, None, _gvcp, frozenset({"manufacturer", "model", "version", "manufacturer_info", "serial",
                                                    "user_name"}), model_bearing=True),
}
# (port, multicast group) each responder listens on.
ENDPOINTS: dict[str, tuple[int, str | None]] = {name: (r.port, r.group) for name, r in RESPONDERS.items()}
REPLY_PORTS: dict[str, int] = {name: r.reply_port for name, r in RESPONDERS.items() if r.reply_port}
