"""Channels in the inventory: stored as devices linked to their recorder, exported, diffed, merged, reported."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from camscan.channels.runner import channel_observations, identify_channel
from camscan.cli import main
from camscan.fingerprint.identify import Identifier
from camscan.model import Channel, ChannelDevice, Device, Observation, Service
from camscan.report import gather, render_html
from camscan.store import MIGRATIONS, Store
from inventory import Clock
from test_report import NEEDS_CHROMIUM, chromium, parse, rows_of

NVR_IP = "198.18.40.10"
CAMERA_IP = "198.18.40.21"
CAMERA_MAC = "44:19:b6:40:00:21"
T0 = datetime(2026, 12, 3, 9, 0, 0, tzinfo=timezone.utc)
CHANNEL_KEYS = ("attached_to", "channel", "connection", "video", "reported_ip")


def nvr() -> Device:
    identifier = Identifier()
    seen = [Observation(NVR_IP, "http", "http.server", "DNVRS-Webs", 80, observed_at=T0.timestamp()),
            Observation(NVR_IP, "sadp", "sadp.description", "DS-7608NI-K2", None, observed_at=T0.timestamp())]
    return Device(ip=NVR_IP, mac="44:19:b6:40:00:10", mac_seen=True, services=[Service(NVR_IP, 80, "http")],
                  observations=seen, identification=identifier.identify(seen))


def swept_camera() -> Device:
    seen = [Observation(CAMERA_IP, "onvif", "onvif.manufacturer", "HIKVISION", 80, observed_at=T0.timestamp()),
            Observation(CAMERA_IP, "onvif", "onvif.serial", "DS-2CD2386G2-IU00000000AAWRK00000009", 80,
                        observed_at=T0.timestamp())]
    return Device(ip=CAMERA_IP, mac=CAMERA_MAC, mac_seen=True, services=[Service(CAMERA_IP, 80, "http")],
                  observations=seen, identification=Identifier().identify(seen))


def channel_devices(recorder: Device, camera_id: int | None, with_analog_three: bool = True) -> list[ChannelDevice]:
    reported = [Channel(1, "ip", "present", name="garden", address="198.19.254.2", port=8000, protocol="HIKVISION",
                        model="DS-2CD2386G2-IU", firmware="V5.7.15 build 240201"),
                Channel(2, "ip", "offline", address=CAMERA_IP, model="DS-2CD2386G2-IU",
                        serial="DS-2CD2386G2-IU00000000AAWRK00000009")]
    if with_analog_three:
        reported.append(Channel(3, "analog", "no-video", name="Camera 03"))
    connections = {1: "ip-poe", 2: "ip-lan", 3: "analog"}
    stored = []
    for channel in reported:
        seen = channel_observations(recorder.ip, 80, "isapi", channel)
        stored.append(ChannelDevice(channel, connections[channel.number],
                                    identify_channel(Identifier(), seen, recorder.identification), tuple(seen),
                                    same_as=camera_id if channel.number == 2 else None))
    return stored


def scan_once(store: Store, with_analog_three: bool = True, status: str = "enumerated") -> dict[str, int]:
    scan = store.start_scan([NVR_IP], {})
    recorder = nvr()
    recorder_id = store.record_device(scan, recorder)
    camera_id = store.record_device(scan, swept_camera())
    ids = store.record_channels(scan, recorder_id, status, channel_devices(recorder, camera_id, with_analog_three))
    # The recorder is stored again later in the scan (discovery replies): its channels keep their observations.
    store.record_device(scan, recorder)
    store.finish_scan(scan)
    return {"scan": scan, "recorder": recorder_id, "camera": camera_id, "channels": ids}


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "camscan.db", clock=Clock(T0)) as opened:
        yield opened


def by_channel(store: Store) -> dict:
    return {device["channel"]: device for device in store.devices() if device["channel"] is not None}


def test_export_gives_each_channel_as_its_own_device_linked_to_its_recorder(store):
    first = scan_once(store)
    devices = store.devices()
    recorder = next(d for d in devices if d["ip"] == NVR_IP)
    assert (recorder["channels"], recorder["channel_count"]) == ("enumerated", 3)
    assert all(recorder[key] is None for key in CHANNEL_KEYS)
    channels = by_channel(store)
    poe, lan, analog = channels[1], channels[2], channels[3]
    assert {key: poe[key] for key in ("ip", "mac", *CHANNEL_KEYS)} == {
        "ip": None, "mac": None, "attached_to": NVR_IP, "channel": 1, "connection": "ip-poe", "video": "present",
        "reported_ip": "198.19.254.2"}
    assert (poe["manufacturer"], poe["model"], poe["is_camera"], poe["ndaa_889"]) == (
        "hikvision", "DS-2CD2386G2-IU", True, True)
    assert (poe["channels"], poe["channel_count"]) == (None, None)
    # the ip-lan channel is the camera the sweep found (serial agrees): one device, with its address
    assert lan["id"] == first["camera"] and (lan["ip"], lan["mac"]) == (CAMERA_IP, CAMERA_MAC)
    assert (lan["connection"], lan["video"], lan["reported_ip"]) == ("ip-lan", "offline", CAMERA_IP)
    assert analog["ip"] is None and (analog["connection"], analog["video"]) == ("analog", "no-video")
    assert analog["ndaa_889"] is None and "behind a covered recorder" in analog["ndaa_basis"]
    # channels come right after their recorder
    order = [(d["ip"], d["channel"]) for d in devices]
    assert order.index((NVR_IP, None)) + 1 == order.index((None, 1))


def test_a_channels_observations_stay_its_own_when_the_recorder_is_stored_again(store):
    ids = scan_once(store)["channels"]
    [(_, seen)] = store.device_observations(ids[0])
    assert {item.field for item in seen} >= {"channel.name", "channel.model", "channel.firmware", "channel.protocol"}


def test_a_rescan_updates_the_same_channels_and_diff_names_the_camera_that_left(store):
    first = scan_once(store)
    second = scan_once(store, with_analog_three=False)
    assert second["channels"] == first["channels"][:2]
    assert len(by_channel(store)) == 3  # the analogue camera is history, not deleted
    diff = store.diff(first["scan"], second["scan"])
    [gone] = diff["gone"]
    assert (gone["attached_to"], gone["channel"], gone["connection"]) == (NVR_IP, 3, "analog")
    assert diff["new"] == []


def test_a_recorder_that_refused_this_time_loses_no_camera_in_diff(store):
    first = scan_once(store)
    second = scan_once(store, status="credentials-needed")
    diff = store.diff(first["scan"], second["scan"])
    assert diff["gone"] == [] and diff["new"] == []


def test_a_refusing_recorder_has_channels_unknown_and_no_count(store):
    scan_once(store, status="credentials-needed")
    recorder = next(d for d in store.devices() if d["ip"] == NVR_IP)
    assert (recorder["channels"], recorder["channel_count"]) == ("credentials-needed", None)
    assert by_channel(store) == {}


def test_upgrading_a_version_3_database_keeps_every_service(tmp_path):
    """The upgrade rebuilds the devices table; with foreign keys on, dropping the old one
    would delete every service, sighting, evidence and finding (ON DELETE CASCADE)."""
    path = tmp_path / "old.db"
    from sqlite_utils import Database

    db = Database(sqlite3.connect(path))
    for migrate in MIGRATIONS[:3]:
        migrate(db)
    db.execute("PRAGMA user_version = 3")
    db.execute("INSERT INTO camscan_meta VALUES ('application', 'camscan')")
    db.execute("INSERT INTO scans (started_at, status) VALUES ('2026-01-01T00:00:00Z', 'complete')")
    db.execute("INSERT INTO devices (ip, first_seen, last_seen, first_scan_id, last_scan_id) "
               "VALUES ('198.18.40.5', 'x', 'x', 1, 1)")
    db.execute("INSERT INTO services (device_id, port, protocol, first_seen, last_seen, last_scan_id) "
               "VALUES (1, 80, 'http', 'x', 'x', 1)")
    db.execute("INSERT INTO sightings (scan_id, device_id, ip) VALUES (1, 1, '198.18.40.5')")
    # A link already broken before the upgrade (written with foreign keys off) does not stop it.
    db.execute("INSERT INTO findings (device_id, check_name) VALUES (99, 'telnet-open')")
    db.conn.commit()
    db.close()
    with Store(path) as upgraded:
        [device] = upgraded.devices()
        assert device["services"] == [{"port": 80, "protocol": "http", "transport": "tcp", "banner": None}]
        assert device["channels"] is None
        assert upgraded.db.execute("SELECT count(*) FROM sightings").fetchone()[0] == 1


def test_merge_keeps_channels_under_their_recorder(tmp_path):
    with Store(tmp_path / "sensor.db", clock=Clock(T0)) as sensor:
        scan_once(sensor)
    with Store(tmp_path / "all.db", clock=Clock(T0)) as combined:
        combined.merge_from(tmp_path / "sensor.db")
        combined.merge_from(tmp_path / "sensor.db")
        channels = by_channel(combined)
        assert sorted(channels) == [1, 2, 3]
        assert {channel["attached_to"] for channel in channels.values()} == {NVR_IP}


def test_report_counts_cameras_per_recorder(store):
    scan_once(store)
    page = render_html(gather(store))
    assert "1 recorder, 3 cameras behind them, 1 with video" in page
    assert "channel 3 of 198.18.40.10" in page


def test_report_counts_recorders_that_refused(store):
    scan_once(store, status="credentials-needed")
    page = render_html(gather(store))
    assert "1 recorder, 0 cameras behind them, 0 with video" in page
    assert "channels unknown: credentials needed" in page


def test_cli_export_show_and_devices(tmp_path):
    db = tmp_path / "camscan.db"
    with Store(db, clock=Clock(T0)) as opened:
        scan_once(opened)
    runner = CliRunner()
    exported = json.loads(runner.invoke(main, ["export", "--db", str(db), "--format", "json"]).output)
    analog = next(device for device in exported if device["channel"] == 3)
    assert {key: analog[key] for key in (*CHANNEL_KEYS, "ip")} == {
        "attached_to": NVR_IP, "channel": 3, "connection": "analog", "video": "no-video", "reported_ip": None,
        "ip": None}
    rows = list(csv.DictReader(io.StringIO(runner.invoke(main, ["export", "--db", str(db), "--format", "csv"]).output)))
    assert [(row["attached_to"], row["channel"], row["connection"], row["video"])
            for row in rows if row["channel"]] == [
        (NVR_IP, "1", "ip-poe", "present"), (NVR_IP, "2", "ip-lan", "offline"), (NVR_IP, "3", "analog", "no-video")]
    assert next(row for row in rows if row["ip"] == NVR_IP)["channel_count"] == "3"
    shown = runner.invoke(main, ["show", NVR_IP, "--db", str(db)]).output
    assert "channels: 3 enumerated" in shown
    assert "  3 analog  no-video  maker unknown" in shown
    listed = runner.invoke(main, ["devices", "--db", str(db)]).output.splitlines()
    header = listed[0].split("\t")
    recorder_row = dict(zip(header, next(line for line in listed if line.startswith(NVR_IP)).split("\t")))
    assert recorder_row["channels"] == "3 enumerated"
    channel_rows = [dict(zip(header, line.split("\t"))) for line in listed[1:] if f"\t{NVR_IP}\t" in line]
    assert [(row["channel"], row["connection"]) for row in channel_rows] == [
        ("1", "ip-poe"), ("2", "ip-lan"), ("3", "analog")]


class CannedTransport:
    """Answers each flow's requests from canned replies by path, recording every request: a
    test double for LiveTransport.run_flow (no socket, no emulated device)."""

    def __init__(self, replies: dict[str, list[bytes]]) -> None:
        self.replies = replies
        self.sent: list[tuple[str, int, bytes, bool]] = []

    async def run_flow(self, ip, port, flow, tls=False):
        from camscan.transport.live import FlowResult

        try:
            exchange = next(flow)
            while True:
                self.sent.append((ip, port, exchange.payload, bool(exchange.credentials)))
                queue = self.replies.get(exchange.payload.split(b" ")[1].decode(), [])
                exchange = flow.send(queue.pop(0) if len(queue) > 1 else (queue[0] if queue else b""))
        except StopIteration as finished:
            return FlowResult(finished.value)


def test_the_scan_inventories_a_recorder_with_the_http_account_and_contacts_no_reported_address(tmp_path):
    import asyncio

    from netaddr import IPSet

    from camscan.credentials import Account, Credentials
    from camscan.protocols import isapi
    from camscan.scanner import Scan, ScanSettings
    from camscan.scope import Scope
    from test_channels import DIGEST_401, DVR_DEVICE_INFO, IP_CHANNEL_STATUS, NVR_IP_CHANNELS, http_reply

    channels_list = NVR_IP_CHANNELS.replace(b"1.0.0.80", CAMERA_IP.encode()).replace(
        b"0000000000000-0C0F000000DD", b"DS-2CD2386G2-IU00000000AAWRK00000009")
    transport = CannedTransport({
        isapi.DEVICE_INFO_PATH: [DIGEST_401, http_reply("200 OK", DVR_DEVICE_INFO)],
        isapi.IP_CHANNELS_PATH: [http_reply("200 OK", channels_list)],
        isapi.IP_CHANNEL_STATUS_PATH: [http_reply("200 OK", IP_CHANNEL_STATUS)],
        isapi.ANALOG_CHANNELS_PATH: [http_reply("403 Forbidden")],
    })
    account = Account(number=1, service="http", targets=("198.18.40.0/24",), addresses=IPSet(["198.18.40.0/24"]),
                      username="chan-auditor", password="s3cret-pass", maker="hikvision")
    credentials = Credentials([account])
    with Store(tmp_path / "camscan.db", clock=Clock(T0)) as store:
        scan_id = store.start_scan(["198.18.40.0/24"], {})
        scan = Scan(Scope(["198.18.40.0/24"]), ScanSettings(ports=[80], credentials=credentials), store, scan_id)
        for device in (nvr(), swept_camera()):
            scan._record(device.ip, device.services, device.observations)
        asyncio.run(scan._recorder_pass(transport))
        channels = by_channel(store)
    to_nvr = [sent for sent in transport.sent if sent[0] == NVR_IP]
    to_camera = [sent for sent in transport.sent if sent[0] == CAMERA_IP]
    assert len(to_nvr) + len(to_camera) == len(transport.sent)  # never 1.0.0.x
    assert [with_account for _, _, _, with_account in to_nvr] == [False, True, True, True, True]
    # The swept Hikvision camera gets its one question about its video sources, refused (403): no more.
    assert [(payload.split(b" ")[1].decode(), with_account) for _, _, payload, with_account in to_camera] == [
        (isapi.ANALOG_CHANNELS_PATH, False)]
    assert [(n, channels[n]["connection"], channels[n]["video"]) for n in sorted(channels)] == [
        (1, "ip-poe", "present"), (3, "ip-lan", "present"), (4, "ip-poe", "offline")]
    assert channels[3]["ip"] == CAMERA_IP and channels[1]["ip"] is None
    assert [offered for _, offered in credentials.offers()] == [1]
    with sqlite3.connect(tmp_path / "camscan.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "s3cret-pass" not in dump and "chan-auditor" not in dump


@NEEDS_CHROMIUM
def test_chromium_shows_cameras_per_recorder(store, tmp_path):
    scan_once(store)
    page = tmp_path / "report.html"
    page.write_text(render_html(gather(store)), encoding="utf-8")
    rendered = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    dom = parse(rendered.stdout)
    [recorder] = rows_of(dom, "recorders-table")
    assert (recorder["recorder"], recorder["cameras"], recorder["with video"]) == (NVR_IP, "3", "1")
    assert recorder["connections"] == "1 analog, 1 ip-lan, 1 ip-poe"
    assert [row["channel"] for row in rows_of(dom, "channels-table")] == ["1", "2", "3"]
    assert "1 recorder, 3 cameras behind them, 1 with video" in rendered.stdout


def test_a_scan_says_how_many_cameras_its_recorders_have(tmp_path):
    """A recording made before channel inventories: the recorder's API calls find no answer in it."""
    from pathlib import Path

    recording = Path(__file__).resolve().parents[2] / "pcaps" / "hikvision-nvr.pcapng"
    result = CliRunner().invoke(main, ["scan", "198.18.90.0/29", "--replay", str(recording), "--db",
                                       str(tmp_path / "replay.db"), "--yes"])
    assert result.exit_code == 0, result.output
    assert "1 recorder(s), 0 camera(s) behind them, 0 with video." in result.stderr


