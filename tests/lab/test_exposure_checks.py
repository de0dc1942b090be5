"""Exposure checks against a namespace lab of devices that are open and protected (issue 5).

The scan runs inside the lab's scanner namespace (prefix ``e5``, 198.18.70.0/24, no route
out); reading the database happens here and sends nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from camscan.checks import (
    DEFAULT_CREDENTIALS, FTP_ANONYMOUS, HTTP_NO_TLS, ONVIF_NO_AUTH, RTSP_NO_AUTH, SNAPSHOT_NO_AUTH, TELNET_OPEN,
)
from camscan_lab import LabHost, NamespaceLab, exposure
from camscan_lab.profiles import load_profiles

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="namespace labs need root and iproute2"
)

NETWORK = "198.18.70.0/24"
PROFILES = Path(exposure.__file__).with_name("exposure_profiles.yaml")
CAMSCAN = [sys.executable, "-m", "camscan"]
ACTIVE_CHECKS = (RTSP_NO_AUTH, SNAPSHOT_NO_AUTH, FTP_ANONYMOUS)


def lab_hosts() -> list[LabHost]:
    hosts = []
    for index, profile in enumerate(load_profiles(PROFILES)):
        prefix = profile.oui[0] if profile.oui else "02:e5:00"
        hosts.append(LabHost(
            ip=f"198.18.70.{index + 2}", mac=f"{prefix}:00:00:{index + 2:02x}", profile=profile.name,
            services=profile.services, truth={**profile.truth, "profile": profile.name},
            serial=f"E5LAB{index:010d}",
        ))
    return hosts


def truth_pairs(hosts: list[LabHost], check: str) -> set[tuple[str, int]]:
    return {(host.ip, port) for host in hosts for port in host.truth["findings"].get(check, [])}


def local_cli(*args: str) -> subprocess.CompletedProcess:
    """A camscan command that only reads the database (no network)."""
    assert args[0] in ("export", "findings"), args
    return subprocess.run([*CAMSCAN, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def lab():
    with NamespaceLab(lab_hosts(), prefix="e5", network=NETWORK) as running:
        yield running


def scan(lab: NamespaceLab, db: Path, *options: str) -> None:
    result = lab.run([*CAMSCAN, "scan", NETWORK, "--db", str(db), "--yes", *options],
                     capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def scanned(lab, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("e5") / "checks.db"
    scan(lab, db)
    return db


def found_pairs(db: Path, check: str) -> set[tuple[str, int]]:
    listed = local_cli("findings", "--db", str(db), "--json")
    assert listed.returncode == 0, listed.stderr
    return {(item["ip"], item["port"]) for item in json.loads(listed.stdout) if item["check"] == check}


@pytest.mark.parametrize("check", [RTSP_NO_AUTH, SNAPSHOT_NO_AUTH])
def test_open_streams_and_snapshots_found_with_precision_and_recall_one(lab, scanned, check):
    truth = truth_pairs(lab.hosts, check)
    found = found_pairs(scanned, check)
    assert truth, "the lab must hold open devices for this check"
    right = truth & found
    precision = len(right) / len(found) if found else 0.0
    recall = len(right) / len(truth)
    assert (precision, recall) == (1.0, 1.0), f"missed {sorted(truth - found)}, wrongly reported {sorted(found - truth)}"


@pytest.mark.parametrize("check", [TELNET_OPEN, FTP_ANONYMOUS, HTTP_NO_TLS, ONVIF_NO_AUTH])
def test_other_checks_report_exactly_the_exposed_ports(lab, scanned, check):
    assert found_pairs(scanned, check) == truth_pairs(lab.hosts, check)


def test_findings_in_export_with_evidence_and_no_image(lab, scanned):
    exported = local_cli("export", "--db", str(scanned), "--format", "json")
    assert exported.returncode == 0, exported.stderr
    by_ip = {device["ip"]: device for device in json.loads(exported.stdout)}
    axis = next(host for host in lab.hosts if host.profile == "exp-axis-open")
    findings = {item["check"]: item for item in by_ip[axis.ip]["findings"]}
    assert findings[RTSP_NO_AUTH]["evidence"] == {
        "url": f"rtsp://{axis.ip}:554/axis-media/media.amp", "status": "200 OK", "codecs": "H264/90000"}
    snapshot = findings[SNAPSHOT_NO_AUTH]["evidence"]
    assert snapshot["url"] == f"http://{axis.ip}/axis-cgi/jpg/image.cgi" and snapshot["content_type"] == "image/jpeg"
    assert len(snapshot["sha256"]) == 64 and int(snapshot["size"]) > 0
    assert set(snapshot) == {"url", "content_type", "size", "sha256"}
    for device in by_ip.values():
        for item in device["findings"]:
            assert {"check", "port", "severity", "detail"} <= set(item)


def test_no_checks_and_a_chosen_subset(lab, tmp_path):
    quiet = tmp_path / "quiet.db"
    scan(lab, quiet, "--no-checks")
    listed = local_cli("findings", "--db", str(quiet), "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []

    only_rtsp = tmp_path / "rtsp.db"
    scan(lab, only_rtsp, "--checks", RTSP_NO_AUTH)
    listed = json.loads(local_cli("findings", "--db", str(only_rtsp), "--json").stdout)
    assert {item["check"] for item in listed} == {RTSP_NO_AUTH}
    assert found_pairs(only_rtsp, RTSP_NO_AUTH) == truth_pairs(lab.hosts, RTSP_NO_AUTH)


def login_attempts(lab: NamespaceLab) -> dict[str, int]:
    return {host.profile: host.extra.get("login_attempts", 0) for host in lab.hosts}


def test_default_credentials_off_by_default_then_bounded_and_never_shown(lab, scanned, tmp_path):
    assert found_pairs(scanned, DEFAULT_CREDENTIALS) == set()
    assert set(login_attempts(lab).values()) == {0}, "a scan without the opt-in must not log in"

    db = tmp_path / "logins.db"
    scan(lab, db, "--check-default-credentials")
    assert found_pairs(db, DEFAULT_CREDENTIALS) == truth_pairs(lab.hosts, DEFAULT_CREDENTIALS)
    attempts = login_attempts(lab)
    assert attempts["exp-hikvision-factory-password"] == 1
    assert attempts["exp-dahua-locks-out"] == 1, "the check must stop at the first lockout sign"
    assert max(attempts.values()) <= 3
    listed = local_cli("findings", "--db", str(db), "--json")
    exported = local_cli("export", "--db", str(db), "--format", "json")
    for output in (listed.stdout, exported.stdout, db.read_bytes().decode("latin-1")):
        assert "12345" not in output
    [finding] = [item for item in json.loads(listed.stdout) if item["check"] == DEFAULT_CREDENTIALS]
    assert finding["evidence"]["account"] == "admin" and finding["severity"] == "critical"


def test_onvif_finding_names_the_stream_it_gave_out(lab, scanned):
    generic = next(host for host in lab.hosts if host.profile == "exp-generic-alt-port-open")
    listed = json.loads(local_cli("findings", "--db", str(scanned), "--json").stdout)
    [finding] = [item for item in listed if item["check"] == ONVIF_NO_AUTH]
    assert finding["ip"] == generic.ip
    assert finding["evidence"] == {"service": f"http://{generic.ip}/onvif/Media", "profiles": "2",
                                   "stream_uri": f"rtsp://{generic.ip}:8554/live"}
