"""How the command line ends on an error (issue 14): an error the user can act on is one
line; anything else is a bug, shown with its traceback and a request to report it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from camscan import cli, errors
from camscan.store import Store


def _one_error_line(result) -> str:
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("options, said", [
    (["--ports", "80,99999"], "Error: '99999' is outside 1-65535"),
    (["--ports", "http"], "Error: 'http' is not a port or port range (e.g. 80,443,8000-8100)"),
    (["--checks", "rtsp-no-auth,exploit"], "Error: unknown check(s) exploit;"),
    (["--exclude", "198.18.0.0/33"], "Error: "),
])
def test_bad_scan_options_are_one_line_before_anything_is_sent(tmp_path, options, said):
    result = CliRunner().invoke(cli.main, ["scan", "127.0.0.1", "--db", str(tmp_path / "x.db"), *options])
    assert result.exit_code == 1
    assert _one_error_line(result).startswith(said)
    assert not (tmp_path / "x.db").exists()


def test_a_file_camscan_cannot_write_is_one_line(tmp_path):
    Store(tmp_path / "inventory.db").close()
    target = tmp_path / "no-such-folder" / "cameras.csv"
    result = CliRunner().invoke(cli.main, ["export", "--db", str(tmp_path / "inventory.db"), "--format", "csv",
                                           "-o", str(target)])
    assert result.exit_code == 1
    assert _one_error_line(result) == f"Error: cannot write {target}: No such file or directory"


def test_a_file_that_is_no_capture_is_one_line(tmp_path):
    capture = tmp_path / "notes.pcap"
    capture.write_text("not a capture\n")
    result = CliRunner().invoke(cli.main, ["passive", str(capture), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1
    assert str(capture) in _one_error_line(result)


def test_an_expected_error_is_one_line_from_the_installed_command(tmp_path):
    finished = subprocess.run([sys.executable, "-m", "camscan", "scan", "127.0.0.1", "--ports", "0",
                               "--db", str(tmp_path / "x.db")], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 1
    assert finished.stderr == "Error: '0' is outside 1-65535\n"


def _internal_bug(text: str) -> list[int]:
    raise ValueError("an internal bug")


def test_an_unexpected_error_shows_its_traceback_and_asks_for_a_report(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "parse_ports", _internal_bug)
    monkeypatch.setattr(cli, "issue_tracker_url", lambda: None)
    result = CliRunner().invoke(cli.main, ["scan", "127.0.0.1", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == errors.BUG_EXIT_STATUS == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: an internal bug" in result.stderr
    assert result.stderr.splitlines()[-1] == errors.bug_report_request(cli.__version__, None)
    assert "Please report it to camscan's maintainers" in result.stderr


def test_the_report_request_names_the_issue_tracker_of_the_package_metadata(monkeypatch):
    class Metadata:
        def get_all(self, name):
            assert name == "Project-URL"
            return ["Homepage, https://198.18.0.9/camscan", "Bug Tracker, https://198.18.0.9/camscan/issues"]

    monkeypatch.setattr(errors, "metadata", lambda distribution: Metadata())
    assert errors.issue_tracker_url() == "https://198.18.0.9/camscan/issues"
    request = errors.bug_report_request("1.2.3", errors.issue_tracker_url())
    assert "camscan 1.2.3" in request and "at https://198.18.0.9/camscan/issues" in request


def test_no_tracker_is_named_when_the_metadata_has_none(monkeypatch):
    class Metadata:
        def get_all(self, name):
            return ["Homepage, https://198.18.0.9/camscan", "Changelog, https://198.18.0.9/camscan/changes"]

    monkeypatch.setattr(errors, "metadata", lambda distribution: Metadata())
    assert errors.issue_tracker_url() is None


def test_listening_on_an_interface_that_does_not_exist_is_one_line(tmp_path):
    result = CliRunner().invoke(cli.main, ["passive", "--interface", "nosuch-link0", "--duration", "1",
                                           "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1
    assert _one_error_line(result) == "Error: there is no network interface 'nosuch-link0' (`ip link` lists them)"