def inventory_of(recorder: Device, replies: dict, credentials=None):
    import asyncio

    from camscan.channels.runner import inventory_channels
    from camscan.credentials import Credentials
    from camscan.probes.onvif import OnvifMessages

    transport = CannedTransport(replies)
    inventory, _ = asyncio.run(inventory_channels(transport, recorder, credentials or Credentials(),
                                                  Identifier().catalogue.manufacturer_of, OnvifMessages()))
    return inventory, transport.sent


def test_a_lockout_sign_stops_every_request_to_the_recorder_onvif_included():
    from netaddr import IPSet

    from camscan.credentials import Account, Credentials
    from camscan.protocols import isapi
    from test_channels import DIGEST_401, http_reply

    account = Account(number=1, service="http", targets=("198.18.40.0/24",), addresses=IPSet(["198.18.40.0/24"]),
                      username="chan-auditor", password="s3cret-pass")
    inventory, sent = inventory_of(nvr(), {isapi.DEVICE_INFO_PATH: [
        DIGEST_401, http_reply("403 Forbidden", b"<statusString>Too many failed logins: locked</statusString>")]},
        Credentials([account]))
    assert inventory.status == "credentials-needed" and len(sent) == 2


def test_a_recorder_without_its_makers_api_is_asked_over_onvif():
    from camscan.protocols import isapi, onvif
    from test_channels import ONVIF_SERVICES_WITHOUT_MEDIA2, ONVIF_PROFILES, ONVIF_VIDEO_SOURCES, http_reply

    recorder = nvr()
    services = ONVIF_SERVICES_WITHOUT_MEDIA2.replace(b"198.18.40.10", NVR_IP.encode())
    inventory, sent = inventory_of(recorder, {
        isapi.DEVICE_INFO_PATH: [http_reply("404 Not Found")],
        onvif.DEVICE_SERVICE_PATH: [http_reply("200 OK", services)],
        "/onvif/Media": [http_reply("200 OK", ONVIF_VIDEO_SOURCES), http_reply("200 OK", ONVIF_PROFILES)]})
    assert (inventory.status, inventory.api, len(inventory.channels)) == ("enumerated", "onvif", 3)
    assert {channel.connection for channel in inventory.channels} == {None}  # ONVIF does not say how each is connected
    assert len(sent) == 4


