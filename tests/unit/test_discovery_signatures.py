"""Whole discovery replies through their parser and camscan's Identifier: maker, brand, model,
firmware and device type, including rebadged units and non-cameras that must stay non-cameras.

Reply fixtures shared with the parser tests are imported from them; the rest follow the public
replies named next to each.
"""

import json

import pytest
from test_discovery_mdns_onvif import AXIS_ANNOUNCEMENT, HIKVISION_DEVICE_INFORMATION, HOMEKIT_CAMERA, HP_PRINTER
from test_discovery_mdns_onvif import GENERIC_DEVICE_INFORMATION, announcement, qnap_enumeration, txt_rdata
from test_discovery_sadp_dhip import DAHUA_IPC, DAHUA_OEM_DVR, SADP_CAMERA, SADP_NVR_NOT_ACTIVATED, dhip_frame
from test_discovery_wsd_ssdp import AXIS_DESCRIPTION, AXIS_MSEARCH_RESPONSE, AXIS_PROBE_MATCHES, DAHUA_HELLO
from test_discovery_wsd_ssdp import DAHUA_MSEARCH_RESPONSE, HIKVISION_PROBE_MATCHES

from camscan.fingerprint.identify import Identifier
from camscan.fingerprint.signatures import default_rules
from camscan.model import Observation
from camscan.protocols import dhip, mdns, onvif, sadp, ssdp, wsd

IDENTIFIER = Identifier()

# Format: the client.notifyDevInfo of a Dahua-made Amcrest camera: the Haicam/Haicam capture's
# key set with the brand in Vendor/Manufacturer, as rebadged Dahua firmware reports it.
AMCREST_DHIP = dhip_frame(json.dumps({
    "mac": "9c:8e:cd:00:00:41", "method": "client.notifyDevInfo", "params": {"deviceInfo": {
        "DeviceClass": "IPC", "DeviceType": "IP2M-841B", "HttpPort": 80,
        "IPv4Address": {"DefaultGateway": "198.18.0.1", "DhcpEnable": True, "IPAddress": "198.18.0.41",
                        "SubnetMask": "255.254.0.0"},
        "MachineName": "AMC0000000000041", "Manufacturer": "Amcrest", "Port": 37777,
        "SerialNo": "AMC0000000000041", "Vendor": "Amcrest", "Version": "2.420.AC00.18.R", "VideoInputChannels": 1,
    }}}).encode() + b"\n\x00")
# Format: the ProbeMatches of a Hikvision NVR (edgexfoundry/device-onvif-camera#412 shows
# Hikvision NVRs answering as dn:NetworkVideoTransmitter), in the Hikvision layout of the WSD tests.
HIKVISION_NVR_PROBE_MATCHES = HIKVISION_PROBE_MATCHES.replace(b"DS-2CD2387G2-LU", b"DS-7608NI-K2")
# Format: an HP printer's UPnP root description (UPnP Printer:1 device type, HP LaserJet model).
HP_PRINTER_DESCRIPTION = (
    b'<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">'
    b"<specVersion><major>1</major><minor>0</minor></specVersion><device>"
    b"<deviceType>urn:schemas-upnp-org:device:Printer:1</deviceType>"
    b"<friendlyName>HP LaserJet Pro M404dn [0A1B2C]</friendlyName><manufacturer>HP</manufacturer>"
    b"<modelName>HP LaserJet Pro M404dn</modelName><modelNumber>W1A53A</modelNumber>"
    b"<serialNumber>PHBBL00001</serialNumber><UDN>uuid:564e4333-3132-3030-3030-0a1b2c0a1b2c</UDN>"
    b"</device></root>"
)
HP_PRINTER_NOTIFY = (
    b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
    b"LOCATION: http://198.18.0.61:8080/description.xml\r\nNT: urn:schemas-upnp-org:device:Printer:1\r\n"
    b"NTS: ssdp:alive\r\nSERVER: HP-ChaiSOE/1.0 UPnP/1.0\r\n"
    b"USN: uuid:564e4333-3132-3030-3030-0a1b2c0a1b2c::urn:schemas-upnp-org:device:Printer:1\r\n\r\n"
)
# Format: Synology DSM's M-SEARCH answer and description as captured in public discovery tools
# (SERVER Synology/DSM/<ip>, USN uuid:73796E6F-6473-6D00-0000-<MAC>, Basic:1, modelName RS819).
SYNOLOGY_MSEARCH_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1900\r\nST: upnp:rootdevice\r\n"
    b"USN: uuid:73796E6F-6473-6D00-0000-0011320a1b2c::upnp:rootdevice\r\nEXT:\r\n"
    b"SERVER: Synology/DSM/198.18.0.80\r\nLOCATION: http://198.18.0.80:5000/ssdp/desc-DSM-eth0.xml\r\n"
    b'OPT: "http://schemas.upnp.org/upnp/1/0/"; ns=01\r\n01-NLS: 1\r\n\r\n'
)
SYNOLOGY_DESCRIPTION = (
    b'<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>'
    b"<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType><friendlyName>Archive (RS819)</friendlyName>"
    b"<manufacturer>Synology</manufacturer><modelName>RS819</modelName><serialNumber>0011320a1b2c</serialNumber>"
    b"</device></root>"
)
# Format: a FRITZ!Box 7590 root description (InternetGatewayDevice:1, manufacturer AVM Berlin).
FRITZBOX_DESCRIPTION = (
    b'<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>'
    b"<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>"
    b"<friendlyName>FRITZ!Box 7590</friendlyName><manufacturer>AVM Berlin</manufacturer>"
    b"<modelName>FRITZ!Box 7590</modelName></device></root>"
)


