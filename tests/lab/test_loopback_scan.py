"""A whole scan of the loopback lab: TCP sweep and probes with real sockets, no ARP (127.x)."""

import json
import os
import subprocess
import sys

import pytest

from camscan_lab.loopback import LoopbackLab
from camscan_lab.profiles import generate_lab
from camscan_lab.score import score

NETWORK = "127.79.0.0/26"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="lab devices listen on ports below 1024")


def camscan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "camscan", *args], capture_output=True, text=True, timeout=120)


def test_loopback_lab_scan_identifies_makers_without_arp(tmp_path):
    hosts = generate_lab(44, NETWORK, seed=11)
    db = tmp_path / "loopback.db"
    with LoopbackLab(hosts):
        scanned = camscan("scan", NETWORK, "--db", str(db), "--timeout", "1", "--json")
    assert scanned.returncode == 0, scanned.stderr
    found = json.loads(scanned.stdout)
    assert all(device["mac"] is None for device in found)  # loopback: no link layer, no ARP
    # Without MACs only banners can name makers; profiles that show one must be named.
    bannered = [host for host in hosts if host.identifiable and host.ports and host.profile not in OUI_ONLY]
    result = score(bannered, found)
    assert result.false_cameras == 0, result.problems
    assert result.accuracy >= 0.9, result.problems
    exported = json.loads(camscan("export", "--db", str(db), "--format", "json").stdout)
    assert {device["ip"] for device in exported} == {device["ip"] for device in found}


# Profiles whose only identifying trait is their MAC's registered maker, and profiles
# whose banners no public source ties to the maker (the lab's stand-ins; see their notes).
OUI_ONLY = {"pelco-sarix", "tiandy-ipc", "hikvision-locked", "tapo-c200", "unifi-g4",
            "vivotek-fd", "reolink-rlc", "uniview-ipc"}