def test_onvif_is_asked_at_the_recorders_own_xaddr():
    from dataclasses import replace

    from camscan.protocols import isapi, onvif
    from test_channels import ONVIF_SERVICES_WITHOUT_MEDIA2, ONVIF_PROFILES, ONVIF_VIDEO_SOURCES, http_reply

    recorder = nvr()
    recorder = replace(recorder, observations=[*recorder.observations, Observation(
        NVR_IP, "wsd", "wsd.xaddr", f"http://{NVR_IP}:8080/onvif/device_service http://[2001:2::10]/onvif")])
    services = ONVIF_SERVICES_WITHOUT_MEDIA2.replace(b"198.18.40.10", f"{NVR_IP}:8080".encode())
    inventory, sent = inventory_of(recorder, {
        isapi.DEVICE_INFO_PATH: [http_reply("404 Not Found")],
        onvif.DEVICE_SERVICE_PATH: [http_reply("200 OK", services)],
        "/onvif/Media": [http_reply("200 OK", ONVIF_VIDEO_SOURCES), http_reply("200 OK", ONVIF_PROFILES)]})
    assert [port for _, port, _, _ in sent] == [80, 8080, 8080, 8080]
    assert inventory.status == "enumerated"


def test_without_channel_inventory_a_recorder_reads_not_asked(tmp_path):
    import asyncio

    from camscan.scanner import Scan, ScanSettings
    from camscan.scope import Scope

    transport = CannedTransport({})
    with Store(tmp_path / "camscan.db", clock=Clock(T0)) as store:
        scan_id = store.start_scan([NVR_IP], {})
        scan = Scan(Scope([NVR_IP]), ScanSettings(ports=[80], channels=False), store, scan_id)
        recorder = nvr()
        scan._record(recorder.ip, recorder.services, recorder.observations)
        asyncio.run(scan._recorder_pass(transport))
        [device] = store.devices()
    assert transport.sent == [] and (device["channels"], device["channel_count"]) == ("not-asked", None)


