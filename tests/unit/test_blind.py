"""The blind set (tests/blind/devices.yaml): its integrity, and floors on what camscan makes of it.

The set measures; it is never a rule source (tests/blind/README.md). The floors are the figures
measured when the set was collected: identification may only improve on them. Raise a floor when
identification improves (run ``python scripts/blind_report.py`` for the figures and the misses).
Run with ``-s`` to see the report.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from camscan.fingerprint.identify import Identifier
from camscan.fingerprint.vendors import Catalogue

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "blind"))
import measure  # noqa: E402  (tests/blind is no package; the report script imports it the same way)

# Measured on the set as committed; see the README's "Blind measurement" table.
MAKER_RECALL_FLOOR = 68 / 89
CAMERA_RECALL_FLOOR = 71 / 165
FALSE_CAMERAS_CEILING = 2
WRONG_MAKERS_CEILING = 11
# The same over the devices that carry a string other than their MAC (MAC-only entries measure the OUI table).
WITH_STRINGS_MAKER_RECALL_FLOOR = 47 / 59
WITH_STRINGS_CAMERA_RECALL_FLOOR = 65 / 108


@pytest.fixture(scope="module")
def devices() -> list[dict]:
    return measure.load_devices()


@pytest.fixture(scope="module")
def measurement(devices: list[dict]) -> measure.Measurement:
    result = measure.measure(devices)
    print("\n" + measure.report(result))
    return result


def test_every_entry_is_well_formed(devices: list[dict]) -> None:
    assert measure.problems(devices) == []


def test_the_set_spans_cameras_look_alikes_and_makers(devices: list[dict]) -> None:
    cameras = [d for d in devices if d["truth"]["camera"]]
    others = [d for d in devices if not d["truth"]["camera"]]
    makers = {d["truth"]["maker"] for d in devices} - {None}
    assert len(cameras) >= 165 and len(others) >= 283
    assert len(makers) >= 122
    assert sum(measure.has_strings(d) for d in cameras) >= 108
    assert max(sum(d["truth"]["maker"] == maker for d in devices) for maker in makers) * 10 <= len(devices)


@pytest.mark.parametrize(
    ("device", "problem"),
    [
        ({"id": "x", "source": "rapid7/recog xml/http_servers.xml@" + "0" * 40}, "rules were written from"),
        ({"id": "x", "source": "AlexxIT/go2rtc#2232"}, "rules were written from"),
        ({"id": "x", "source": "somewhere"}, "is not a URL"),
        ({"id": "x", "observations": [{"field": "http.serverx", "value": "a"}]}, "unknown field"),
        ({"id": "x", "truth": {"maker": "D-Link", "maker_named": True, "kind": "router", "camera": False}}, "vendor key"),
        ({"id": "x", "truth": {"maker": None, "maker_named": True, "kind": "router", "camera": False}}, "no maker"),
        ({"id": "x", "truth": {"maker": "a", "maker_named": False, "kind": "nvr", "camera": False}}, "disagrees"),
    ],
)
def test_integrity_check_catches(device: dict, problem: str) -> None:
    entry = {
        "id": "x",
        "source": "owner/repo#1",
        "observations": [{"field": "http.server", "value": "a"}],
        "truth": {"maker": "a", "maker_named": True, "kind": "ip-camera", "camera": True},
    } | device
    assert any(problem in found for found in measure.problems([entry]))


def test_duplicate_ids_are_caught(devices: list[dict]) -> None:
    assert any("duplicate id" in found for found in measure.problems(devices[:1] * 2))


def test_maker_recall_does_not_fall(measurement: measure.Measurement) -> None:
    assert measurement.maker_recall >= MAKER_RECALL_FLOOR


def test_camera_recall_does_not_fall(measurement: measure.Measurement) -> None:
    assert measurement.camera_recall >= CAMERA_RECALL_FLOOR


def test_figures_over_devices_with_strings_do_not_fall(measurement: measure.Measurement) -> None:
    with_strings = measurement.with_strings()
    assert with_strings.maker_recall >= WITH_STRINGS_MAKER_RECALL_FLOOR
    assert with_strings.camera_recall >= WITH_STRINGS_CAMERA_RECALL_FLOOR


def test_devices_with_strings_leave_out_mac_only_entries() -> None:
    mac_only = {"observations": [{"field": "mac.address", "value": "00:40:8c:00:00:01"}]}
    with_banner = {"observations": [*mac_only["observations"], {"field": "http.server", "value": "a"}]}
    assert not measure.has_strings(mac_only)
    assert measure.has_strings(with_banner)


def test_no_more_non_cameras_called_cameras(measurement: measure.Measurement) -> None:
    assert len(measurement.false_cameras) <= FALSE_CAMERAS_CEILING, [o.device["id"] for o in measurement.false_cameras]


def test_no_more_wrong_makers(measurement: measure.Measurement) -> None:
    assert len(measurement.wrong_makers) <= WRONG_MAKERS_CEILING, [o.device["id"] for o in measurement.wrong_makers]


def test_the_floors_catch_a_regression(devices: list[dict]) -> None:
    """With no rules, no catalogue and no Recog the figures fall below the floors: the floor tests can fail."""
    crippled = measure.measure(devices, Identifier(rules=[], catalogue=Catalogue({}), recog=False))
    assert crippled.maker_recall < MAKER_RECALL_FLOOR
    assert crippled.camera_recall < CAMERA_RECALL_FLOOR
    assert crippled.with_strings().maker_recall < WITH_STRINGS_MAKER_RECALL_FLOOR
    assert crippled.with_strings().camera_recall < WITH_STRINGS_CAMERA_RECALL_FLOOR
