"""A recording keeps the scan's options; its replay takes them unless the command line says otherwise."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from camscan.capture.reader import load_recording
from camscan.cli import main
from camscan.transport.record import SCAN_OPTIONS_COMMENT, scan_options_from, section_header

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
NETWORK = "198.18.90.0/29"
FIXTURE = PCAPS / "hikvision-ds2cd.pcapng"  # ports 80, 554 and 8000 answer


def with_options(tmp_path: Path, options: dict | None, comment: str | None = None) -> Path:
    """The fixture with its section header replaced by one carrying ``options`` (or ``comment``)."""
    data = FIXTURE.read_bytes()
    old_length = struct.unpack("<I", data[4:8])[0]
    text = comment if comment is not None else SCAN_OPTIONS_COMMENT + json.dumps(options)
    path = tmp_path / "recorded.pcapng"
    path.write_bytes(section_header("<", text) + data[old_length:])
    return path


def replay(tmp_path: Path, recording: Path, *extra: str):
    result = CliRunner().invoke(main, ["scan", NETWORK, "--replay", str(recording), "--db", str(tmp_path / "r.db"),
                                       "--yes", "--json", *extra])
    assert result.exit_code == 0, result.output
    [device] = json.loads(result.stdout)
    return sorted(service["port"] for service in device["services"]), result.stderr


def test_the_section_comment_round_trips_through_the_reader(tmp_path):
    options = {"ports": [554], "timeout": 2.0, "discovery": True, "multicast": True, "checks": []}
    recording = load_recording(with_options(tmp_path, options))
    assert recording.problems == [] and recording.conversations
    assert scan_options_from(recording.comments) == options


def test_a_replay_takes_the_recorded_ports_unless_given(tmp_path):
    recording = with_options(tmp_path, {"ports": [554]})
    assert replay(tmp_path, recording)[0] == [554]
    ports, said = replay(tmp_path, recording, "--ports", "80,554")
    assert ports == [80, 554]
    assert "ports [80, 554] differs from the recording's [554]" in said


def test_a_replay_warns_of_an_onvif_account_it_was_not_given(tmp_path):
    _ports, said = replay(tmp_path, with_options(tmp_path, {"onvif_credentials": True}))
    assert "asked ONVIF devices with an account" in said


@pytest.mark.parametrize("options", [{"ports": ["80"]}, {"ports": [0, 70000]}, {"timeout": -1}, {"checks": ["rm -rf"]},
                                     {"discovery": "yes"}])
def test_recorded_options_of_the_wrong_kind_are_ignored(tmp_path, options):
    assert replay(tmp_path, with_options(tmp_path, options))[0] == [80, 554, 8000]


@pytest.mark.parametrize("comment", ["not camscan's", SCAN_OPTIONS_COMMENT + "{broken", SCAN_OPTIONS_COMMENT + "[1, 2]"])
def test_a_recording_without_usable_options_is_replayed_with_the_command_lines(tmp_path, comment):
    ports, said = replay(tmp_path, with_options(tmp_path, None, comment=comment))
    assert ports == [80, 554, 8000]
    assert "names no scan options" in said
