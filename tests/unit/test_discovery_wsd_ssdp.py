"""WS-Discovery and SSDP/UPnP parsers on real-looking bytes, including malformed and hostile input.

Fixture formats follow replies quoted in public sources (named next to each fixture);
the values (addresses, models, serials, uuids) are our own.
"""

import time
import xml.etree.ElementTree as ET

import pytest

from camscan.protocols import ProtocolError, ssdp, wsd

# --- WS-Discovery ---------------------------------------------------------------------------

# Format: a Hikvision ProbeMatches capture quoted in a public C ONVIF client (env:/wsadis:/d:
# prefixes, AppSequence, RelatesTo echoing the probe's uuid:, XAddrs with an fe80:: twin,
# MetadataVersion 10), with the MAC scope newer Hikvision firmware adds (seen in a Go ONVIF
# client's captured reply) and the utf-8 declaration + CRLF of the Hikvision NVR reply in
# edgexfoundry/device-onvif-camera#412.
HIKVISION_PROBE_MATCHES = (
    b'<?xml version="1.0" encoding="utf-8"?>\r\n'
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:soapenc="http://www.w3.org/2003/05/soap-encoding" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
    b'xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    b'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">\n'
    b"<env:Header>\n"
    b"<wsadis:MessageID>urn:uuid:3f2b6a10-1dd2-11b2-a105-bcbac2123456</wsadis:MessageID>\n"
    b"<wsadis:RelatesTo>uuid:0c7c3b0e-5d2a-4c61-9a43-1f0e2d3c4b5a</wsadis:RelatesTo>\n"
    b"<wsadis:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsadis:To>\n"
    b"<wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action>\n"
    b'<d:AppSequence InstanceId="481516" MessageNumber="2342"/>\n'
    b"</env:Header>\n"
    b"<env:Body>\n<d:ProbeMatches>\n<d:ProbeMatch>\n"
    b"<wsadis:EndpointReference>\n"
    b"<wsadis:Address>urn:uuid:3f2b6a10-1dd2-11b2-a105-bcbac2123456</wsadis:Address>\n"
    b"</wsadis:EndpointReference>\n"
    b"<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>\n"
    b"<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
    b"onvif://www.onvif.org/Profile/G onvif://www.onvif.org/Profile/T "
    b"onvif://www.onvif.org/MAC/bc:ba:c2:12:34:56 onvif://www.onvif.org/hardware/DS-2CD2387G2-LU "
    b"onvif://www.onvif.org/name/HIKVISION%20DS-2CD2387G2-LU "
    b"onvif://www.onvif.org/location/city/hangzhou</d:Scopes>\n"
    b"<d:XAddrs>http://198.18.0.10/onvif/device_service "
    b"http://[fe80::beba:c2ff:fe12:3456]/onvif/device_service</d:XAddrs>\n"
    b"<d:MetadataVersion>10</d:MetadataVersion>\n"
    b"</d:ProbeMatch>\n</d:ProbeMatches>\n</env:Body>\n</env:Envelope>\n"
)

# Format: a Dahua Hello (s:/a:/d: prefixes, Address as bare "uuid:", no RelatesTo, scopes
# location/country/china, name/Dahua, type/Network_Video_Transmitter, extension/unique_identifier)
# as in the Hello test of the Elixir ONVIF client hammeraj/onvif and Dahua scope lists
# reported by ONVIF tooling.
DAHUA_HELLO = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    b'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
    b"<s:Header><a:MessageID>uuid:6d1e0c2f-0b5e-4a49-8f3b-2e7a9c1d4f60</a:MessageID>"
    b"<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
    b"<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello</a:Action></s:Header>"
    b"<s:Body><d:Hello><a:EndpointReference><a:Address>uuid:5f2c8e41-9a07-4b3d-b6e2-3c9d0a7f1b28</a:Address>"
    b"</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
    b"<d:Scopes>onvif://www.onvif.org/location/country/china onvif://www.onvif.org/name/Dahua "
    b"onvif://www.onvif.org/hardware/IPC-HDW2441T-S onvif://www.onvif.org/Profile/Streaming "
    b"onvif://www.onvif.org/type/Network_Video_Transmitter onvif://www.onvif.org/extension/unique_identifier"
    b"</d:Scopes><d:XAddrs>http://198.18.0.20/onvif/device_service</d:XAddrs>"
    b"<d:MetadataVersion>1</d:MetadataVersion></d:Hello></s:Body></s:Envelope>"
)