def test_a_portable_scan_result_carries_channels_under_their_recorder(tmp_path):
    """A sensor's scan document keeps each channel under its recorder in the district's file,
    where the recorder gets another row id (the district already holds other devices)."""
    from camscan.portable import build_document, import_document

    with Store(tmp_path / "sensor.db", clock=Clock(T0)) as sensor:
        scan_id = scan_once(sensor)["scan"]
        document = build_document(sensor, scan_id)
    with Store(tmp_path / "district.db", clock=Clock(T0)) as district:
        other = district.start_scan(["198.18.99.0/24"], {}, site="Elsewhere")
        for last in range(2, 6):
            district.record_device(other, Device(ip=f"198.18.99.{last}"))
        district.finish_scan(other)
        import_document(district, document, "sensor.json")
        import_document(district, document, "sensor.json")
        channels = by_channel(district)
        assert sorted(channels) == [1, 2, 3]
        assert {channel["attached_to"] for channel in channels.values()} == {NVR_IP}


DUAL_SENSOR_IP = "198.18.40.30"


def dahua_camera(video_inputs: int) -> Device:
    """A Dahua camera as its DHIP reply and WS-Discovery describe it, counting its own video inputs."""
    at = T0.timestamp()
    seen = [Observation(DUAL_SENSOR_IP, "dhip", "dhip.device_class", "SD", None, observed_at=at),
            Observation(DUAL_SENSOR_IP, "dhip", "dhip.vendor", "Dahua", None, observed_at=at),
            Observation(DUAL_SENSOR_IP, "dhip", "dhip.video_inputs", str(video_inputs), None, observed_at=at)]
    return Device(ip=DUAL_SENSOR_IP, mac="3c:ef:8c:40:00:30", mac_seen=True,
                  services=[Service(DUAL_SENSOR_IP, 80, "http")], observations=seen,
                  identification=Identifier().identify(seen))


