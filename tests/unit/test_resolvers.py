"""The generic resolvers: company names, brand names in free text, model families and kind words
resolve through the maker catalogue, on real strings from public sources no rule was written for."""

from __future__ import annotations

import pytest

from camscan.fingerprint.identify import Identifier
from camscan.fingerprint.resolvers import default_resolvers
from camscan.fingerprint.vendors import default_catalogue, name_forms
from camscan.model import CAMERA_DEVICE_TYPES, Observation
from camscan.protocols import sdp

CATALOGUE = default_catalogue()


@pytest.fixture(scope="module")
def identifier() -> Identifier:
    return Identifier()


def identify(identifier: Identifier, *seen: tuple[str, str]):
    return identifier.identify([Observation(ip="198.18.0.2", source="test", field=f, value=v) for f, v in seen])


@pytest.mark.parametrize(("name", "key"), [
    ("HIKVISION", "hikvision"),
    ("Hangzhou Hikvision Digital Technology Co.,Ltd.", "hikvision"),
    ("Zhejiang Dahua Technology Co., Ltd.", "dahua"),
    ("Axis Communications AB", "axis"),
    ("TP-LINK", "tplink"),
    ("TP-Link Technologies Co., Ltd.", "tplink"),
    ("Hanwha Vision", "hanwha"),
    ("Samsung Techwin", "hanwha"),
    ("Wisenet", "hanwha"),
    ("Motorola Solutions, Inc.", "motorolasolutions"),
    ("ProvisionISR", "provisionisr"),  # ONVIF device name in home-assistant/core#77119
    ("Provision-ISR", "provisionisr"),
    ("uniview", "uniview"),
    ("UNV", "uniview"),
    ("Bosch Security Systems, Inc.", "bosch"),
    ("Shenzhen Reolink Technology Co., Ltd.", "reolink"),
])
def test_key_for_name_reads_names_as_devices_write_them(name, key):
    assert CATALOGUE.key_for_name(name) == key


@pytest.mark.parametrize("name", ["Technology Co., Ltd.", "Linux", "IPCAM", "", "General"])
def test_key_for_name_knows_when_it_does_not_know(name):
    assert CATALOGUE.key_for_name(name) is None


def test_no_two_makers_claim_the_same_name():
    """A name, alias or registry name written out in full belongs to one catalogue entry."""
    owners: dict[str, set[str]] = {}
    for vendor in CATALOGUE.vendors.values():
        for name in (vendor.key, vendor.name, vendor.display_name, *vendor.aliases, *vendor.ieee_names):
            owners.setdefault(name_forms(name)[0], set()).add(vendor.key)
    assert not {form: keys for form, keys in owners.items() if len(keys) > 1}


def test_the_catalogue_is_large_and_grounded():
    surveillance = [v for v in CATALOGUE.vendors.values() if CAMERA_DEVICE_TYPES & set(v.makes)]
    assert len(surveillance) >= 150
    assert all(v.reference for v in CATALOGUE.vendors.values())
    assert all(family.reference for v in CATALOGUE.vendors.values() for family in v.models)


@pytest.mark.parametrize(("vendor", "family"), [
    (vendor.key, family) for vendor in CATALOGUE.vendors.values() for family in vendor.models
], ids=lambda item: getattr(item, "family", item))
def test_every_model_family_example_is_found_in_text(vendor, family):
    resolvers = default_resolvers()
    for example in family.examples:
        found = resolvers.models_in(f"Model: {example} (firmware 1.0)")
        assert (family, example) in found, f"{vendor} {family.family}: {example} not found, got {found}"


