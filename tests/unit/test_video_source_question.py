"""A camera's one question about its video sources (issue 15): ONVIF or ISAPI, at most
MAX_SOURCE_QUESTION_REQUESTS requests, two or more sources stored as its sensors, one source
nothing, a refusal never asked again."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from netaddr import IPSet

from camscan.channels import MAX_SOURCE_QUESTION_REQUESTS
from camscan.channels.runner import ask_video_sources, source_question
from camscan.credentials import Account, Credentials
from camscan.fingerprint.identify import Identifier
from camscan.model import Device, Observation, Service
from camscan.probes.onvif import NO_HTTP_ANSWER, OnvifMessages
from camscan.protocols import isapi, onvif
from camscan.scanner import Scan, ScanSettings
from camscan.scope import Scope
from camscan.store import Store
from inventory import Clock
from test_channel_store import CAMERA_IP, T0, CannedTransport, swept_camera
from test_channels import (DIGEST_401, DVR_VIDEO_INPUTS, MEDIA2_VIDEO_SOURCE_CONFIGURATIONS, NOT_AUTHORIZED,
                           ONVIF_SERVICES, ONVIF_SERVICES_WITHOUT_MEDIA2, ONVIF_VIDEO_SOURCES, http_reply)

ONVIF_CAMERA_IP = "198.18.40.40"
ONE_VIDEO_SOURCE = ONVIF_VIDEO_SOURCES.replace(
    b'<trt:VideoSources token="VideoSource_2"><tt:Framerate>25</tt:Framerate>\n'
    b"<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></trt:VideoSources>\n", b"")
# The first two inputs of the Hikvision VideoInputChannelList: a dual-sensor camera's answer.
TWO_VIDEO_INPUTS = DVR_VIDEO_INPUTS[:DVR_VIDEO_INPUTS.index(b"<VideoInputChannel", 600)] + b"</VideoInputChannelList>\n"


def account(service: str) -> Account:
    return Account(number=1, service=service, targets=("198.18.40.0/24",), addresses=IPSet(["198.18.40.0/24"]),
                   username="source-auditor", password="s3cret-source")


def onvif_camera(refused_anonymous: bool) -> Device:
    """An Axis camera as discovery's ONVIF follow-up left it: GetDeviceInformation answered to an
    anonymous caller, or refused to it and answered to the configured account."""
    at = T0.timestamp()
    seen = [Observation(ONVIF_CAMERA_IP, "onvif", "onvif.manufacturer", "AXIS", 80, observed_at=at),
            Observation(ONVIF_CAMERA_IP, "onvif", "onvif.model", "P3719-PLE", 80, observed_at=at)]
    if refused_anonymous:
        seen += [Observation(ONVIF_CAMERA_IP, "onvif", "onvif.refused",
                             "GetDeviceInformation anonymous: Sender not Authorized", 80, observed_at=at),
                 Observation(ONVIF_CAMERA_IP, "onvif", "onvif.access", "GetDeviceInformation with the configured account",
                             80, observed_at=at)]
    else:
        seen.append(Observation(ONVIF_CAMERA_IP, "onvif", "onvif.access", "GetDeviceInformation anonymous", 80,
                                observed_at=at))
    return Device(ip=ONVIF_CAMERA_IP, mac="ac:cc:8e:40:00:40", mac_seen=True,
                  services=[Service(ONVIF_CAMERA_IP, 80, "http")], observations=seen,
                  identification=Identifier().identify(seen))


def scanned(tmp_path, device: Device, replies: dict, credentials: Credentials | None = None, channels: bool = True):
    """The scan's channel pass over ``device`` alone: (requests as (path, signed), stored devices)."""
    assert device.identification.device_type == "ip-camera"
    transport = CannedTransport(replies)
    with Store(tmp_path / "camscan.db", clock=Clock(T0)) as store:
        scan_id = store.start_scan(["198.18.40.0/24"], {})
        settings = ScanSettings(ports=[80], credentials=credentials or Credentials(), channels=channels)
        scan = Scan(Scope(["198.18.40.0/24"]), settings, store, scan_id)
        scan._record(device.ip, device.services, device.observations)
        asyncio.run(scan._recorder_pass(transport))
        devices = store.devices()
    assert {ip for ip, _, _, _ in transport.sent} <= {device.ip}
    return [(payload.split(b" ")[1].decode(), signed) for _, _, payload, signed in transport.sent], devices