def identify(*observation_lists):
    return IDENTIFIER.identify([seen for found in observation_lists for seen in found])


def summary(result):
    return (result.vendor, result.manufacturer, result.model, result.firmware, result.device_type)


# --- the vendors' own discovery protocols ---------------------------------------------------------

def test_sadp_camera():
    result = identify(sadp.parse_probe_match(SADP_CAMERA, "198.18.0.10", 37020))
    assert summary(result) == ("hikvision", "hikvision", "DS-2CD2385G1-I", "V5.6.2", "ip-camera")
    assert result.is_camera and result.confidence >= 0.9
    assert {"sadp-protocol-hikvision", "sadp-hikvision-network-camera", "sadp-firmware-build"} <= {
        item.signature for item in result.evidence}


def test_sadp_recorder_is_an_nvr():
    result = identify(sadp.parse_probe_match(SADP_NVR_NOT_ACTIVATED, "198.18.0.11", 37020))
    assert summary(result) == ("hikvision", "hikvision", "DS-7608NI-K2", "V4.30.085", "nvr")


def test_sadp_from_a_hikvision_sister_brand():
    reply = SADP_CAMERA.replace(b"DS-2CD2385G1-I", b"CS-C6N-A0-1C2WFR")
    reply = reply.replace(b"V5.6.2build 190701", b"V5.3.0build 210513")
    result = identify(sadp.parse_probe_match(reply, "198.18.0.12", 37020))
    assert summary(result) == ("ezviz", "hikvision", "CS-C6N-A0-1C2WFR", "V5.3.0", "ip-camera")


def test_dhip_unbranded_dahua_camera():
    result = identify(dhip.parse_reply(DAHUA_IPC, "198.18.0.30", 37810))
    assert summary(result) == ("dahua", "dahua", "IPC-HDW1431T1-S4", "2.800.0000000.13.R", "ip-camera")


def test_dhip_rebadged_amcrest_keeps_the_brand_and_names_the_maker():
    result = identify(dhip.parse_reply(AMCREST_DHIP, "198.18.0.41", 37810))
    assert summary(result) == ("amcrest", "dahua", "IP2M-841B", "2.420.AC00.18.R", "ip-camera")
    assert result.is_camera


def test_dhip_intelbras_recorder():
    result = identify(dhip.parse_reply(DAHUA_OEM_DVR, "198.18.0.40", 37810))
    assert summary(result) == ("intelbras", "dahua", "MHDX 1016", "3.210.IB01.3", "dvr")


# --- ONVIF ------------------------------------------------------------------------------------------

def test_ws_discovery_alone_names_maker_and_model():
    hikvision = identify(wsd.parse_probe_matches(HIKVISION_PROBE_MATCHES, "198.18.0.10", 3702))
    assert summary(hikvision) == ("hikvision", "hikvision", "DS-2CD2387G2-LU", None, "ip-camera")
    dahua = identify(wsd.parse_probe_matches(DAHUA_HELLO, "198.18.0.20", 3702))
    assert summary(dahua) == ("dahua", "dahua", "IPC-HDW2441T-S", None, "ip-camera")
    axis = identify(wsd.parse_probe_matches(AXIS_PROBE_MATCHES, "198.18.0.30", 3702))
    assert summary(axis) == ("axis", "axis", "AXIS M3085-V", None, "ip-camera")