@pytest.mark.parametrize(("seen", "vendor", "kind"), [
    # ONVIF discovery names no rule was written for (agsh/onvif#29: VIVOTEK FD8136, INTELBRAS VIP-S3120).
    ((("wsd.scope.name", "VIVOTEK"), ("wsd.scope.hardware", "FD8136")), "vivotek", "ip-camera"),
    ((("wsd.scope.hardware", "VIP-S3120"),), "intelbras", "ip-camera"),
    # home-assistant/core#77119: an ONVIF NVR whose device name is ProvisionISR.
    ((("onvif.manufacturer", "ProvisionISR"),), "provisionisr", "ip-camera"),
    # Jazea/Onvif.Core#55: Hanwha Vision cameras name their maker in the discovery scopes.
    ((("wsd.scope.manufacturer", "Hanwha Vision"),), "hanwha", "ip-camera"),
    # A company name in another case and with its legal suffix (UPnP <manufacturer>, IEEE spelling).
    # (Hikvision makes intercoms and access control too: the company name alone says no kind.)
    ((("upnp.manufacturer", "Hangzhou Hikvision Digital Technology Co.,Ltd."),), "hikvision", None),
    # A Dahua recorder's WS-Discovery hardware scope is only its model (DH-XVR5108HS-X).
    ((("wsd.scope.hardware", "DH-XVR5108HS-X"),), "dahua", "dvr"),
    # The brand named in free text: home-assistant/core#77779 (Reolink E1 Pro), a TP-Link SDP session.
    ((("html.title", "Reolink E1 Pro"),), "reolink", "ip-camera"),
    ((("rtsp.server", "Dahua Rtsp Server"),), "dahua", "ip-camera"),
    ((("html.title", "Amcrest IP camera"),), "amcrest", "ip-camera"),
    # A component maker names itself where a device answers for itself: Sony's RTSP server.
    ((("rtsp.server", "Sony RTSP Server"),), "sony", "ip-camera"),
    # evercam/evercam-discovery-java#32: a TP-Link camera known by its model only.
    ((("wsd.scope.hardware", "TL-SC3130G"),), "tplink", "ip-camera"),
])
def test_devices_that_name_themselves_are_named(identifier, seen, vendor, kind):
    result = identify(identifier, *seen)
    assert vendor in (result.vendor, result.manufacturer)
    assert result.device_type == kind


@pytest.mark.parametrize(("seen", "kind"), [
    # Hikvision DS-KH indoor station answering SADP (model from hikvision.com), a Dahua ASI face
    # terminal answering DHIP, and a Dahua VTO door station: covered equipment, but no cameras.
    (("sadp.device_type", "DS-KH6320-WTE1"), "intercom"),
    (("dhip.device_type", "ASI7213X-T1"), "access-control"),
    (("dhip.device_class", "VTO"), "intercom"),
    (("dhip.device_type", "VTO2000A"), "intercom"),
    (("wsd.scope.hardware", "DS-K1T341AMF"), "access-control"),
])
def test_intercoms_and_access_terminals_of_camera_makers_keep_their_kind(identifier, seen, kind):
    result = identify(identifier, seen)
    assert result.device_type == kind
    assert not result.is_camera
    assert result.manufacturer in ("hikvision", None) or result.manufacturer == "dahua"


@pytest.mark.parametrize(("seen", "kind"), [
    (("html.title", "Network Video Recorder Login"), "nvr"),
    (("ftp.banner", "220 IP Camera FTP server ready"), "ip-camera"),
    (("http.www_authenticate", 'Basic realm="DVR"'), "dvr"),
    (("upnp.friendly_name", "Indoor Station"), "intercom"),
])
def test_a_device_that_says_what_it_is_gets_that_kind_without_a_maker(identifier, seen, kind):
    assert identify(identifier, seen).device_type == kind


def test_the_kind_prefilter_admits_every_kind_word():
    """The resolver runs only the kind words whose required literal a value holds: each word's
    examples must still find it."""
    resolvers = default_resolvers()
    missed = [text for word in resolvers.kind_words for text in word.examples if word not in resolvers.kinds_in(text)]
    assert not missed


def test_an_sdp_names_the_kinds_of_media_its_streams_carry():
    """RFC 8866 section 5.14: the first word of each m= line; session-level lines still come first."""
    body = (b"v=0\r\no=- 1 1 IN IP4 198.18.0.2\r\ns=Media Presentation\r\nt=0 0\r\n"
            b"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\ns=not the session\r\n"
            b"m=audio 0 RTP/AVP 8\r\nm=video 0 RTP/AVP 97\r\n")
    assert sdp.session_fields(body) == {"sdp.session_name": "Media Presentation", "sdp.media": "video audio"}