# Format: an AXIS ProbeMatches (gSOAP-style SOAP-ENV:/wsa:/d: prefixes, Types "tds:Device
# dn:NetworkVideoTransmitter", scopes spread over several lines, an empty "location/" scope,
# http and https XAddrs for the LAN and the 169.254 link-local address) kept as a warm-up
# sample in the TELETASK Android ONVIF library's DiscoveryParser.
AXIS_PROBE_MATCHES = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"\n'
    b'    xmlns:SOAP-ENC="http://www.w3.org/2003/05/soap-encoding"\n'
    b'    xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"\n'
    b'    xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"\n'
    b'    xmlns:dn="http://www.onvif.org/ver10/network/wsdl"\n'
    b'    xmlns:tds="http://www.onvif.org/ver10/device/wsdl">\n'
    b"<SOAP-ENV:Header>\n"
    b"  <wsa:MessageID>uuid:1b9e4c77-2f60-4d1a-8e55-0a6b3c2d1e0f</wsa:MessageID>\n"
    b"  <wsa:RelatesTo>uuid:9e8d7c6b-5a49-4838-a271-605f4e3d2c1b</wsa:RelatesTo>\n"
    b'  <wsa:To SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>\n'
    b'  <wsa:Action SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>\n'
    b'  <d:AppSequence SOAP-ENV:mustUnderstand="true" MessageNumber="1207" InstanceId="1729834411"></d:AppSequence>\n'
    b"</SOAP-ENV:Header>\n"
    b"<SOAP-ENV:Body>\n  <d:ProbeMatches>\n    <d:ProbeMatch>\n"
    b"      <wsa:EndpointReference>\n"
    b"        <wsa:Address>urn:uuid:a7c3e2f1-44b0-4e8d-9d6c-b8a1f0e2d3c4</wsa:Address>\n"
    b"      </wsa:EndpointReference>\n"
    b"      <d:Types>tds:Device dn:NetworkVideoTransmitter</d:Types>\n"
    b"      <d:Scopes>onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/Profile/G\n"
    b"          onvif://www.onvif.org/hardware/M3085-V onvif://www.onvif.org/name/AXIS%20M3085-V\n"
    b"          onvif://www.onvif.org/Profile/M onvif://www.onvif.org/Profile/T onvif://www.onvif.org/location/\n"
    b"      </d:Scopes>\n"
    b"      <d:XAddrs>http://198.18.0.30/onvif/device_service https://198.18.0.30/onvif/device_service\n"
    b"          http://169.254.40.17/onvif/device_service https://169.254.40.17/onvif/device_service\n"
    b"      </d:XAddrs>\n"
    b"      <d:MetadataVersion>1</d:MetadataVersion>\n"
    b"    </d:ProbeMatch>\n  </d:ProbeMatches>\n</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>"
)

# Format: the same message shape in a SOAP 1.1 envelope (http://schemas.xmlsoap.org/soap/envelope/)
# with the WS-Discovery 1.1 namespace (OASIS docs.oasis-open.org/ws-dd/ns/discovery/2009/01),
# default-namespaced elements and no RelatesTo, as older and non-ONVIF stacks send it.
SOAP11_UNPREFIXED = (
    b'<?xml version="1.0"?>'
    b'<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<Header><Action xmlns=\"http://www.w3.org/2005/08/addressing\">"
    b"http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/ProbeMatches</Action></Header>"
    b"<Body><ProbeMatches xmlns=\"http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01\"><ProbeMatch>"
    b"<EndpointReference xmlns=\"http://www.w3.org/2005/08/addressing\">"
    b"<Address>urn:uuid:00000000-1111-4222-8333-444455556666</Address></EndpointReference>"
    b"<Types>dn:NetworkVideoTransmitter</Types>"
    b"<Scopes>onvif://www.onvif.org/name/Yard%20Cam onvif://www.onvif.org/hardware/NVT-9000 http://example.invalid/custom</Scopes>"
    b"<XAddrs>http://198.18.0.40:8899/onvif/device_service</XAddrs>"
    b"</ProbeMatch></ProbeMatches></Body></Envelope>"
)

