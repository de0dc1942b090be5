"""nmap's report of a namespace lab, read by `camscan import-nmap`: the makers of the cameras
nmap reached are named from what nmap saw, and no other host is called a camera."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from camscan_lab import build_hosts
from camscan_lab.score import score
from labs import torn_down_lab

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nmap") is None,
                       reason="namespace labs need root and iproute2; the report needs nmap"),
]

NETWORK = "198.18.48.0/24"
PROFILES = ["hikvision-ds2cd", "dahua-ipc", "dahua-nvr", "axis-p3245", "xiongmai-xmeye", "unifi-g4",
            "mobotix-m16", "hp-laserjet", "linux-nginx", "synology-ds"]
SCRIPTS = "http-title,http-server-header,ssl-cert,rtsp-methods"


@pytest.fixture(scope="module")
def lab():
    with torn_down_lab(build_hosts(PROFILES, NETWORK, seed=48), "nm", NETWORK) as running:
        yield running


def test_an_nmap_report_of_the_lab_names_its_cameras(lab, tmp_path):
    ports = sorted({port for host in lab.hosts for port, spec in host.services.items()
                    if spec.get("kind") in ("http", "https")})  # RTSP servers make nmap -sV wait; the web says enough
    report = tmp_path / "lab.xml"
    nmap = lab.run(["nmap", "-n", "-Pn", "-sV", "--version-light", "-T4", "--host-timeout", "60s",
                    "-p", ",".join(map(str, ports)), "--script", SCRIPTS, "-oX", str(report),
                    *[host.ip for host in lab.hosts]], capture_output=True, text=True, timeout=300)
    assert nmap.returncode == 0, nmap.stderr
    result = subprocess.run([sys.executable, "-m", "camscan", "import-nmap", str(report), "--db",
                             str(tmp_path / "nmap.db"), "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    devices = json.loads(result.stdout)
    assert {device["ip"]: device["mac"] for device in devices} == {host.ip: host.mac.lower() for host in lab.hosts}
    judged = score(lab.hosts, devices)
    assert judged.accuracy >= 0.85, judged.problems
    assert judged.false_cameras == 0, judged.problems
