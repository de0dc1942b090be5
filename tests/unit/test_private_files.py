"""The inventory, its exports and recordings list open streams: created readable by their owner only."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from camscan.cli import main
from camscan.private_files import create_private, open_private
from camscan.store import Store

NOBODY = 65534


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def usual_umask():
    """The usual umask, under which files come out world-readable unless camscan says otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.fixture
def inventory(tmp_path):
    db = tmp_path / "camscan.db"
    with Store(db) as store:
        store.start_scan(["198.18.0.0/24"], {})
    return db


def test_a_new_inventory_and_its_wal_and_shm_are_the_owners_only(tmp_path, usual_umask):
    db = tmp_path / "sub" / "camscan.db"
    store = Store(db)
    store.start_scan(["198.18.0.0/24"], {})
    try:
        written = [db, db.with_name("camscan.db-wal"), db.with_name("camscan.db-shm")]
        assert all(path.exists() for path in written)
        assert [mode(path) for path in written] == [0o600, 0o600, 0o600]
    finally:
        store.close()


def test_exports_and_reports_written_with_o_are_the_owners_only(tmp_path, inventory, usual_umask):
    runner = CliRunner()
    for command in (["export", "--format", "json"], ["export", "--format", "csv"], ["report"]):
        target = tmp_path / f"out-{command[-1]}"
        result = runner.invoke(main, [*command, "--db", str(inventory), "-o", str(target)])
        assert result.exit_code == 0, result.output
        assert mode(target) == 0o600 and target.stat().st_size > 0
    assert json.loads((tmp_path / "out-json").read_text()) == []
    printed = runner.invoke(main, ["export", "--db", str(inventory)])
    assert printed.exit_code == 0 and json.loads(printed.output) == []


def test_an_existing_file_keeps_its_mode_and_is_rewritten(tmp_path):
    path = tmp_path / "shared.json"
    path.write_text("old and longer than the new text")
    os.chmod(path, 0o640)
    with open_private(path) as handle:
        handle.write("new")
    assert path.read_text() == "new" and mode(path) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a file to another user needs root")
def test_under_sudo_a_new_file_belongs_to_the_invoking_user(tmp_path, monkeypatch):
    monkeypatch.setenv("SUDO_UID", str(NOBODY))
    monkeypatch.setenv("SUDO_GID", str(NOBODY))
    created = tmp_path / "recording.pcapng"
    create_private(created)
    db = tmp_path / "camscan.db"
    with Store(db) as store:
        store.start_scan(["198.18.0.0/24"], {})
        written = (created, db, db.with_name("camscan.db-wal"))
        owners = {(os.stat(path).st_uid, os.stat(path).st_gid) for path in written}
    assert owners == {(NOBODY, NOBODY)} and mode(created) == 0o600
    existing = tmp_path / "root-owned"
    existing.write_text("")
    create_private(existing)
    assert os.stat(existing).st_uid == 0, "a file camscan did not create keeps its owner"