# Format: the SOAP 1.2 Fault a Hikvision camera sent for a probe it disliked
# (edgexfoundry/device-onvif-camera#134: MatchingRuleNotSupported, "the xml format error").
HIKVISION_FAULT = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
    b"<env:Header><wsadis:Action>http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</wsadis:Action></env:Header>"
    b"<env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode>"
    b"<env:Value>d:MatchingRuleNotSupported</env:Value></env:Subcode></env:Code>"
    b'<env:Reason><env:Text xml:lang="en">the xml format error</env:Text></env:Reason>'
    b"</env:Fault></env:Body></env:Envelope>"
)

# Classic billion-laughs payload (OWASP XML External Entity / entity expansion cheat sheet).
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (level, b"&lol%d;" % (level - 1) * 10) for level in range(1, 10))
    + b"]><Envelope><Body><ProbeMatches><ProbeMatch><Scopes>&lol9;</Scopes></ProbeMatch></ProbeMatches></Body></Envelope>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<Envelope><Body><Hello><Scopes>&x;</Scopes></Hello></Body></Envelope>"
)


def fields_of(found):
    return [(seen.field, seen.value) for seen in found]


def test_hikvision_probe_matches_every_fact():
    found = wsd.parse_probe_matches(HIKVISION_PROBE_MATCHES, "198.18.0.10", 3702, at=12.5)
    fields = fields_of(found)
    assert ("wsd.relates_to", "uuid:0c7c3b0e-5d2a-4c61-9a43-1f0e2d3c4b5a") in fields
    assert ("wsd.endpoint", "urn:uuid:3f2b6a10-1dd2-11b2-a105-bcbac2123456") in fields
    assert ("wsd.types", "dn:NetworkVideoTransmitter tds:Device") in fields
    assert [value for field, value in fields if field == "wsd.xaddr"] == [
        "http://198.18.0.10/onvif/device_service",
        "http://[fe80::beba:c2ff:fe12:3456]/onvif/device_service",
    ]
    assert ("wsd.scope.name", "HIKVISION DS-2CD2387G2-LU") in fields  # %20 decoded
    assert ("wsd.scope", "onvif://www.onvif.org/name/HIKVISION%20DS-2CD2387G2-LU") in fields  # raw kept
    assert ("wsd.scope.hardware", "DS-2CD2387G2-LU") in fields
    assert ("wsd.scope.MAC", "bc:ba:c2:12:34:56") in fields
    assert ("wsd.scope.location", "city/hangzhou") in fields
    assert [value for field, value in fields if field == "wsd.scope.Profile"] == ["Streaming", "G", "T"]
    assert ("wsd.scope.type", "video_encoder") in fields
    assert len([field for field, _ in fields if field == "wsd.scope"]) == 8
    assert all(
        (seen.ip, seen.port, seen.source, seen.transport, seen.observed_at) == ("198.18.0.10", 3702, "wsd", "udp", 12.5)
        for seen in found
    )


def test_dahua_hello_without_relates_to():
    fields = fields_of(wsd.parse_probe_matches(DAHUA_HELLO, "198.18.0.20"))
    assert not any(field == "wsd.relates_to" for field, _ in fields)
    assert ("wsd.endpoint", "uuid:5f2c8e41-9a07-4b3d-b6e2-3c9d0a7f1b28") in fields
    assert ("wsd.scope.name", "Dahua") in fields
    assert ("wsd.scope.hardware", "IPC-HDW2441T-S") in fields
    assert ("wsd.scope.location", "country/china") in fields
    assert ("wsd.scope.type", "Network_Video_Transmitter") in fields
    assert ("wsd.scope.extension", "unique_identifier") in fields
    assert ("wsd.xaddr", "http://198.18.0.20/onvif/device_service") in fields