def onvif_replies(services: bytes, media: dict[str, bytes]) -> dict:
    return {onvif.DEVICE_SERVICE_PATH: [http_reply("200 OK", services.replace(b"198.18.40.10",
                                                                               ONVIF_CAMERA_IP.encode()))],
            **{path: [reply] for path, reply in media.items()}}


def sensors_of(devices: list[dict], ip: str) -> list[tuple]:
    return [(d["channel"], d["connection"], d["is_camera"], d["device_type"]) for d in devices if d["attached_to"] == ip]


def test_a_single_source_onvif_camera_costs_two_requests_and_stores_nothing(tmp_path):
    sent, devices = scanned(tmp_path, onvif_camera(refused_anonymous=False), onvif_replies(
        ONVIF_SERVICES_WITHOUT_MEDIA2, {"/onvif/Media": http_reply("200 OK", ONE_VIDEO_SOURCE)}))
    assert sent == [(onvif.DEVICE_SERVICE_PATH, False), ("/onvif/Media", False)]
    assert len(sent) <= MAX_SOURCE_QUESTION_REQUESTS
    assert [(d["channels"], d["channel_count"]) for d in devices] == [(None, None)]


def test_an_open_onvif_camera_with_two_sources_lists_them_as_its_sensors(tmp_path):
    sent, devices = scanned(tmp_path, onvif_camera(refused_anonymous=False), onvif_replies(
        ONVIF_SERVICES_WITHOUT_MEDIA2, {"/onvif/Media": http_reply("200 OK", ONVIF_VIDEO_SOURCES)}))
    assert sent == [(onvif.DEVICE_SERVICE_PATH, False), ("/onvif/Media", False)]
    [camera] = [d for d in devices if d["ip"] == ONVIF_CAMERA_IP]
    assert (camera["is_camera"], camera["channels"], camera["channel_count"]) == (True, "enumerated", 2)
    assert sensors_of(devices, ONVIF_CAMERA_IP) == [(1, "sensor", False, None), (2, "sensor", False, None)]


def test_a_camera_that_refused_anonymous_onvif_is_asked_with_its_account_over_media2(tmp_path):
    credentials = Credentials([account("onvif")])
    sent, devices = scanned(tmp_path, onvif_camera(refused_anonymous=True), onvif_replies(
        ONVIF_SERVICES, {"/onvif/Media2": http_reply("200 OK", MEDIA2_VIDEO_SOURCE_CONFIGURATIONS)}), credentials)
    # GetServices is PRE_AUTH: anonymous; the media question carries the account from the start.
    assert sent == [(onvif.DEVICE_SERVICE_PATH, False), ("/onvif/Media2", True)]
    assert sensors_of(devices, ONVIF_CAMERA_IP) == [(1, "sensor", False, None), (2, "sensor", False, None)]
    assert [offered for _, offered in credentials.offers()] == [1]


def test_a_camera_that_refused_anonymous_onvif_and_has_no_account_is_not_asked(tmp_path):
    sent, devices = scanned(tmp_path, onvif_camera(refused_anonymous=True), onvif_replies(
        ONVIF_SERVICES, {"/onvif/Media2": http_reply("200 OK", MEDIA2_VIDEO_SOURCE_CONFIGURATIONS)}),
        Credentials([account("http")]))
    assert sent == [] and [d["channels"] for d in devices] == [None]


def test_a_refused_media_question_is_not_asked_again_even_with_an_account(tmp_path):
    credentials = Credentials([account("onvif")])
    sent, devices = scanned(tmp_path, onvif_camera(refused_anonymous=False), onvif_replies(
        ONVIF_SERVICES_WITHOUT_MEDIA2, {"/onvif/Media": http_reply("400 Bad Request", NOT_AUTHORIZED)}), credentials)
    assert sent == [(onvif.DEVICE_SERVICE_PATH, False), ("/onvif/Media", False)]
    assert [d["channels"] for d in devices] == [None]
    assert [offered for _, offered in credentials.offers()] == [0]