def scan_recorder_pass(tmp_path, devices: list[Device], transport) -> Store:
    import asyncio

    from camscan.scanner import Scan, ScanSettings
    from camscan.scope import Scope

    store = Store(tmp_path / "camscan.db", clock=Clock(T0))
    scan_id = store.start_scan(["198.18.40.0/24"], {})
    scan = Scan(Scope(["198.18.40.0/24"]), ScanSettings(ports=[80]), store, scan_id)
    for device in devices:
        scan._record(device.ip, device.services, device.observations)
    asyncio.run(scan._recorder_pass(transport))
    store.finish_scan(scan_id)
    return store


def test_a_camera_whose_discovery_reply_counts_one_input_gets_no_channel_request(tmp_path):
    from camscan.channels.runner import wants_inventory
    from camscan.protocols import isapi
    from test_channels import DVR_VIDEO_INPUTS, http_reply

    camera = dahua_camera(1)
    assert camera.identification.device_type == "ip-camera" and not wants_inventory(camera)
    assert not wants_inventory(swept_camera())  # a camera that says nothing of its inputs
    one_input = DVR_VIDEO_INPUTS[:DVR_VIDEO_INPUTS.index(b"<VideoInputChannel", 200)] + b"</VideoInputChannelList>\n"
    assert len(isapi.parse_analog_channels(one_input)) == 1
    transport = CannedTransport({isapi.ANALOG_CHANNELS_PATH: [http_reply("200 OK", one_input)]})
    with scan_recorder_pass(tmp_path, [camera, swept_camera()], transport) as store:
        # Only the Hikvision camera is asked, once; its one input stores nothing.
        assert [(ip, payload.split(b" ")[1]) for ip, _, payload, _ in transport.sent] == [
            (CAMERA_IP, isapi.ANALOG_CHANNELS_PATH.encode())]
        assert {(device["channels"], device["channel_count"]) for device in store.devices()} == {(None, None)}