def test_axis_multiline_scopes_empty_location_and_four_xaddrs():
    fields = fields_of(wsd.parse_probe_matches(AXIS_PROBE_MATCHES, "198.18.0.30", 3702))
    assert ("wsd.types", "tds:Device dn:NetworkVideoTransmitter") in fields
    assert ("wsd.scope.name", "AXIS M3085-V") in fields
    assert ("wsd.scope", "onvif://www.onvif.org/location/") in fields
    assert not any(field == "wsd.scope.location" for field, _ in fields)  # empty value: no typed field
    assert len([field for field, _ in fields if field == "wsd.xaddr"]) == 4
    assert ("wsd.relates_to", "uuid:9e8d7c6b-5a49-4838-a271-605f4e3d2c1b") in fields


def test_soap11_envelope_and_ws_discovery_11_namespace_parse_by_local_name():
    fields = fields_of(wsd.parse_probe_matches(SOAP11_UNPREFIXED, "198.18.0.40"))
    assert ("wsd.endpoint", "urn:uuid:00000000-1111-4222-8333-444455556666") in fields
    assert ("wsd.scope.name", "Yard Cam") in fields
    # A non-ONVIF scope is kept raw only.
    assert ("wsd.scope", "http://example.invalid/custom") in fields
    assert ("wsd.xaddr", "http://198.18.0.40:8899/onvif/device_service") in fields