def test_an_nvr_answering_as_a_video_transmitter_is_still_an_nvr():
    result = identify(wsd.parse_probe_matches(HIKVISION_NVR_PROBE_MATCHES, "198.18.0.11", 3702))
    assert (result.vendor, result.model, result.device_type) == ("hikvision", "DS-7608NI-K2", "nvr")


def test_a_bare_video_transmitter_is_a_weak_camera_guess():
    bare = wsd.parse_probe_matches(
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><e:Body><d:ProbeMatches><d:ProbeMatch>'
        b"<d:Types>dn:NetworkVideoTransmitter</d:Types><d:XAddrs>http://198.18.0.50/onvif/device_service</d:XAddrs>"
        b"</d:ProbeMatch></d:ProbeMatches></e:Body></e:Envelope>",
        "198.18.0.50",
    )
    result = identify(bare)
    assert (result.vendor, result.device_type) == (None, "ip-camera")
    assert result.confidence <= 0.4


def test_a_no_name_gsoap_camera_names_no_model_and_no_maker():
    """The stock gSOAP ONVIF server's placeholder scopes (hardware/IPC-model, name/NVT) and a realm
    that only looks like Dahua's "Login to <serial>" name nothing."""
    scopes = (b"onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/type/audio_encoder "
              b"onvif://www.onvif.org/hardware/IPC-model onvif://www.onvif.org/location/country/china "
              b"onvif://www.onvif.org/name/NVT onvif://www.onvif.org/Profile/Streaming")
    matches = wsd.parse_probe_matches(
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><e:Body><d:ProbeMatches><d:ProbeMatch>'
        b"<d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>" + scopes + b"</d:Scopes>"
        b"<d:XAddrs>http://198.18.0.56:8899/onvif/device_service</d:XAddrs></d:ProbeMatch></d:ProbeMatches>"
        b"</e:Body></e:Envelope>",
        "198.18.0.56",
    )
    realm = Observation(ip="198.18.0.56", source="rtsp", field="rtsp.www_authenticate",
                        value='Digest realm="Login to NVT", nonce="0b7a03083f6055638757abaa2aed0bcb"', port=554)
    result = identify(matches, [realm])
    assert (result.vendor, result.manufacturer, result.model, result.device_type) == (None, None, None, "ip-camera")
    assert result.ndaa_889 is not True


def test_onvif_device_information():
    result = identify(onvif.parse_device_information(HIKVISION_DEVICE_INFORMATION, "198.18.0.10", 80))
    assert summary(result) == ("hikvision", "hikvision", "DS-2CD2143G2-I", "V5.7.1", "ip-camera")
    generic = identify(onvif.parse_device_information(GENERIC_DEVICE_INFORMATION, "198.18.0.11", 8899))
    assert (generic.vendor, generic.model, generic.firmware) == (None, "IPC", "v5.3.1.1811211102")
    assert generic.is_camera


def test_onvif_brand_of_a_rebadged_unit():
    info = {"Manufacturer": "Lorex", "Model": "N841A81B", "FirmwareVersion": "V4.001.0000000.2", "SerialNumber": "X"}
    result = identify(onvif.device_information_observations(info, "198.18.0.42", 80))
    assert (result.vendor, result.manufacturer, result.model) == ("lorex", "dahua", "N841A81B")


def test_device_information_outweighs_a_discovery_scope():
    result = identify(
        wsd.parse_probe_matches(HIKVISION_PROBE_MATCHES, "198.18.0.10", 3702),
        onvif.parse_device_information(HIKVISION_DEVICE_INFORMATION, "198.18.0.10", 80),
    )
    assert result.model == "DS-2CD2143G2-I"  # GetDeviceInformation, not the (owner-editable) name scope
    assert result.firmware == "V5.7.1" and result.confidence >= 0.99


# --- SSDP / UPnP ------------------------------------------------------------------------------------

def test_axis_over_ssdp_and_upnp():
    result = identify(
        ssdp.parse_ssdp(AXIS_MSEARCH_RESPONSE, "198.18.0.30", 1900),
        ssdp.parse_device_description(AXIS_DESCRIPTION, "198.18.0.30", 45895),
    )
    assert summary(result) == ("axis", "axis", "AXIS M3085-V", None, "ip-camera")


def test_dahua_ssdp_answer_names_the_maker_not_the_kind():
    """Dahua's UPnP SDK answers for its cameras, recorders and intercoms alike."""
    result = identify(ssdp.parse_ssdp(DAHUA_MSEARCH_RESPONSE, "198.18.0.20", 1900))
    assert (result.manufacturer, result.device_type) == ("dahua", None)


