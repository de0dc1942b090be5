"""The lab's hostile device: its profile and what each hostile mode sends (bench/hostile_host.py uses it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from camscan_lab import hostile
from camscan_lab.loopback import LoopbackLab
from camscan_lab.profiles import LabHost, ProfileError, _check_profile, load_profiles
from camscan.probes.ports import DEFAULT_PORTS

PROFILES = Path(hostile.__file__).with_name("hostile_profiles.yaml")
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_the_hostile_device_opens_every_default_port_and_uses_every_hostile_mode():
    [profile] = load_profiles(PROFILES)
    assert sorted(profile.services) == sorted(DEFAULT_PORTS)
    used = {spec["hostile"] for spec in profile.services.values() if "hostile" in spec}
    assert used == hostile.MODES - {"prompt"}


def test_an_unknown_hostile_mode_is_refused():
    raw = {"name": "x", "truth": {"vendor": None, "manufacturer": None, "device_type": "ip-camera", "model": None,
                                  "firmware": None}, "services": {80: {"kind": "http", "hostile": "nice"}}}
    with pytest.raises(ProfileError, match="hostile must be one of"):
        _check_profile(raw, 0)


def received(port: int, request: bytes, wanted: int) -> bytes:
    with socket.create_connection(("127.88.1.2", port), timeout=5) as client:
        client.sendall(request)
        data = b""
        while len(data) < wanted:
            chunk = client.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_each_mode_sends_what_it_says():
    services = {18001: {"kind": "http", "server": "App-webs/", "hostile": "huge-head"},
                18002: {"kind": "http", "hostile": "endless"},
                18003: {"kind": "rtsp", "hostile": "prompt"},
                18004: {"kind": "http", "hostile": "slow", "delay": 0.1, "routes": {"/": {"status": 200, "title": "t"}}}}
    host = LabHost(ip="127.88.1.2", mac="02:00:5e:88:01:02", profile="hostile-test", services=services, truth={})
    with LoopbackLab([host]):
        head = received(18001, GET, 100_000)
        assert head.startswith(b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\n") and b"\r\n\r\n" not in head
        endless = received(18002, GET, 200_000)
        assert b"Content-Length" not in endless.split(b"\r\n\r\n")[0] and len(endless) >= 200_000
        rtsp = received(18003, b"OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 7\r\n\r\n", hostile.BODY_BYTES)
        assert rtsp.startswith(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\n") and len(rtsp) > hostile.BODY_BYTES
        assert b"<title>t</title>" in received(18004, GET, 1_000_000)
