"""The scan library (camscan.Scan, camscan.run_scan) driven on the replay network: the inventory,
progress and notices through public callbacks, a recording's options, Ctrl-C, and a re-scan
that learns less than the last one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from camscan_lab.score import without_timestamps

import camscan
from camscan.model import Device, Identification, Service
from camscan.scanner import Progress
from camscan.scanning import ScanOptionError
from camscan.store import Store

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
NETWORK = "198.18.90.0/29"  # where pcaps/record_fixtures.py put each profile's lab
HIKVISION = PCAPS / "hikvision-ds2cd.pcapng"  # one camera at .2: ports 80 (http), 554 (rtsp) and 8000 (unknown)
CAMERA = "198.18.90.2"


def exported(devices: list[dict]) -> list[dict]:
    return [{key: value for key, value in device.items() if key != "id"} for device in without_timestamps(devices)]


def test_run_scan_records_the_live_inventory_of_a_recording(tmp_path, no_network):
    result = camscan.run_scan([NETWORK], db_path=tmp_path / "replay.db", replay=str(HIKVISION))
    assert (result.status, result.found) == ("complete", 1)
    assert exported(result.devices) == exported(json.loads(HIKVISION.with_suffix(".json").read_text()))
    with Store(tmp_path / "replay.db") as store:
        [scan] = store.scans()
    assert (scan["id"], scan["status"], scan["parameters"]["replay"]) == (result.scan_id, "complete", str(HIKVISION))


def test_progress_and_notices_reach_public_callbacks(tmp_path, no_network):
    seen: list[tuple[int, int]] = []
    notices: list[str] = []
    scan = camscan.Scan([NETWORK], db_path=tmp_path / "replay.db", replay=str(HIKVISION), ports=[80],
                        on_progress=lambda progress: seen.append((progress.hosts_done, progress.total_hosts)),
                        on_notice=notices.append)
    result = scan.run()
    assert seen and seen[-1] == (6, 6)  # the /29's six hosts
    assert any("differs from the recording's" in notice for notice in notices)
    assert result.notices == notices


def test_a_replay_takes_the_recorded_options_the_caller_left_unset(tmp_path, no_network):
    scan = camscan.Scan([NETWORK], db_path=tmp_path / "replay.db", replay=str(HIKVISION))
    scan.prepare()
    recorded_ports = scan.options["ports"]
    given = camscan.Scan([NETWORK], db_path=tmp_path / "replay.db", replay=str(HIKVISION), ports=[554])
    given.prepare()
    assert recorded_ports != [554] and given.options["ports"] == [554]
    assert "on 1 TCP port(s)" in given.describe()


def test_ctrl_c_ends_the_scan_as_interrupted_and_keeps_what_it_found(tmp_path, no_network):
    def interrupt_once_the_camera_is_in(progress: Progress) -> None:
        if progress.devices:
            raise KeyboardInterrupt

    result = camscan.run_scan([NETWORK], db_path=tmp_path / "replay.db", replay=str(HIKVISION),
                              on_progress=interrupt_once_the_camera_is_in)
    assert result.status == "interrupted"
    assert [device["ip"] for device in result.devices] == [CAMERA]
    with Store(tmp_path / "replay.db") as store:
        assert [scan["status"] for scan in store.scans()] == ["interrupted"]


@pytest.mark.parametrize("options", [{"record": "x.pcapng", "replay": str(HIKVISION)}, {"record_credentials": True}])
def test_options_that_do_not_go_together_are_refused_before_anything_runs(tmp_path, options):
    with pytest.raises(ScanOptionError):
        camscan.Scan([NETWORK], db_path=tmp_path / "never.db", **options).prepare()
    assert not (tmp_path / "never.db").exists()


def test_a_rescan_that_learns_no_protocol_keeps_the_known_one(tmp_path, no_network):
    """The camera's port 8000 says nothing the scan recognises: a protocol an earlier look found stays."""
    with Store(tmp_path / "replay.db") as store:
        scan_id = store.start_scan([CAMERA], {})
        store.record_device(scan_id, Device(ip=CAMERA, mac="c0:56:e3:96:fb:71", mac_seen=True,
                                            services=[Service(CAMERA, 8000, "hikvision-sdk")],
                                            identification=Identification(vendor="hikvision")))
        store.finish_scan(scan_id)
    result = camscan.run_scan([NETWORK], db_path=tmp_path / "replay.db", replay=str(HIKVISION))
    [camera] = result.devices
    assert {service["port"]: service["protocol"] for service in camera["services"]} == {
        80: "http", 554: "rtsp", 8000: "hikvision-sdk"}
