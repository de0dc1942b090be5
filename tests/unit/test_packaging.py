"""What camscan's own wheel ships: the product, never the lab (issue 14), and what
``camscan demo`` says when the lab package is not installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from click.testing import CliRunner

from camscan.cli import LAB_MISSING, main

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_camscan_and_its_signatures_but_no_lab_code(tmp_path):
    # --no-build-isolation: the build backend (hatchling, a test extra) is taken from this
    # environment, so the test needs no package index.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("camscan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"camscan", wheel.name.split("-py3")[0] + ".dist-info"}
    assert "camscan/cli.py" in names and "camscan/signatures/vendors.yaml" in names
    lab_files = [name for name in names if "lab" in Path(name).parts or "camscan_lab" in name
                 or Path(name).name.endswith("profiles.yaml")]
    assert lab_files == []


def test_demo_without_the_lab_package_says_how_to_install_it_in_one_line(monkeypatch):
    for name in [name for name in sys.modules if name.partition(".")[0] == "camscan_lab"]:
        monkeypatch.delitem(sys.modules, name)  # imported by earlier tests: it would be found again
    monkeypatch.setitem(sys.modules, "camscan_lab", None)  # import camscan_lab now fails as if absent
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 1
    assert result.output == f"Error: {LAB_MISSING}\n"
    assert "pip install ./lab" in LAB_MISSING and "Traceback" not in result.output


# A module name may recur only as one role in several packages, or as one protocol in several
# layers (protocols/ parses it, probes/ converses, transport/ holds its sockets). Anything
# else shared (four modules were once named discovery.py) makes a traceback or an import
# ambiguous to read.
SHARED_MODULE_NAMES = {
    "flows.py": {"camscan/probes", "camscan/checks", "camscan/channels"},  # each package's sans-IO conversations
    "runner.py": {"camscan/checks", "camscan/channels"},  # each package's driver of its flows
    "passive.py": {"camscan", "camscan/checks"},  # passive identification; checks that send nothing
    "onvif.py": {"camscan/protocols", "camscan/probes"},
    "mdns.py": {"camscan/protocols", "camscan/transport"},
}


def test_module_names_are_unique_across_camscan_and_its_lab():
    packages = [ROOT / "src", ROOT / "lab" / "src"]
    folders: dict[str, set[str]] = {}
    for source in packages:
        for path in source.rglob("*.py"):
            if path.name not in ("__init__.py", "__main__.py"):
                folders.setdefault(path.name, set()).add(path.parent.relative_to(source).as_posix())
    shared = {name: where for name, where in folders.items() if len(where) > 1}
    assert shared == SHARED_MODULE_NAMES
