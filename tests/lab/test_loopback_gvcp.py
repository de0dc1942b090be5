"""``camscan scan`` finds a GigE Vision camera that answers nothing but GVCP discovery (UDP 3956),
identifies it from the acknowledge, and takes its MAC and serial from it (loopback lab)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from camscan_lab.loopback import LoopbackLab
from camscan_lab.profiles import load_profiles, place_hosts

NETWORK = "127.79.6.0/29"


def camscan(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "camscan", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_camera_answering_only_gige_vision_discovery_is_identified(tmp_path):
    (camera,) = place_hosts(load_profiles(Path(__file__).with_name("gvcp_profiles.yaml")), NETWORK, seed=5)
    db = str(tmp_path / "gvcp.db")
    with LoopbackLab([camera], discovery=True) as running:
        camscan("scan", camera.ip, "--db", db, "--ports", "1", "--timeout", "1", "--discovery-wait", "0.5",
                "--no-checks")
    (device,) = json.loads(camscan("devices", "--db", db, "--json"))
    assert (device["ip"], device["vendor"], device["model"], device["device_type"]) == (
        camera.ip, "basler", "acA1920-40gc", "ip-camera")
    assert device["mac"] == camera.mac.lower()
    shown = json.loads(camscan("show", camera.ip, "--db", db, "--json"))
    said = {seen["field"]: seen["value"] for seen in shown["observations"]}
    assert said["gvcp.serial"] == camera.serial and said["gvcp.user_name"] == "line-3"
    assert running == [camera]