def test_a_multi_sensor_camera_lists_its_sensors_and_counts_once(tmp_path):
    from camscan.protocols import onvif
    from test_channels import ONVIF_PROFILES, ONVIF_SERVICES_WITHOUT_MEDIA2, ONVIF_VIDEO_SOURCES, http_reply

    services = ONVIF_SERVICES_WITHOUT_MEDIA2.replace(b"198.18.40.10", DUAL_SENSOR_IP.encode())
    transport = CannedTransport({
        "/cgi-bin/magicBox.cgi?action=getSystemInfo": [http_reply("404 Not Found")],
        onvif.DEVICE_SERVICE_PATH: [http_reply("200 OK", services)],
        "/onvif/Media": [http_reply("200 OK", ONVIF_VIDEO_SOURCES), http_reply("200 OK", ONVIF_PROFILES)]})
    with scan_recorder_pass(tmp_path, [dahua_camera(2), nvr()], transport) as store:
        asked = [payload.split(b" ")[1] for ip, _, payload, _ in transport.sent if ip == DUAL_SENSOR_IP]
        assert asked == [b"/cgi-bin/magicBox.cgi?action=getSystemInfo", b"/onvif/device_service", b"/onvif/Media",
                         b"/onvif/Media"]
        devices = store.devices()
        [camera] = [device for device in devices if device["ip"] == DUAL_SENSOR_IP]
        sensors = [device for device in devices if device["attached_to"] == DUAL_SENSOR_IP]
        assert (camera["is_camera"], camera["channels"], camera["channel_count"]) == (True, "enumerated", 3)
        assert [(s["channel"], s["connection"], s["is_camera"], s["device_type"], s["manufacturer"])
                for s in sensors] == [(n, "sensor", False, None, "dahua") for n in (1, 2, 3)]
        assert camera["ndaa_889"] is True and {s["ndaa_889"] for s in sensors} == {None}
        assert "a video source of the camera itself" in sensors[0]["ndaa_basis"]
        page = render_html(gather(store))
    shown = CliRunner().invoke(main, ["show", DUAL_SENSOR_IP, "--db", str(tmp_path / "camscan.db")])
    assert shown.exit_code == 0, shown.output
    assert [line.split()[:2] + [line.rsplit(": ", 1)[1]] for line in shown.output.splitlines()
            if "sensor" in line and "NDAA" in line] == [["1", "sensor", "as its camera"], ["2", "sensor", "as its camera"],
                                                         ["3", "sensor", "as its camera"]]
    assert "1 recorder, 0 cameras behind them" in page
    assert '<b>2</b>made by NDAA s.889 covered companies' in page  # the camera and the NVR, no sensor