def test_a_video_track_makes_a_camera_unless_a_media_server_marks_itself(identifier):
    camera = identify(identifier, ("rtsp.status", "200 DESCRIBE"), ("sdp.media", "video audio"))
    assert camera.device_type == "ip-camera"
    audio_only = identify(identifier, ("rtsp.status", "200 DESCRIBE"), ("sdp.media", "audio"))
    assert audio_only.device_type is None
    restreamer = identify(identifier, ("sdp.tool", "LIVE555 Streaming Media v2020.03.06"), ("sdp.media", "video"))
    assert (restreamer.device_type, restreamer.is_camera) == ("media-server", False)
    go2rtc = identify(identifier, ("rtsp.status", "200 DESCRIBE"), ("sdp.session_name", "go2rtc"), ("sdp.media", "video"))
    assert (go2rtc.device_type, go2rtc.is_camera) == ("media-server", False)


@pytest.mark.parametrize("seen", [
    # Component makers: a sensor, an SoC and a web server named on a page are not the maker.
    ("html.title", "Sony IMX335 Starvis sensor module"),
    ("html.title", "5MP Sony Starvis sensor IP camera"),
    ("http.server", "HiSilicon Hi3516 SDK"),
    ("http.server", "GoAhead-Webs"),
    # Common words are brands only beside a word for video gear.
    ("html.title", "Ring the bell"),
    ("html.title", "Canary Wharf office"),
    ("ssh.banner", "SSH-2.0-OpenSSH_8.2 Nest"),
])
def test_component_makers_and_common_words_name_no_camera_maker(identifier, seen):
    result = identify(identifier, seen)
    assert result.vendor not in ("sony", "hisilicon", "ring", "canary", "nest")
    assert not result.is_camera or "camera" in seen[1]


def test_a_common_word_brand_counts_beside_video_words(identifier):
    result = identify(identifier, ("html.title", "Ring Stick Up Cam Battery"))
    assert (result.vendor, result.device_type) == ("ring", "ip-camera")


def test_a_page_that_names_several_brands_names_none():
    resolvers = default_resolvers()
    shop = Observation(ip="198.18.0.2", source="test", field="http.body",
                       value="<p>We install Hikvision, Dahua and Axis cameras</p>")
    assert resolvers.evidence([shop], []) == []
    own = Observation(ip="198.18.0.2", source="test", field="http.body",
                      value='<a href="https://fonts.googleapis.com/x">x</a><div>Copyright Milesight</div>')
    assert [item.signature for item in resolvers.evidence([own], [])] == ["catalogue:token:milesight"]
    plugin = Observation(ip="198.18.0.2", source="test", field="http.body",
                         value="<p>Please use Microsoft Internet Explorer to view live video</p>")
    assert resolvers.evidence([plugin], []) == []


def test_a_rule_that_names_the_brand_keeps_the_say_over_its_maker(identifier):
    """Panasonic WV- pages are made by i-PRO (html_title.yaml); the WV- family must not make Panasonic the maker."""
    result = identify(identifier, ("html.title", "WV-S1131 Network Camera"), ("wsd.scope.hardware", "WV-S1131"))
    assert (result.vendor, result.manufacturer, result.model) == ("panasonic", "ipro", "WV-S1131")


def test_the_mac_registrant_is_read_through_the_same_catalogue():
    assert CATALOGUE.vendor_for_org("Provision-ISR") == "provisionisr"
    assert CATALOGUE.vendor_for_org("Hangzhou Hikvision Digital Technology Co.,Ltd.") == "hikvision"
    # Registry names not listed in the catalogue resolve when only their legal form differs ...
    assert CATALOGUE.vendor_for_org("AV TECH CORPORATION") == "avtech"
    assert CATALOGUE.vendor_for_org("Geutebrück GmbH") == "geutebruck"


