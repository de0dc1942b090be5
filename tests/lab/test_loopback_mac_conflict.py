"""Two cameras that report one MAC (no ARP on loopback, so only their own word): two devices,
each with conflict.mac evidence naming the other, and a second scan sees no device move."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from camscan_lab.loopback import LoopbackLab
from camscan_lab.profiles import build_hosts

NETWORK = "127.79.5.0/29"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="lab devices listen on ports below 1024")


def camscan(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "camscan", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_cameras_claiming_one_mac_stay_two_devices_and_nothing_moves(tmp_path):
    real, impostor = build_hosts(["hikvision-ds2cd", "hikvision-ds2cd"], NETWORK, seed=3)
    impostor = dataclasses.replace(impostor, mac=real.mac)
    db = str(tmp_path / "conflict.db")
    with LoopbackLab([real, impostor], discovery=True):
        for _ in range(2):
            camscan("scan", real.ip, impostor.ip, "--db", db, "--timeout", "1", "--discovery-wait", "0.5", "--no-checks")
    devices = {device["ip"]: device for device in json.loads(camscan("devices", "--db", db, "--json"))}
    assert set(devices) == {real.ip, impostor.ip}
    for ip, other in ((real.ip, impostor.ip), (impostor.ip, real.ip)):
        shown = json.loads(camscan("show", ip, "--db", db, "--json"))
        conflicts = {seen["value"] for seen in shown["observations"] if seen["field"] == "conflict.mac"}
        assert f"{real.mac.lower()} also reported by {other}" in conflicts
    diff = json.loads(camscan("diff", "--db", db, "--json"))
    assert (diff["moved"], diff["new"], diff["gone"]) == ([], [], [])
