"""A replay stores each host once, when its probes are done: a recording answers at once, so no
host stalls and none is stored part-way (a live scan stores a stalled host's answers meanwhile)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from camscan import scanner
from camscan.cli import main
from camscan.store import Store

RECORDING = Path(__file__).resolve().parents[2] / "pcaps" / "hikvision-nvr.pcapng"
NETWORK = "198.18.90.0/29"  # where pcaps/record_fixtures.py puts each profile's lab


def test_a_replay_stores_each_host_once(tmp_path, monkeypatch):
    monkeypatch.setattr(scanner, "PARTIAL_RECORD_SECONDS", 0.0)  # a live scan would store at every turn
    stored: Counter[str] = Counter()
    record_device = Store.record_device

    def count(store, scan_id, device, *args, **kwargs):
        stored[device.ip] += 1
        return record_device(store, scan_id, device, *args, **kwargs)

    monkeypatch.setattr(Store, "record_device", count)
    result = CliRunner().invoke(main, ["scan", NETWORK, "--replay", str(RECORDING), "--db", str(tmp_path / "r.db"),
                                       "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert stored and set(stored.values()) == {1}