def test_the_scan_summary_counts_a_multi_sensor_camera_once():
    from camscan.cli import show_recorded

    camera = {"ip": DUAL_SENSOR_IP, "is_camera": True, "device_type": "ip-camera", "channels": "enumerated",
              "attached_to": None, "connection": None}
    sensors = [{"ip": None, "is_camera": False, "device_type": None, "channels": None, "attached_to": DUAL_SENSOR_IP,
                "connection": "sensor", "video": "present", "channel": n} for n in (1, 2)]
    recorder = {"ip": NVR_IP, "is_camera": True, "device_type": "nvr", "channels": "enumerated", "attached_to": None,
                "connection": None}
    behind = {"ip": None, "is_camera": True, "device_type": "ip-camera", "channels": None, "attached_to": NVR_IP,
              "connection": "ip-poe", "video": "present", "channel": 1}
    import click

    @click.command()
    def summary():
        show_recorded([camera, *sensors, recorder, behind], False, "x.db", "scan 1")

    result = CliRunner().invoke(summary, [])
    assert "1 recorder(s), 1 camera(s) behind them, 1 with video." in result.stderr, result.output


def test_upgrading_a_version_7_database_lets_a_channel_be_a_sensor(tmp_path):
    from sqlite_utils import Database

    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path))
    db.execute("PRAGMA foreign_keys = OFF")
    for migrate in MIGRATIONS[:7]:
        migrate(db)
    db.execute("PRAGMA user_version = 7")
    db.execute("INSERT INTO camscan_meta VALUES ('application', 'camscan')")
    db.execute("INSERT INTO scans (started_at, status) VALUES ('2026-01-01T00:00:00Z', 'complete')")
    db.execute("INSERT INTO devices (ip, first_seen, last_seen, first_scan_id, last_scan_id, channels) "
               "VALUES ('198.18.40.5', 'x', 'x', 1, 1, 'enumerated')")
    db.execute("INSERT INTO devices (first_seen, last_seen, first_scan_id, last_scan_id, attached_to, channel, "
               "connection) VALUES ('x', 'x', 1, 1, 1, 1, 'analog')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE devices SET connection = 'sensor' WHERE id = 2")
    db.conn.commit()
    db.close()
    with Store(path) as upgraded:
        upgraded.db.execute("UPDATE devices SET connection = 'sensor' WHERE id = 2")
        with pytest.raises(sqlite3.IntegrityError):
            upgraded.db.execute("UPDATE devices SET connection = 'coax' WHERE id = 2")
        assert [row[0] for row in upgraded.db.execute("SELECT connection FROM devices ORDER BY id")] == [None, "sensor"]
        assert upgraded.db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'devices_channel'").fetchone()[0] == 1