def test_duplicate_facts_reported_once_and_empty_match_list_is_valid():
    start, end = HIKVISION_PROBE_MATCHES.index(b"<d:ProbeMatch>"), HIKVISION_PROBE_MATCHES.index(b"</d:ProbeMatches>")
    match = HIKVISION_PROBE_MATCHES[start:end]
    doubled = HIKVISION_PROBE_MATCHES.replace(match, match + match)  # a device listed twice in one reply
    once = fields_of(wsd.parse_probe_matches(HIKVISION_PROBE_MATCHES, "198.18.0.10"))
    assert fields_of(wsd.parse_probe_matches(doubled, "198.18.0.10")) == once
    empty = (
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Header>'
        b'<a:RelatesTo xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">uuid:1</a:RelatesTo></e:Header>'
        b'<e:Body><d:ProbeMatches xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"/></e:Body></e:Envelope>'
    )
    assert fields_of(wsd.parse_probe_matches(empty, "198.18.0.10")) == [("wsd.relates_to", "uuid:1")]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(HIKVISION_PROBE_MATCHES[: len(HIKVISION_PROBE_MATCHES) // 2], id="truncated"),
        pytest.param(HIKVISION_PROBE_MATCHES[:-30], id="truncated-tail"),
        pytest.param(b"<html><body>Not an envelope</body></html>", id="wrong-root"),
        pytest.param(b'<s:Envelope xmlns:s="x"><s:Header/></s:Envelope>', id="no-body"),
        pytest.param(b'<s:Envelope xmlns:s="x"><s:Body/></s:Envelope>', id="empty-body"),
        pytest.param(b"\x00\x01\x02\xff\xfe\x80binary\x00junk" * 8, id="binary-junk"),
        pytest.param(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", id="not-xml"),
        pytest.param(b"", id="empty"),
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(BILLION_LAUGHS.decode().encode("utf-16"), id="billion-laughs-utf16"),
        pytest.param(EXTERNAL_ENTITY, id="external-entity"),
        pytest.param(b"<Envelope><Body><Hello><Scopes>&undefined;</Scopes></Hello></Body></Envelope>", id="undefined-entity"),
        pytest.param(b"<Envelope><Body><Hello><Scopes>" + b"a" * 70000 + b"</Scopes></Hello></Body></Envelope>", id="huge"),
        pytest.param(HIKVISION_FAULT, id="soap-fault"),
        pytest.param(wsd.build_probe("dn:NetworkVideoTransmitter", "uuid:1"), id="a-probe-not-a-reply"),
    ],
)
def test_malformed_or_hostile_wsd_raises_protocol_error(payload):
    started = time.monotonic()
    with pytest.raises(ProtocolError):
        wsd.parse_probe_matches(payload, "198.18.0.99")
    assert time.monotonic() - started < 1.0


def test_fault_reason_is_in_the_error():
    with pytest.raises(ProtocolError, match="198.18.0.10 is a SOAP Fault.*MatchingRuleNotSupported.*the xml format error"):
        wsd.parse_probe_matches(HIKVISION_FAULT, "198.18.0.10")


def test_non_bytes_input_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        wsd.parse_probe_matches("<Envelope/>", "198.18.0.10")  # type: ignore[arg-type]


# Format: the probe ONVIF Device Manager sends, quoted in ZoneMinder/zoneminder#1644 (which
# D-Link and other cameras answer); To/Action/MessageID per ONVIF Core §7.3.
def test_build_probe_is_a_deterministic_soap12_probe():
    probe = wsd.build_probe("dn:NetworkVideoTransmitter", "uuid:0c7c3b0e-5d2a-4c61-9a43-1f0e2d3c4b5a")
    assert probe == wsd.build_probe("dn:NetworkVideoTransmitter", "uuid:0c7c3b0e-5d2a-4c61-9a43-1f0e2d3c4b5a")
    root = ET.fromstring(probe)
    ns = {
        "s": "http://www.w3.org/2003/05/soap-envelope",
        "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
        "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    }
    assert root.tag == "{http://www.w3.org/2003/05/soap-envelope}Envelope"
    assert root.findtext("s:Header/a:To", namespaces=ns) == "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
    assert root.findtext("s:Header/a:Action", namespaces=ns) == "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
    assert root.findtext("s:Header/a:MessageID", namespaces=ns) == "uuid:0c7c3b0e-5d2a-4c61-9a43-1f0e2d3c4b5a"
    assert root.findtext("s:Body/d:Probe/d:Types", namespaces=ns) == "dn:NetworkVideoTransmitter"
    # The dn/tds prefixes are declared on the envelope, where picky cameras look for them.
    assert b'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"' in probe
    assert b'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"' in probe


def test_build_probe_types_and_message_ids():
    device = ET.fromstring(wsd.build_probe("tds:Device", "7d1a0c44-93a2-4f0e-8c4b-6e5f3a2b1c0d"))
    texts = {element.tag.rpartition("}")[2]: element.text for element in device.iter()}
    assert texts["MessageID"] == "uuid:7d1a0c44-93a2-4f0e-8c4b-6e5f3a2b1c0d"
    assert texts["Types"] == "tds:Device"
    assert b"urn:uuid:abc" in wsd.build_probe("tds:Device", "urn:uuid:abc")
    assert b"<d:Types>" not in wsd.build_probe("", "uuid:1")  # untyped probe
    for bad_types in ["NetworkVideoTransmitter", "xx:Device", "dn:Network<Video"]:
        with pytest.raises(ValueError):
            wsd.build_probe(bad_types, "uuid:1")
    for bad_id in ["", "uuid:1</a:MessageID>", "uuid 1"]:
        with pytest.raises(ValueError):
            wsd.build_probe("dn:NetworkVideoTransmitter", bad_id)


# --- SSDP -----------------------------------------------------------------------------------

# Format: the M-SEARCH answer and NOTIFY of an AXIS camera in the test fixtures of
# FantasticFiasco/axis-discovery-ssdp-js (Portable SDK for UPnP devices/1.6.18, redsonic,
# ST urn:axis-com:service:BasicService:1, USN uuid:Upnp-BasicDevice-1_0-<MAC>::...).
AXIS_MSEARCH_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"CACHE-CONTROL: max-age=1800\r\n"
    b"DATE: Tue, 06 Oct 2026 09:14:02 GMT\r\n"
    b"EXT:\r\n"
    b"LOCATION: http://198.18.0.30:45895/rootdesc1.xml\r\n"
    b'OPT: "http://schemas.upnp.org/upnp/1/0/"; ns=01\r\n'
    b"01-NLS: 4c1d2e3f-1dd2-11b2-9a0b-a1b2c3d4e5f6\r\n"
    b"SERVER: Linux/4.9.206-axis8, UPnP/1.0, Portable SDK for UPnP devices/1.6.18\r\n"
    b"X-User-Agent: redsonic\r\n"
    b"ST: urn:axis-com:service:BasicService:1\r\n"
    b"USN: uuid:Upnp-BasicDevice-1_0-B8A44F0A1B2C::urn:axis-com:service:BasicService:1\r\n"
    b"\r\n"
)
AXIS_NOTIFY = (
    b"NOTIFY * HTTP/1.1\r\n"
    b"HOST: 239.255.255.250:1900\r\n"
    b"CACHE-CONTROL: max-age=1800\r\n"
    b"LOCATION: http://198.18.0.30:45895/rootdesc1.xml\r\n"
    b'OPT: "http://schemas.upnp.org/upnp/1/0/"; ns=01\r\n'
    b"01-NLS: 4c1d2e3f-1dd2-11b2-9a0b-a1b2c3d4e5f6\r\n"
    b"NT: upnp:rootdevice\r\n"
    b"NTS: ssdp:alive\r\n"
    b"SERVER: Linux/4.9.206-axis8, UPnP/1.0, Portable SDK for UPnP devices/1.6.18\r\n"
    b"X-User-Agent: redsonic\r\n"
    b"USN: uuid:Upnp-BasicDevice-1_0-B8A44F0A1B2C::upnp:rootdevice\r\n"
)  # that fixture set also ends without the blank line

# Format: Dahua M-SEARCH answers logged by Home Assistant's ssdp integration in
# home-assistant/core#46822 ("ZheJiang Dahua Technology CO.,LTD. Upnp SDK" on :49152, and
# "Linux, UPnP/1.0, Private Upnp SDK"; USN uuid:www.dahuatech.com.device_3_0-<serial>).
DAHUA_MSEARCH_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"CACHE-CONTROL: max-age=1800\r\n"
    b"DATE: Tue, 06 Oct 2026 09:14:03 GMT\r\n"
    b"EXT:\r\n"
    b"X-User-Agent: redsonic\r\n"
    b"LOCATION: http://198.18.0.20:49152/upnp_device_desc.xml\r\n"
    b"SERVER: Linux/3.10.0, UPnP/1.0, ZheJiang Dahua Technology CO.,LTD. Upnp SDK\r\n"
    b"ST: upnp:rootdevice\r\n"
    b"USN: uuid:www.dahuatech.com.device_3_0-7E0A9C3PAZ4F1D2::upnp:rootdevice\r\n"
    b"\r\n"
)


