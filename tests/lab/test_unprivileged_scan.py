"""A scan without raw-socket permission (an unprivileged user, or root in a container that took
CAP_NET_RAW away): no ARP sweep, yet every on-link host gets its MAC (and so its OUI's maker)
from the kernel's ARP table, which the scan's own connects filled."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from camscan_lab import build_hosts
from labs import torn_down_lab

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("setpriv") is None,
                       reason="namespace labs need root, iproute2 and setpriv (to drop privileges)"),
]

NETWORK = "198.18.46.0/24"
SCOPE = "198.18.46.0/29"  # the scanner and the four hosts: a whole /24 of connects to absent hosts is slow
PROFILES = ["reolink-rlc", "hikvision-ds2cd", "linux-nginx", "windows-iis"]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
ROOT_WITHOUT_RAW_SOCKETS = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw"]


@pytest.fixture(scope="module")
def lab():
    with torn_down_lab(build_hosts(PROFILES, NETWORK, seed=46), "np", NETWORK) as running:
        yield running


def can_run_camscan(drop: list[str]) -> bool:
    """Whether camscan imports with those privileges (an interpreter or checkout under a
    directory only root may read, such as /root, does not for an unprivileged user)."""
    return subprocess.run([*drop, sys.executable, "-c", "import camscan"], capture_output=True).returncode == 0


@pytest.mark.parametrize("drop", [NOBODY, ROOT_WITHOUT_RAW_SOCKETS], ids=["nobody", "root-without-cap-net-raw"])
def test_a_scan_without_raw_sockets_takes_macs_from_the_kernel_arp_table(lab, drop):
    if not can_run_camscan(drop):
        pytest.skip(f"{sys.executable} with this checkout cannot run with those privileges")
    workdir = Path(tempfile.mkdtemp(prefix="camscan-unprivileged-"))
    try:
        workdir.chmod(0o777)  # the scan writes its database here
        db = workdir / "scan.db"
        result = lab.run([*drop, sys.executable, "-m", "camscan", "scan", SCOPE, "--db", str(db), "--yes",
                          "--no-checks"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr
        assert "no raw-socket permission (root or CAP_NET_RAW): no ARP sweep" in result.stderr
        exported = subprocess.run([sys.executable, "-m", "camscan", "export", "--db", str(db)],
                                  capture_output=True, text=True, check=True)
    finally:
        shutil.rmtree(workdir)
    devices = {device["ip"]: device for device in json.loads(exported.stdout)}
    assert {ip: device["mac"] for ip, device in devices.items()} == {host.ip: host.mac.lower() for host in lab.hosts}
    reolink = next(host for host in lab.hosts if host.profile == "reolink-rlc")
    assert devices[reolink.ip]["vendor"] == "reolink"  # its banners name no maker: its MAC's registry entry does
    assert "ieee-oui:reolink" in {item["signature"] for item in devices[reolink.ip]["evidence"]}
