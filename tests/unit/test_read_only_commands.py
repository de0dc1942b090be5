"""Commands that only read the inventory leave its file as it was: same bytes, same mtime, even
when it is from an older camscan (read through an upgraded private copy) or lacks attribution."""

from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner
from inventory import school
from test_history import version_1_database

from camscan.cli import main

READ_ONLY = [["devices"], ["devices", "--json"], ["show", "198.18.0.10", "--json"], ["export", "--format", "json"],
             ["export", "--format", "csv"], ["scans", "--json"], ["diff", "--json"], ["findings", "--json"],
             ["report", "-o", "report.html"], ["reidentify", "--dry-run"], ["datasette-metadata"]]


def fingerprint(path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def lacking_attribution(tmp_path):
    """A school's inventory whose NVR has no NDAA s.889 attribution (recorded before camscan kept it)."""
    path = tmp_path / "inventory.db"
    store, _, _ = school(path)
    store.db.execute("UPDATE devices SET ndaa_889 = NULL, ndaa_basis = NULL WHERE ip = '198.18.0.10'")
    store.db.conn.commit()
    store.close()
    time.sleep(0.01)  # a write now would show in the mtime
    return path


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_leaves_the_file_unchanged(lacking_attribution, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where report and datasette-metadata write their own output files
    before = fingerprint(lacking_attribution)
    run(*command, "--db", str(lacking_attribution))
    assert fingerprint(lacking_attribution) == before


def test_a_reader_still_sees_the_attribution_a_writer_would_fill(lacking_attribution):
    [nvr] = [device for device in json.loads(run("devices", "--json", "--db", str(lacking_attribution)).output)
             if device["ip"] == "198.18.0.10"]
    assert nvr["ndaa_889"] is True and nvr["ndaa_basis"]


def test_an_older_database_is_read_without_upgrading_it(tmp_path):
    path = tmp_path / "old.db"
    version_1_database(path)
    before = fingerprint(path)
    [nvr] = json.loads(run("devices", "--json", "--db", str(path)).output)
    assert (nvr["ip"], nvr["vendor"], nvr["ndaa_889"]) == ("198.18.100.7", "lorex", True)
    assert fingerprint(path) == before
    assert [name for name in os.listdir(tmp_path) if name.startswith("old.db")] == ["old.db"]
