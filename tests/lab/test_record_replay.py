"""A live lab scan recorded with --record, replayed with --replay: the same inventory, nothing sent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from camscan.capture.reader import load_recording
from camscan_lab import NamespaceLab, generate_lab
from camscan_lab.score import without_timestamps

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("unshare") is None,
    reason="namespace labs need root, iproute2 and unshare",
)

NET = "198.18.24.0/24"
CAMSCAN = [sys.executable, "-m", "camscan"]


def exported(db) -> list[dict]:
    result = subprocess.run([*CAMSCAN, "export", "--db", str(db), "--format", "json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    devices = [{k: v for k, v in device.items() if k != "id"} for device in without_timestamps(json.loads(result.stdout))]
    return sorted(devices, key=lambda device: device["ip"])


def test_replay_of_a_recorded_lab_scan_gives_the_same_inventory(tmp_path):
    hosts = generate_lab(40, NET, seed=9)
    recording, live_db, replay_db = tmp_path / "scan.pcapng", tmp_path / "live.db", tmp_path / "replay.db"
    with NamespaceLab(hosts, prefix="csr", network=NET) as lab:
        live = lab.run([*CAMSCAN, "scan", NET, "--db", str(live_db), "--yes", "--record", str(recording)],
                       capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert live.returncode == 0, live.stderr

    captured = load_recording(recording)
    assert not captured.problems
    assert captured.tls_keylog, "the HTTPS conversations' keys are in the recording"
    assert {conv.server[0] for conv in captured.conversations} <= {host.ip for host in hosts}

    # The lab is gone, and the replay runs in an empty network namespace: it cannot send anything.
    replay = subprocess.run(["unshare", "--net", *CAMSCAN, "scan", NET, "--db", str(replay_db), "--yes",
                             "--replay", str(recording)], capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    live_devices, replayed_devices = exported(live_db), exported(replay_db)
    differences = [
        (before["ip"], key, before[key], after.get(key))
        for before, after in zip(live_devices, replayed_devices) for key in before if before[key] != after.get(key)
    ]
    assert len(live_devices) == len(replayed_devices) and not differences, differences[:3]
    cameras = [device for device in exported(replay_db) if device["is_camera"]]
    assert len(cameras) >= 20


def test_record_and_replay_exclude_each_other(tmp_path):
    result = subprocess.run(["unshare", "--net", *CAMSCAN, "scan", "127.0.0.1", "--db", str(tmp_path / "x.db"), "--yes",
                             "--record", str(tmp_path / "a.pcapng"), "--replay", __file__], capture_output=True, text=True)
    assert result.returncode == 2 and "exclude each other" in result.stderr


def test_replay_of_a_file_that_is_no_capture_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture file at all" * 10)
    result = subprocess.run(["unshare", "--net", *CAMSCAN, "scan", NET, "--db", str(tmp_path / "x.db"), "--yes",
                             "--replay", str(junk)], capture_output=True, text=True)
    assert result.returncode == 1 and "cannot replay" in result.stderr and "Traceback" not in result.stderr
