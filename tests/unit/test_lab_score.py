"""Scoring an exported inventory against the lab's truth: makers, kinds and false cameras."""

from __future__ import annotations

from camscan_lab import build_hosts
from camscan_lab.score import score

HOSTS = build_hosts(["dahua-nvr", "hikvision-ds2cd", "mute-camera", "brother-mfc"], "198.18.0.0/24")


def exported(*devices: tuple[str | None, str | None, bool]) -> list[dict]:
    """Each lab host's exported device, saying (vendor, device type, is camera) and the model its replies carry."""
    return [{"ip": host.ip, "vendor": vendor, "manufacturer": vendor, "device_type": kind, "is_camera": camera,
             "model": host.truth.get("discovery_model")} for host, (vendor, kind, camera) in zip(HOSTS, devices)]


def test_a_recorder_called_a_camera_is_named_but_not_typed():
    result = score(HOSTS, exported(("dahua", "ip-camera", True), ("hikvision", "ip-camera", True),
                                   (None, None, False), ("brother", "printer", False)))
    assert (result.identifiable, result.named, result.typed, result.false_cameras, result.wrong_makers) == (2, 2, 1, 0, 0)
    assert result.type_accuracy == 0.5
    assert result.problems == [f"type of {HOSTS[0].ip} dahua-nvr: 'ip-camera', truth 'nvr'"]


def test_wrong_makers_unidentifiable_cameras_and_false_cameras():
    result = score(HOSTS, exported(("dahua", "nvr", True), ("dahua", None, False),
                                   ("dahua", "ip-camera", True), ("brother", "ip-camera", True)))
    assert (result.identifiable, result.named, result.typed, result.false_cameras, result.wrong_makers) == (2, 1, 1, 1, 2)
    assert result.accuracy == 0.5
    assert [problem.split(":")[0] for problem in result.problems] == [
        f"missed {HOSTS[1].ip} hikvision-ds2cd", f"type of {HOSTS[1].ip} hikvision-ds2cd",
        f"wrong maker {HOSTS[2].ip} mute-camera", f"false camera {HOSTS[3].ip} brother-mfc"]