def test_a_hikvision_camera_without_an_account_stops_at_the_first_401(tmp_path):
    sent, devices = scanned(tmp_path, swept_camera(), {isapi.ANALOG_CHANNELS_PATH: [DIGEST_401]})
    assert sent == [(isapi.ANALOG_CHANNELS_PATH, False)]
    assert [d["channels"] for d in devices] == [None]


def test_a_dual_sensor_hikvision_camera_lists_its_sensors_through_isapi_with_digest(tmp_path):
    assert len(isapi.parse_analog_channels(TWO_VIDEO_INPUTS)) == 2
    credentials = Credentials([account("http")])
    sent, devices = scanned(tmp_path, swept_camera(), {
        isapi.ANALOG_CHANNELS_PATH: [DIGEST_401, http_reply("200 OK", TWO_VIDEO_INPUTS)]}, credentials)
    assert sent == [(isapi.ANALOG_CHANNELS_PATH, False), (isapi.ANALOG_CHANNELS_PATH, True)]
    assert sensors_of(devices, CAMERA_IP) == [(1, "sensor", False, None), (2, "sensor", False, None)]
    [camera] = [d for d in devices if d["ip"] == CAMERA_IP]
    assert (camera["is_camera"], camera["channel_count"]) == (True, 2)


def test_a_lockout_sign_ends_the_question_at_once(tmp_path):
    locked = http_reply("401 Unauthorized", b"<statusString>Too many failed logins: locked</statusString>",
                        'WWW-Authenticate: Digest realm="IP Camera", qop="auth", nonce="6c6f636b6564"\r\n')
    credentials = Credentials([account("http")])
    sent, devices = scanned(tmp_path, swept_camera(), {isapi.ANALOG_CHANNELS_PATH: [locked]}, credentials)
    assert sent == [(isapi.ANALOG_CHANNELS_PATH, False)]
    assert [offered for _, offered in credentials.offers()] == [0]


def test_without_channel_inventory_no_camera_is_asked(tmp_path):
    for device in (swept_camera(), onvif_camera(refused_anonymous=False)):
        sent, devices = scanned(tmp_path / device.ip, device, {}, Credentials([account("http")]), channels=False)
        assert sent == [] and [d["channels"] for d in devices] == [None]


def test_only_a_camera_that_answered_onvif_or_is_hikvision_made_is_asked():
    maker_of = Identifier().catalogue.manufacturer_of
    camera = onvif_camera(refused_anonymous=False)
    silent = [Observation(ONVIF_CAMERA_IP, "onvif", "onvif.refused", f"GetDeviceInformation anonymous: {NO_HTTP_ANSWER}",
                          80, observed_at=T0.timestamp())]
    assert source_question(camera, maker_of) == "onvif"
    assert source_question(replace(camera, observations=camera.observations[:2] + silent), maker_of) is None
    assert source_question(swept_camera(), maker_of) == "isapi"
    assert source_question(replace(swept_camera(), services=[]), maker_of) is None  # ISAPI needs a web port
    counted = Observation(ONVIF_CAMERA_IP, "dhip", "dhip.video_inputs", "1", None, observed_at=T0.timestamp())
    assert source_question(replace(camera, observations=[*camera.observations, counted]), maker_of) is None


def test_a_stale_nonce_gets_no_third_request():
    """RFC 7616 s3.3's stale retry is the recorder inventory's; the two-request bound comes first."""
    stale = http_reply("401 Unauthorized", b"", 'WWW-Authenticate: Digest realm="DS-7608NXI", qop="auth", '
                                               'nonce="7374616c65", stale="true"\r\n')
    credentials = Credentials([account("http")])
    transport = CannedTransport({isapi.ANALOG_CHANNELS_PATH: [DIGEST_401, stale, http_reply("200 OK", TWO_VIDEO_INPUTS)]})
    sensors, _ = asyncio.run(ask_video_sources(transport, swept_camera(), "isapi", credentials, OnvifMessages()))
    assert sensors is None and len(transport.sent) == MAX_SOURCE_QUESTION_REQUESTS