@pytest.mark.parametrize("org", ["B-Link Electronic Limited", "CANARY COMMUNICATIONS, INC.", "Basler Electric Company",
                                 "Shenzhen Costar Electronics Co. Ltd.", "Juniper Systems"])
def test_other_companies_in_the_registry_are_not_camera_makers_of_a_like_name(org):
    """... but not when a descriptive word differs: these IEEE registrants share a word with a camera brand."""
    assert CATALOGUE.vendor_for_org(org) is None


@pytest.fixture(scope="module")
def catalogue_alone() -> Identifier:
    """The identifier without a single rule: what the catalogue's generic layer says by itself."""
    return Identifier(rules=[], recog=False)


@pytest.mark.parametrize(("seen", "vendor", "camera"), [
    # Recog rtsp_servers.xml / realworld_banners.yaml: a brand glued to the words after it.
    (("rtsp.server", "AvigilonOnvifNvt/2.6.0.130"), "avigilon", True),
    (("rtsp.www_authenticate", 'Basic realm="DahuaRtsp"'), "dahua", True),
    # Recog html_title.xml: a component maker named as the device's maker.
    (("html.title", "Sony Network Camera"), "sony", True),
    (("html.title", "IQeye703 IQEYE011750: Live Images"), "iqinvision", True),
    # zmap/ztag FTP banners: Axis also made print servers and video decoders, which are no cameras.
    (("ftp.banner", "220 AXIS 560 FTP Network Print Server V6.00 Jul 7 1999 ready."), "axis", False),
    (("ftp.banner", "220 AXIS P7701 Video Decoder 5.07.2 (Apr 20 2010) ready."), "axis", False),
    (("rtsp.server", "Cisco MediaSense Media Server"), "cisco", False),
    # The plug-in a Lorex recorder's page offers (realworld_banners.yaml).
    (("http.body", '<a href="/lorex_webplugin.exe">Download plug-in</a>'), "lorex", True),
])
def test_the_catalogue_alone_names_makers_and_kinds(catalogue_alone, seen, vendor, camera):
    result = identify(catalogue_alone, seen)
    assert vendor in (result.vendor, result.manufacturer)
    assert result.is_camera == camera, result.device_type


@pytest.mark.parametrize(("seen", "kind", "camera"), [
    # HomeKit Accessory Protocol _hap._tcp TXT ci: category 18 is Video Doorbell, 17 IP Camera
    # (apple/HomeKitADK HAP.h kHAPAccessoryCategory_VideoDoorbells / _IPCameras).
    (("mdns.txt", "ci=18"), "doorbell", True),
    (("mdns.txt", "ci=17"), "ip-camera", True),
    # ONVIF's display (decoder) device type, as an ONVIF server writes it: strcpy(onvif->dev_type,
    # "dn:NetworkVideoDisplay") in a public ONVIF discovery implementation.
    (("wsd.types", "dn:NetworkVideoDisplay"), "video-decoder", False),
    # A recorder's ONVIF type scope (drko-dev/monitoreoedgeis TestClassifyDeviceType).
    (("wsd.scope.type", "Network_Video_Recorder"), "nvr", True),
    # UPnP Forum WLANAccessPointDevice:1 (Home Assistant's Speedport SSDP matcher, a NETGEAR description).
    (("upnp.device_type", "urn:schemas-upnp-org:device:WLANAccessPointDevice:1"), "access-point", False),
])
def test_kinds_that_standard_fields_state(identifier, seen, kind, camera):
    result = identify(identifier, seen)
    assert (result.device_type, result.is_camera) == (kind, camera)


