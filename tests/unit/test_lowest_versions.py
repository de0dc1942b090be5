"""The CI step that installs the lowest declared versions pins exactly what pyproject.toml declares."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lowest_direct_versions", ROOT / "scripts" / "lowest_direct_versions.py")
lowest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lowest)


def test_every_direct_requirement_of_the_project_and_its_test_extra_is_pinned_to_its_minimum():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = lowest.lowest_pins(pyproject, ["test"])
    declared = pyproject["project"]["dependencies"] + pyproject["project"]["optional-dependencies"]["test"]
    assert len(pins) == len(declared)
    assert "sqlite-utils==4.0" in pins  # Database.atomic(), which the store uses, came with 4.0


def test_extras_are_kept_and_a_requirement_without_a_minimum_is_refused():
    project = {"project": {"dependencies": ["onvif-zeep-async[extra] >= 3.1"], "optional-dependencies": {}}}
    assert lowest.lowest_pins(project, []) == ["onvif-zeep-async[extra]==3.1"]
    with pytest.raises(SystemExit, match="name>=minimum"):
        lowest.lowest_pins({"project": {"dependencies": ["scapy<3"], "optional-dependencies": {}}}, [])
