"""camscan's code type-checks: mypy, with pyproject.toml's [tool.mypy] settings, over src/camscan.

The live and replay networks meet the typed ``Network`` interface only here: nothing at run
time compares them, so a method one of them lacks or declares differently fails this test.
"""

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_finds_no_error_in_camscan(monkeypatch):
    monkeypatch.chdir(ROOT)  # the configuration's paths are the repository's
    report, errors, status = api.run(["--config-file", str(ROOT / "pyproject.toml")])
    assert status == 0, report + errors
