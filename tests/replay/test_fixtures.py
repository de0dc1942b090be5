"""Every recorded lab scan in pcaps/, replayed: the same inventory as the live scan that made it.

No root, no network: the replay answers each probe from the recording. A guard makes any
attempt to open a network socket fail the test.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from camscan.cli import main
from camscan.lab import get_profile, load_profiles
from camscan.lab.recorders import RECORDER_PROFILES, lab_credentials, recorder_lab
from camscan.lab.score import without_timestamps

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
NETWORK = "198.18.90.0/29"  # where pcaps/record_fixtures.py puts each profile's lab
SEED = 11  # the seed pcaps/record_fixtures.py builds each lab with
FIXTURES = sorted(PCAPS.glob("*.pcapng"))
RECORDERS = {profile.name for profile in load_profiles(RECORDER_PROFILES)}


@pytest.fixture
def no_network(monkeypatch):
    """Any network socket opened during the test is a failure (Unix sockets stay allowed)."""
    real_socket = socket.socket

    def refuse(family=socket.AF_INET, *args, **kwargs):
        if family in (socket.AF_INET, socket.AF_INET6, getattr(socket, "AF_PACKET", -1)):
            raise AssertionError("a replay opened a network socket")
        return real_socket(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", refuse)


def credentials_options(tmp_path: Path, recording: Path) -> list[str]:
    """``--credentials FILE`` for a recorder's fixture (recorded with the lab's credentials file), else nothing."""
    if recording.stem not in RECORDERS:
        return []
    path = tmp_path / "credentials.yaml"
    path.write_text(yaml.safe_dump(lab_credentials(recorder_lab(NETWORK, seed=SEED, names=[recording.stem]))))
    path.chmod(0o600)
    return ["--credentials", str(path)]


def replayed(tmp_path: Path, recording: Path) -> list[dict]:
    db = tmp_path / "replay.db"
    runner = CliRunner()
    result = runner.invoke(main, ["scan", NETWORK, "--replay", str(recording), "--db", str(db), "--yes", "--json",
                                  *credentials_options(tmp_path, recording)])
    assert result.exit_code == 0, result.output
    exported = runner.invoke(main, ["export", "--db", str(db), "--format", "json"])
    assert exported.exit_code == 0, exported.output
    return without_timestamps(json.loads(exported.output))


def comparable(inventory: list[dict]) -> list[dict]:
    return sorted(({k: v for k, v in device.items() if k != "id"} for device in inventory), key=lambda d: d["ip"])


def test_there_is_a_fixture_for_every_lab_profile():
    assert {path.stem for path in FIXTURES} == {profile.name for profile in load_profiles()} | RECORDERS


@pytest.mark.parametrize("recording", FIXTURES, ids=lambda path: path.stem)
def test_replay_gives_the_live_inventory(recording, tmp_path, no_network):
    expected = json.loads(recording.with_suffix(".json").read_text())
    assert comparable(replayed(tmp_path, recording)) == comparable(expected)


def _identifiable_camera(recording: Path) -> bool:
    if recording.stem in RECORDERS:  # a recorder's lab holds the cameras behind it too
        return False
    profile = get_profile(recording.stem)
    return profile.is_camera and profile.identifiable


@pytest.mark.parametrize("recording", [path for path in FIXTURES if _identifiable_camera(path)], ids=lambda path: path.stem)
def test_replayed_camera_or_recorder_has_the_profiles_device_type(recording, tmp_path, no_network):
    devices = replayed(tmp_path, recording)
    assert [device["device_type"] for device in devices] == [get_profile(recording.stem).truth["device_type"]]
