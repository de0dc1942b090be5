"""What a scan's start-up leaves out (bench/startup.py measures it): a refused scope is told before
the scan's modules load, the ONVIF message layer (zeep: a third of a second) loads only when
a device is asked over ONVIF, and identification's data loads in a thread while the sweep begins.
The import checks run in a fresh interpreter, whose modules are its own."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from click.testing import CliRunner

from camscan.cli import main
from camscan.fingerprint import identify

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
NETWORK = "198.18.90.0/29"  # where pcaps/record_fixtures.py puts each profile's lab

SCAN_THEN_LIST_MODULES = """
import sys
from camscan.cli import main
try:
    main(sys.argv[1:], prog_name="camscan")
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


def modules_after(tmp_path: Path, *arguments: str) -> set[str]:
    """The modules loaded once ``camscan ARGUMENTS`` is done (its database in tmp_path)."""
    done = subprocess.run([sys.executable, "-c", SCAN_THEN_LIST_MODULES, *arguments, "--db",
                           str(tmp_path / "scan.db")], capture_output=True, text=True, timeout=120)
    return set(done.stderr.strip().splitlines()[-1].split())


def test_a_refused_scope_is_told_before_the_scan_modules_load(tmp_path):
    loaded = modules_after(tmp_path, "scan", "0.0.0.1", "--replay", str(PCAPS / "linux-nginx.pcapng"))
    assert "camscan.cli" in loaded
    assert not {"camscan.scanner", "camscan.scan_discovery", "camscan.transport.network"} & loaded


def test_the_onvif_message_layer_loads_only_for_a_device_asked_over_onvif(tmp_path):
    replay = ["scan", NETWORK, "--yes", "--json", "--replay"]
    assert "zeep" not in modules_after(tmp_path, *replay, str(PCAPS / "linux-nginx.pcapng"))
    assert "zeep" in modules_after(tmp_path, *replay, str(PCAPS / "hikvision-ds2cd.pcapng"))


def test_identification_data_loads_in_a_thread_of_its_own_while_the_scan_runs(tmp_path, monkeypatch):
    loaded_in = []
    load = identify.load_identification_data

    def load_and_note() -> None:
        loaded_in.append(threading.current_thread())
        load()

    monkeypatch.setattr(identify, "load_identification_data", load_and_note)
    monkeypatch.setattr(identify, "_loading", None)
    result = CliRunner().invoke(main, ["scan", NETWORK, "--yes", "--json", "--db", str(tmp_path / "scan.db"),
                                       "--replay", str(PCAPS / "hikvision-ds2cd.pcapng")])
    assert result.exit_code == 0, result.output
    assert len(loaded_in) == 1 and loaded_in[0] is not threading.main_thread()
    [camera] = json.loads(result.stdout)
    assert camera["vendor"] == "hikvision"