def test_axis_msearch_response():
    found = ssdp.parse_ssdp(AXIS_MSEARCH_RESPONSE, "198.18.0.30", 1900, at=3.0)
    assert dict(fields_of(found)) == {
        "ssdp.location": "http://198.18.0.30:45895/rootdesc1.xml",
        "ssdp.server": "Linux/4.9.206-axis8, UPnP/1.0, Portable SDK for UPnP devices/1.6.18",
        "ssdp.st": "urn:axis-com:service:BasicService:1",
        "ssdp.usn": "uuid:Upnp-BasicDevice-1_0-B8A44F0A1B2C::urn:axis-com:service:BasicService:1",
    }
    assert all((seen.source, seen.transport, seen.port, seen.observed_at) == ("ssdp", "udp", 1900, 3.0) for seen in found)


def test_notify_gives_nt_not_st():
    fields = dict(fields_of(ssdp.parse_ssdp(AXIS_NOTIFY, "198.18.0.30")))
    assert fields["ssdp.nt"] == "upnp:rootdevice"
    assert "ssdp.st" not in fields
    assert fields["ssdp.usn"] == "uuid:Upnp-BasicDevice-1_0-B8A44F0A1B2C::upnp:rootdevice"


def test_dahua_msearch_response():
    fields = dict(fields_of(ssdp.parse_ssdp(DAHUA_MSEARCH_RESPONSE, "198.18.0.20")))
    assert fields["ssdp.server"] == "Linux/3.10.0, UPnP/1.0, ZheJiang Dahua Technology CO.,LTD. Upnp SDK"
    assert fields["ssdp.location"] == "http://198.18.0.20:49152/upnp_device_desc.xml"
    assert fields["ssdp.usn"].startswith("uuid:www.dahuatech.com.device_3_0-")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(ssdp.build_msearch(), id="an-m-search-request"),
        pytest.param(b"NOTIFY /upnp HTTP/1.1\r\nNT: x\r\nUSN: y\r\n\r\n", id="notify-not-star"),
        pytest.param(b"HTTP/1.1 404 Not Found\r\nST: upnp:rootdevice\r\n\r\n", id="not-200"),
        pytest.param(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n", id="rtsp"),
        pytest.param(b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: 0\r\n\r\n", id="plain-http"),
        pytest.param(b"\x16\x03\x01\x00\x02\x02\x28" + b"\xff" * 64, id="binary-junk"),
        pytest.param(b"", id="empty"),
        pytest.param(AXIS_MSEARCH_RESPONSE[:14], id="truncated"),
        pytest.param(b"HTTP/1.1 200 OK\r\nST: x\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n", id="huge"),
    ],
)
def test_malformed_ssdp_raises_protocol_error(payload):
    with pytest.raises(ProtocolError):
        ssdp.parse_ssdp(payload, "198.18.0.99")


