"""Blind check against real-world banners collected from public fingerprint sources.

Each entry of realworld_banners.yaml is one banner as a scanner would observe it, with the
maker it should be attributed to (vendor key as in signatures/vendors.yaml) and whether the
device is a camera/recorder.  The strings were gathered independently of camscan's own
signature examples (Recog XML examples, zmap/ztag test banners, Greenbone/WhatWeb detection
strings, a public Shodan dump of a university network); see each entry's ``source``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from camscan.fingerprint.identify import Identifier
from camscan.model import CAMERA_DEVICE_TYPES, Observation

DATA = yaml.safe_load((Path(__file__).with_name("realworld_banners.yaml")).read_text())
SAYS_CAMERA = re.compile(r"camera|webcam|ipcam|\bcam\b|\bdvr\b|\bnvr\b|video recorder", re.I)


@pytest.fixture(scope="module")
def identifier() -> Identifier:
    return Identifier()


def _makes_more_than_cameras(identifier: Identifier, maker: str | None) -> bool:
    vendor = identifier.catalogue.get(maker)
    return vendor is not None and not set(vendor.makes) <= CAMERA_DEVICE_TYPES


def _id(entry: dict) -> str:
    return f"{entry['field']}:{entry['value'][:60]}"


@pytest.mark.parametrize("entry", DATA, ids=[_id(e) for e in DATA])
def test_realworld_banner(entry: dict, identifier: Identifier) -> None:
    observation = Observation(ip="198.18.0.2", source="test", field=entry["field"], value=entry["value"])
    result = identifier.identify([observation])
    if not entry["camera"]:
        assert not result.is_camera, f"non-camera called {result.device_type} (vendor {result.vendor})"
        return
    if entry["vendor"]:
        assert entry["vendor"] in (result.vendor, result.manufacturer), (
            f"expected {entry['vendor']}, got vendor={result.vendor} manufacturer={result.manufacturer}"
        )
        if result.device_type is None and _makes_more_than_cameras(identifier, result.manufacturer):
            return  # a banner naming only a maker of cameras and intercoms or access control says no kind
        assert result.is_camera, f"camera of {entry['vendor']} typed {result.device_type}"
    elif SAYS_CAMERA.search(entry["value"]):
        assert result.is_camera, f"banner says camera but typed {result.device_type}"


def test_dataset_shape() -> None:
    cameras = [e for e in DATA if e["camera"]]
    others = [e for e in DATA if not e["camera"]]
    assert len(DATA) >= 150
    assert len(others) * 3 >= len(DATA)
    assert all(e.get("source") for e in DATA)
    assert cameras