def test_printer_over_ssdp_is_a_printer_not_a_camera():
    result = identify(
        ssdp.parse_ssdp(HP_PRINTER_NOTIFY, "198.18.0.61", 1900),
        ssdp.parse_device_description(HP_PRINTER_DESCRIPTION, "198.18.0.61", 8080),
    )
    assert (result.vendor, result.model, result.device_type) == ("hp", "HP LaserJet Pro M404dn", "printer")
    assert not result.is_camera


def test_nas_and_router_over_upnp_are_not_cameras():
    nas = identify(
        ssdp.parse_ssdp(SYNOLOGY_MSEARCH_RESPONSE, "198.18.0.80", 1900),
        ssdp.parse_device_description(SYNOLOGY_DESCRIPTION, "198.18.0.80", 5000),
    )
    assert (nas.vendor, nas.model, nas.device_type, nas.is_camera) == ("synology", "RS819", "nas", False)
    router = identify(ssdp.parse_device_description(FRITZBOX_DESCRIPTION, "198.18.0.1", 49000))
    assert (router.vendor, router.device_type, router.is_camera) == ("avm", "router", False)


# --- mDNS -------------------------------------------------------------------------------------------

def test_axis_over_mdns():
    result = identify(mdns.parse_packet(AXIS_ANNOUNCEMENT, "198.18.0.30", 5353))
    assert (result.vendor, result.device_type, result.is_camera) == ("axis", "ip-camera", True)


def test_printer_over_mdns_is_a_printer_not_a_camera():
    result = identify(mdns.parse_packet(HP_PRINTER, "198.18.0.60", 5353))
    assert (result.vendor, result.model, result.device_type) == ("hp", "HP Officejet Pro 8500", "printer")
    assert not result.is_camera


def test_qnap_over_mdns_is_a_nas():
    result = identify(mdns.parse_packet(qnap_enumeration(), "198.18.0.80", 5353))
    assert (result.vendor, result.model, result.device_type, result.is_camera) == ("qnap", "TS-453D", "nas", False)


def test_homekit_needs_its_camera_category():
    camera = identify(mdns.parse_packet(HOMEKIT_CAMERA, "198.18.0.70", 5353))
    assert (camera.model, camera.device_type) == ("Porch Camera", "ip-camera")
    lamp = announcement("_hap._tcp.local.", "Desk Lamp 1A2B", "Desk-Lamp-1A2B.local.", 51826,
                        txt_rdata(b"c#=1", b"ff=0", b"id=11:22:33:44:55:66", b"md=Desk Lamp", b"ci=5"), "198.18.0.71")
    assert not identify(mdns.parse_packet(lamp, "198.18.0.71", 5353)).is_camera


def test_apple_tv_is_a_media_renderer():
    txt = txt_rdata(b"deviceid=AA:BB:CC:00:11:22", b"model=AppleTV6,2", b"srcvers=670.6.2")
    airplay = announcement("_airplay._tcp.local.", "Living Room", "Living-Room.local.", 7000, txt, "198.18.0.72")
    result = identify(mdns.parse_packet(airplay, "198.18.0.72", 5353))
    assert (result.vendor, result.model, result.device_type, result.is_camera) == (
        "apple", "AppleTV6,2", "media-renderer", False)


# --- the rules themselves ---------------------------------------------------------------------------

DISCOVERY_FIELDS = ("sadp.", "dhip.", "wsd.", "onvif.", "upnp.", "ssdp.", "mdns.")


@pytest.mark.parametrize("prefix", DISCOVERY_FIELDS)
def test_every_discovery_protocol_has_rules_with_references(prefix):
    rules = [rule for rule in default_rules() if rule.field.startswith(prefix)]
    assert rules
    assert all(rule.reference.strip() and rule.description.strip() for rule in rules)


def test_protocol_replies_weigh_more_than_generic_hints():
    weights = {rule.id: rule.weight for rule in default_rules()}
    own_protocol = ["sadp-protocol-hikvision", "dhip-serial-dahua-protocol", "onvif-manufacturer-hikvision"]
    generic = ["wsd-types-nvt", "wsd-type-video-encoder", "wsd-type-nvt", "mdns-rtsp"]
    assert min(weights[rule] for rule in own_protocol) >= 0.85
    assert max(weights[rule] for rule in generic) <= 0.4