# Format: UPnP Device Architecture 1.1 §1.1.2 M-SEARCH (HOST, MAN, MX, ST).
def test_build_msearch():
    assert ssdp.build_msearch() == (
        b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
        b'MAN: "ssdp:discover"\r\nMX: 2\r\nST: ssdp:all\r\n\r\n'
    )
    assert b"\r\nMX: 1\r\nST: upnp:rootdevice\r\n" in ssdp.build_msearch("upnp:rootdevice", 1)
    for target, mx in [("ssdp:all\r\nX: injected", 2), ("", 2), ("ssdp:all", 0), ("ssdp:all", 6), ("ssdp:all", True)]:
        with pytest.raises(ValueError):
            ssdp.build_msearch(target, mx)


# --- UPnP device description ----------------------------------------------------------------

# Format: the AXIS root description in FantasticFiasco/axis-discovery-ssdp-js test fixtures and
# an AXIS P3301 description quoted in a Rust UPnP crate's tests (Basic:1, friendlyName
# "AXIS <model> - <MAC>", serialNumber = MAC, URLBase after </device>).
AXIS_DESCRIPTION = (
    b'<?xml version="1.0"?>\n'
    b'<root xmlns="urn:schemas-upnp-org:device-1-0">\n'
    b"<specVersion><major>1</major><minor>0</minor></specVersion>\n"
    b"<device>\n"
    b"<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>\n"
    b"<friendlyName>AXIS M3085-V - B8A44F0A1B2C</friendlyName>\n"
    b"<manufacturer>AXIS</manufacturer>\n"
    b"<manufacturerURL>http://www.axis.com/</manufacturerURL>\n"
    b"<modelDescription>AXIS M3085-V Dome Camera</modelDescription>\n"
    b"<modelName>AXIS M3085-V</modelName>\n"
    b"<modelNumber>M3085-V</modelNumber>\n"
    b"<modelURL>http://www.axis.com/</modelURL>\n"
    b"<serialNumber>B8A44F0A1B2C</serialNumber>\n"
    b"<UDN>uuid:Upnp-BasicDevice-1_0-B8A44F0A1B2C</UDN>\n"
    b"<serviceList><service>"
    b"<serviceType>urn:axis-com:service:BasicService:1</serviceType>"
    b"<serviceId>urn:axis-com:serviceId:BasicServiceId</serviceId>"
    b"<controlURL>/upnp/control/BasicServiceId</controlURL>"
    b"<eventSubURL>/upnp/event/BasicServiceId</eventSubURL>"
    b"<SCPDURL>/scpd_basic.xml</SCPDURL>"
    b"</service></serviceList>\n"
    b"<presentationURL>http://198.18.0.30:80/</presentationURL>\n"
    b"</device>\n"
    b"<URLBase>http://198.18.0.30:45895/</URLBase>\n"
    b"</root>\n"
)