def test_show_lists_an_onvif_recorders_channels_whose_connection_is_unknown(store, tmp_path):
    scan = store.start_scan([NVR_IP], {})
    recorder = nvr()
    recorder_id = store.record_device(scan, recorder)
    channel = Channel(1, None, "present", name="VideoSource_1")
    seen = channel_observations(recorder.ip, 80, "onvif", channel)
    store.record_channels(scan, recorder_id, "enumerated", [
        ChannelDevice(channel, None, identify_channel(Identifier(), seen, recorder.identification), tuple(seen))])
    store.finish_scan(scan)
    shown = CliRunner().invoke(main, ["show", NVR_IP, "--db", str(store.path)])
    assert shown.exit_code == 0, shown.output
    assert [line.split()[:3] for line in shown.output.splitlines() if "NDAA s.889:" in line] == [
        ["1", "unknown", "present"]]


def test_reidentifying_keeps_a_sensor_part_of_its_camera(tmp_path):
    from camscan.protocols import onvif
    from camscan.reidentify import reidentify
    from test_channels import ONVIF_PROFILES, ONVIF_SERVICES_WITHOUT_MEDIA2, ONVIF_VIDEO_SOURCES, http_reply

    services = ONVIF_SERVICES_WITHOUT_MEDIA2.replace(b"198.18.40.10", DUAL_SENSOR_IP.encode())
    transport = CannedTransport({
        onvif.DEVICE_SERVICE_PATH: [http_reply("200 OK", services)],
        "/onvif/Media": [http_reply("200 OK", ONVIF_VIDEO_SOURCES), http_reply("200 OK", ONVIF_PROFILES)]})
    with scan_recorder_pass(tmp_path, [dahua_camera(2)], transport) as store:
        reidentify(store)
        sensors = [device for device in store.devices() if device["attached_to"] == DUAL_SENSOR_IP]
    assert [(s["is_camera"], s["device_type"], s["manufacturer"], s["ndaa_889"]) for s in sensors] == [
        (False, None, "dahua", None)] * 3