@pytest.mark.parametrize(("seen", "vendor", "kind", "model"), [
    # A Hikvision SADP listing in a public repository: DS-7104NI-Q1/M is a 4-channel NVR.
    (("sadp.device_type", "DS-7104NI-Q1/M"), "hikvision", "nvr", "DS-7104NI-Q1/M"),
    (("dhcp.host_name", "DS-7604NI-Q1"), "hikvision", "nvr", "DS-7604NI-Q1"),
    # "DS-6901UDI(C)", a Hikvision video decoder, in a public product list: covered, but no camera.
    (("onvif.model", "DS-6901UDI(C)"), "hikvision", "video-decoder", "DS-6901UDI(C)"),
    # The model a Reolink battery camera reports in a public Reolink client's test fixture.
    (("onvif.model", "Argus 3 Pro"), "reolink", "ip-camera", "Argus 3 Pro"),
    # LibreNMS tests/snmpsim/axiscam.snmprec: an Axis camera's sysDescr, read as free text.
    (("snmp.sys_descr", "; AXIS P5534-E; PTZ Dome Network Camera; 5.40.9.2; May 15 2012 09:50; 188.1; 1;"),
     "axis", "ip-camera", "AXIS P5534-E"),
    # UniFi Protect's SKU of its doorbell (ui.com) and a Ring product name (ring.com).
    (("upnp.model_name", "UVC-G4-Doorbell"), "ubiquiti", "doorbell", "UVC-G4-Doorbell"),
    # UniFi Protect's type of its doorbell (homebridge-unifi-protect), in Ubiquiti discovery's model TLV.
    (("ubnt.model", "UVC G4 Doorbell"), "ubiquiti", "doorbell", "UVC G4 Doorbell"),
    (("mdns.instance", "Ring Video Doorbell Pro"), "ring", "doorbell", "Ring Video Doorbell Pro"),
    # An Avigilon SKU from ch-bas/cctv-camera-database#277 (checked there against the H5A datasheet).
    (("wsd.scope.hardware", "5.0C-H5A-DO2"), "avigilon", "ip-camera", "H5A-DO2"),
    # Dahua-made doorbells by the models a public Dahua Home Assistant integration's tests list.
    (("onvif.model", "DB61I"), "imou", "doorbell", "DB61I"),
    (("onvif.model", "AD410"), "amcrest", "doorbell", "AD410"),
    # The analog cameras behind a recorder's channels, as a recorder reports their models: a DVR
    # channel list in a public repository (DH-HAC-HFW1200THP) and a Hikvision Turbo HD camera
    # in public product lists (DS-2CE16D0T-IRF).
    (("channel.model", "DH-HAC-HFW1200THP"), "dahua", "ip-camera", "DH-HAC-HFW1200THP"),
    (("channel.model", "DS-2CE16D0T-IRF"), "hikvision", "ip-camera", "DS-2CE16D0T-IRF"),
])
def test_model_families_name_maker_kind_and_model_wherever_a_model_appears(identifier, seen, vendor, kind, model):
    result = identify(identifier, seen)
    assert (result.vendor, result.device_type, result.model) == (vendor, kind, model)



@pytest.mark.parametrize(("seen", "kind"), [
    # UPnP Forum device types announced in SSDP NOTIFY NT / answered in M-SEARCH ST headers
    # (UPnP Device Architecture 2.0 §1.2.2, §1.3.3) read as the description's <deviceType>.
    (("ssdp.nt", "urn:schemas-upnp-org:device:DigitalSecurityCamera:1"), "ip-camera"),
    (("ssdp.st", "urn:schemas-upnp-org:device:WLANAccessPointDevice:1"), "access-point"),
    (("ssdp.st", "urn:schemas-upnp-org:device:Printer:1"), "printer"),
    (("ssdp.nt", "urn:schemas-upnp-org:device:InternetGatewayDevice:2"), "router"),
])
def test_ssdp_device_types_read_as_upnp_device_types(identifier, seen, kind):
    assert identify(identifier, seen).device_type == kind


@pytest.mark.parametrize("value", [
    "XDS-7104NI-Q1",  # a model prefix inside a longer word
    "DB110 table", "AD4100",  # a model number continued by more digits
    "db11.example.org", "CN=ad410.corp.example",  # host names that spell a short model code in lower case
    "E1 Professional", "Argus 35",
])
def test_model_families_respect_word_boundaries(value):
    assert default_resolvers().models_in(value) == []