# Format: UPnP Device Architecture 1.1 §2.3 root device with an embedded deviceList (the shape
# of the gateway descriptions quoted in home-assistant/core#76383); a recorder-style root whose
# embedded device carries different values, which must not leak into the root's facts.
EMBEDDED_DESCRIPTION = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>'
    b"<device><deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>"
    b"<friendlyName>NVR &amp; Cameras</friendlyName><manufacturer>Example Vision</manufacturer>"
    b"<modelName>EV-NVR16</modelName><serialNumber>EVN16-2026-0042</serialNumber>"
    b"<deviceList><device><deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>"
    b"<friendlyName>Media</friendlyName><manufacturer>Embedded Inc</manufacturer>"
    b"<modelName>EMB-1</modelName><modelNumber>9</modelNumber></device></deviceList>"
    b"</device></root>"
)


def test_axis_description_root_device_facts():
    found = ssdp.parse_device_description(AXIS_DESCRIPTION, "198.18.0.30", 45895, at=7.0)
    assert dict(fields_of(found)) == {
        "upnp.device_type": "urn:schemas-upnp-org:device:Basic:1",
        "upnp.friendly_name": "AXIS M3085-V - B8A44F0A1B2C",
        "upnp.manufacturer": "AXIS",
        "upnp.model_description": "AXIS M3085-V Dome Camera",
        "upnp.model_name": "AXIS M3085-V",
        "upnp.model_number": "M3085-V",
        "upnp.serial_number": "B8A44F0A1B2C",
    }
    assert all((seen.source, seen.port, seen.observed_at) == ("upnp", 45895, 7.0) for seen in found)


def test_embedded_devices_do_not_override_the_root_device():
    fields = dict(fields_of(ssdp.parse_device_description(EMBEDDED_DESCRIPTION, "198.18.0.50", 80)))
    assert fields == {
        "upnp.device_type": "urn:schemas-upnp-org:device:Basic:1",
        "upnp.friendly_name": "NVR & Cameras",
        "upnp.manufacturer": "Example Vision",
        "upnp.model_name": "EV-NVR16",
        "upnp.serial_number": "EVN16-2026-0042",
    }


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(AXIS_DESCRIPTION[:200], id="truncated"),
        pytest.param(b"<html><head><title>Login</title></head></html>", id="wrong-root"),
        pytest.param(b'<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion/></root>', id="no-device"),
        pytest.param(
            BILLION_LAUGHS[: BILLION_LAUGHS.index(b"]>") + 2] + b"<root><device><manufacturer>&lol9;</manufacturer></device></root>",
            id="billion-laughs",
        ),
        pytest.param(EXTERNAL_ENTITY, id="external-entity"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", id="binary-junk"),
        pytest.param(b"<root><device><manufacturer>" + b"x" * 300000 + b"</manufacturer></device></root>", id="huge"),
        pytest.param(b"", id="empty"),
    ],
)
def test_malformed_description_raises_protocol_error(payload):
    with pytest.raises(ProtocolError):
        ssdp.parse_device_description(payload, "198.18.0.99", 80)


def test_an_encoding_expat_does_not_know_is_a_protocol_error_not_a_crash():
    from camscan.protocols import ProtocolError, sadp, wsd

    hostile = b'<?xml version="1.0" encoding="x-nope"?><Envelope><Body/></Envelope>'
    for parse in (wsd.parse_probe_matches, sadp.parse_probe_match):
        try:
            parse(hostile, "198.18.0.9")
        except ProtocolError as error:
            assert "not well-formed" in str(error)
        else:
            raise AssertionError(f"{parse.__name__} accepted an unknown encoding")
