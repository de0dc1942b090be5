"""Audit reporting end to end: two scans of a namespace lab that changed in between.

Between the scans one device is removed, one added, one moved to a new address and one
re-flashed with new firmware; `camscan diff` must list exactly those changes. NDAA s.889
attribution must match each identified camera's real maker (rebadged ones included), and
the HTML report must show the covered devices when Chromium renders it.

Scans run inside the lab's scanner namespace (no route out, 198.18.0.0/15 only); diff,
export and report only read the database. Root and iproute2 are needed.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from camscan.fingerprint.vendors import default_catalogue
from camscan_lab import NamespaceLab, build_hosts
from camscan_lab.netns import list_namespaces

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="namespace labs need root and iproute2"
)

NETWORK = "198.18.60.0/24"
PREFIX = "i6"
SITE = "Lab school"
CAMSCAN = [sys.executable, "-m", "camscan"]
PROFILES = ["dahua-ipc", "lorex-nvr", "amcrest-ip2m", "ezviz-c6n", "honeywell-hc30", "hikvision-ds2cd",
            "avigilon-h4", "axis-p3245", "hisilicon-dvr", "hp-laserjet", "synology-ds"]
OLD_FIRMWARE, NEW_FIRMWARE = "4.10.0.46", "4.12.0.60"


def reflashed(host):
    """The same unit (same MAC and address) answering with newer firmware."""
    host = copy.deepcopy(host)
    text = json.dumps(host.services).replace(OLD_FIRMWARE, NEW_FIRMWARE)
    host.services = {int(port): spec for port, spec in json.loads(text).items()}
    host.truth = {**host.truth, "firmware": NEW_FIRMWARE}
    return host


def covered(maker: str | None) -> bool | None:
    catalogue = default_catalogue()
    vendor = catalogue.get(maker)
    if vendor is None:
        return None
    return bool(vendor.ndaa_889 or catalogue.covering_parent(maker))


def local(*args: str) -> subprocess.CompletedProcess:
    """A camscan command that only reads a database file (sends nothing)."""
    assert args[0] in ("diff", "export", "report", "scans"), args
    result = subprocess.run([*CAMSCAN, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return result


def scan_lab(hosts, db) -> None:
    with NamespaceLab(hosts, prefix=PREFIX, network=NETWORK) as lab:
        result = lab.run([*CAMSCAN, "scan", NETWORK, "--db", str(db), "--site", SITE, "--timeout", "1", "--yes"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert not [name for name in list_namespaces() if name.startswith(f"{PREFIX}-")]


@pytest.fixture(scope="module")
def two_scans(tmp_path_factory):
    db = tmp_path_factory.mktemp("audit") / "audit.db"
    before = build_hosts(PROFILES, NETWORK, seed=61)
    by_profile = {host.profile: host for host in before}
    removed = by_profile["hp-laserjet"]
    moved = copy.deepcopy(by_profile["hikvision-ds2cd"])
    moved.ip = "198.18.60.200"
    added = build_hosts(["reolink-rlc"], "198.18.60.0/25", seed=62)[0]
    added.ip = "198.18.60.201"
    after = [reflashed(h) if h.profile == "avigilon-h4" else moved if h.profile == "hikvision-ds2cd" else h
             for h in before if h is not removed] + [added]
    scan_lab(before, db)
    scan_lab(after, db)
    return db, before, after, {"removed": removed, "added": added, "moved": moved,
                               "reflashed": by_profile["avigilon-h4"]}


def test_diff_lists_exactly_the_changes_made_between_the_scans(two_scans):
    db, _, _, change = two_scans
    scans = json.loads(local("scans", "--db", str(db), "--json").stdout)
    assert [(s["status"], s["site"]) for s in scans] == [("complete", SITE), ("complete", SITE)]
    result = json.loads(local("diff", "--db", str(db), "--json").stdout)
    assert [(d["ip"], d["mac"]) for d in result["new"]] == [(change["added"].ip, change["added"].mac)]
    assert result["new"][0]["vendor"] == "reolink"
    assert [(d["ip"], d["mac"]) for d in result["gone"]] == [(change["removed"].ip, change["removed"].mac)]
    assert [(d["old_ip"], d["ip"], d["mac"]) for d in result["moved"]] == [
        ("198.18.60.7", change["moved"].ip, change["moved"].mac)]
    assert [(d["ip"], d["changes"]) for d in result["changed"]] == [
        (change["reflashed"].ip, {"firmware": {"old": OLD_FIRMWARE, "new": NEW_FIRMWARE}})]
    text = local("diff", "--db", str(db)).stdout
    assert f"firmware: {OLD_FIRMWARE} -> {NEW_FIRMWARE}" in text and "new: 1" in text and "gone: 1" in text


def test_ndaa_attribution_matches_each_cameras_real_maker(two_scans):
    db, _, after, _ = two_scans
    devices = {d["ip"]: d for d in json.loads(local("export", "--db", str(db)).stdout)}
    problems = []
    for host in after:
        device = devices[host.ip]
        if not device["ndaa_basis"]:
            problems.append(f"{host.ip} {host.profile}: no basis")
        if not (host.is_camera and host.identifiable):
            continue
        want = covered(host.truth["manufacturer"])
        if device["ndaa_889"] is not want or device["manufacturer"] != host.truth["manufacturer"]:
            problems.append(f"{host.ip} {host.profile}: maker {device['manufacturer']} ndaa {device['ndaa_889']}, "
                            f"truth {host.truth['manufacturer']} ({want}); basis {device['ndaa_basis']}")
        if device["site"] != SITE:
            problems.append(f"{host.ip}: site {device['site']!r}")
    assert not problems, "\n".join(problems)
    rebadged = {devices[h.ip]["vendor"]: devices[h.ip]["ndaa_basis"] for h in after
                if h.truth["vendor"] != h.truth["manufacturer"] and h.is_camera}
    assert {"lorex", "amcrest", "ezviz", "honeywell"} <= set(rebadged)
    assert "Lorex is a Dahua OEM brand" in rebadged["lorex"]
    assert "Performance Series" in rebadged["honeywell"]


class CoveredRows(HTMLParser):
    """The first cell (the ip) of each row of the report's covered-devices table."""

    def __init__(self) -> None:
        super().__init__()
        self.ips: list[str] = []
        self._in_table = False
        self._cell_index = -1

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._in_table = dict(attrs).get("id") == "covered-table"
        elif tag == "tr":
            self._cell_index = -1
        elif tag == "td" and self._in_table:
            self._cell_index += 1
            if self._cell_index == 0:
                self.ips.append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False

    def handle_data(self, data):
        if self._in_table and self._cell_index == 0:
            self.ips[-1] += data.strip()


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Chromium is not installed (Debian package `chromium`; scripts/setup.sh installs it)")
def test_chromium_shows_the_covered_lab_devices(two_scans, tmp_path):
    db, _, after, _ = two_scans
    page = tmp_path / "report.html"
    local("report", "--db", str(db), "-o", str(page))
    rendered = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    rows = CoveredRows()
    rows.feed(rendered.stdout)
    want = sorted(h.ip for h in after if h.is_camera and h.identifiable
                  and covered(h.truth["manufacturer"]))
    assert len(want) == 7  # Dahua, Lorex, Amcrest, Honeywell (Dahua-made), EZVIZ, Hikvision, HiSilicon
    assert sorted(rows.ips) == want
