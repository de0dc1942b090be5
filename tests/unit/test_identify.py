"""Combining evidence from several sources into one identification."""

from importlib.resources import files

from camscan.fingerprint.identify import Identifier, noisy_or
from camscan.model import Observation

IDENTIFIER = Identifier()


def seen(field, value, port=None, source="test"):
    return Observation(ip="198.18.0.9", source=source, field=field, value=value, port=port)


def test_banner_and_oui_agree_on_hikvision():
    result = IDENTIFIER.identify([
        seen("mac.address", "44:19:b6:01:02:03", source="arp"),
        seen("http.server", "App-webs/", 80),
        seen("http.www_authenticate", 'Digest qop="auth", realm="IP Camera(C2183)", nonce="4e54"', 80),
    ])
    assert (result.vendor, result.manufacturer, result.device_type) == ("hikvision", "hikvision", "ip-camera")
    assert result.is_camera and result.confidence > 0.9
    assert {item.signature for item in result.evidence} >= {"ieee-oui:hikvision"}


def test_rebadged_dahua_keeps_the_brand_on_the_box():
    result = IDENTIFIER.identify([
        seen("mac.address", "00:1f:55:12:34:56", source="arp"),  # Honeywell Security (China)
        seen("rtsp.server", "Dahua Rtsp Server", 554),
    ])
    assert (result.vendor, result.manufacturer, result.is_camera) == ("honeywell", "dahua", True)
    alone = IDENTIFIER.identify([seen("rtsp.server", "Dahua Rtsp Server", 554)])
    assert result.confidence >= alone.confidence  # the reseller's MAC is no conflict


def test_a_video_makers_mac_on_another_makers_firmware_is_a_conflict_not_a_rebadge():
    result = IDENTIFIER.identify([
        seen("mac.address", "00:40:8c:aa:bb:cc", source="arp"),  # Axis
        seen("rtsp.server", "Dahua Rtsp Server", 554),
    ])
    assert (result.vendor, result.manufacturer) == ("dahua", "dahua")


def test_amcrest_mac_alone_names_dahua_as_maker():
    amcrest = IDENTIFIER.catalogue.get("amcrest")
    assert amcrest.ieee_names
    with open(files("netaddr.eui").joinpath("oui.txt"), encoding="utf-8", errors="replace") as registry:
        prefix = next(line.split()[0] for line in registry if "(hex)" in line and amcrest.ieee_names[0] in line)
    result = IDENTIFIER.identify([seen("mac.address", prefix.replace("-", ":") + ":00:00:01", source="arp")])
    assert (result.vendor, result.manufacturer) == ("amcrest", "dahua")


def test_media_servers_printers_and_plain_servers_are_not_cameras():
    for field, value in [
        ("rtsp.server", "LIVE555 Streaming Media v2016.01.12"),
        ("rtsp.server", "Wowza Streaming Engine 4.8.5 build20200616153358"),
        ("http.server", "HP HTTP Server; HP LaserJet MFP M227fdw - G3Q75A; Serial Number: VNB3M12345"),
        ("http.server", "Microsoft-IIS/10.0"),
        ("ssh.banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
    ]:
        result = IDENTIFIER.identify([seen(field, value)])
        assert not result.is_camera, (field, value, result.device_type)


def test_camera_banner_outweighs_an_embedded_live555():
    result = IDENTIFIER.identify([
        seen("rtsp.server", "LIVE555 Streaming Media v2016.01.12", 554),
        seen("rtsp.server", "Hipcam RealServer/V1.0", 554),
    ])
    assert result.vendor == "hipcam" and result.is_camera


def test_mixed_maker_needs_a_stream_to_be_a_camera():
    router = IDENTIFIER.identify([seen("mac.address", "40:ed:00:11:22:33", source="arp")])
    assert router.vendor == "tplink" and not router.is_camera
    tapo = IDENTIFIER.identify([seen("mac.address", "40:ed:00:11:22:33", source="arp"), seen("rtsp.status", "401 DESCRIBE", 554)])
    assert tapo.device_type == "ip-camera"


def test_conflicting_makers_lower_confidence():
    alone = IDENTIFIER.identify([seen("rtsp.server", "Dahua Rtsp Server", 554)])
    disputed = IDENTIFIER.identify([
        seen("rtsp.server", "Dahua Rtsp Server", 554),
        seen("mac.address", "00:40:8c:aa:bb:cc", source="arp"),  # Axis
    ])
    assert disputed.confidence < alone.confidence


def test_the_same_banner_twice_counts_once():
    once = IDENTIFIER.identify([seen("http.server", "App-webs/", 80)])
    twice = IDENTIFIER.identify([seen("http.server", "App-webs/", 80), seen("http.server", "App-webs/", 8080)])
    assert once.confidence == twice.confidence


def test_the_same_banner_on_several_ports_is_evidence_from_the_lowest_whichever_came_first():
    https_first = [seen("http.server", "DNVRS-Webs", 443), seen("http.server", "DNVRS-Webs", 80)]
    for observations in (https_first, https_first[::-1]):
        [evidence] = IDENTIFIER.evidence(observations)
        assert evidence.port == 80


def test_nothing_known_means_no_claims():
    result = IDENTIFIER.identify([seen("mac.address", "02:11:22:33:44:55", source="arp"), seen("tcp.open", "80", 80)])
    assert (result.vendor, result.device_type, result.confidence, result.evidence) == (None, None, 0.0, [])


def test_noisy_or():
    assert noisy_or([]) == 0.0
    assert round(noisy_or([0.5, 0.5]), 3) == 0.75
