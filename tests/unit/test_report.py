"""The HTML audit report: what it shows, that it is self-contained and escaped, and how Chromium renders it."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from inventory import Clock, device, hostile_inventory, scan, school

from camscan.cli import main
from camscan.report import gather, render_html
from camscan.store import Store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian package `chromium`; scripts/setup.sh installs it)")
HOSTILE = '<script>alert("x")</script><img src="http://127.0.0.1:9/x.png">'


class Tables(HTMLParser):
    """Text of every table cell by table id, and which tags appear."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict]] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "table":
            self._table = attributes.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(document: str) -> Tables:
    parser = Tables()
    parser.feed(document)
    return parser


def rows_of(tables: Tables, table_id: str) -> list[dict[str, str]]:
    header, *rows = tables.tables[table_id]
    return [dict(zip(header, row)) for row in rows]


@pytest.fixture
def report(tmp_path):
    store, _, _ = school(tmp_path / "a.db")
    hostile = device("mystery-cam", "198.18.0.99", mac="02:00:00:00:00:99")
    hostile.identification.model = HOSTILE
    hostile.identification.device_type = "ip-camera"
    scan(store, Clock(), [hostile], site=HOSTILE)
    document = render_html(gather(store))
    store.close()
    return document


def test_report_shows_covered_devices_with_their_evidence(report):
    tables = parse(report)
    covered = {row["ip"]: row for row in rows_of(tables, "covered-table")}
    assert set(covered) == {"198.18.0.10", "198.18.0.15", "198.18.0.21"}
    assert (covered["198.18.0.10"]["brand"], covered["198.18.0.10"]["maker"]) == ("lorex", "dahua")
    assert "Lorex is a Dahua OEM brand" in covered["198.18.0.10"]["basis"]
    assert "dahua-rtsp-server" in covered["198.18.0.10"]["evidence"]
    assert (covered["198.18.0.15"]["brand"], covered["198.18.0.15"]["maker"]) == ("lts", "hikvision")
    unknown = [row["ip"] for row in rows_of(tables, "unknown-table")]
    assert unknown == ["198.18.0.14", "198.18.0.99"]


def test_report_shows_scope_totals_and_changes(report):
    tables = parse(report)
    scans = rows_of(tables, "scans-table")
    assert [(s["scan"], s["site"], s["targets"], s["status"]) for s in scans][:2] == [
        ("1", "School A", "198.18.0.0/24", "complete"), ("2", "School A", "198.18.0.0/24", "complete")]
    assert scans[0]["ports"] == "2 TCP ports"
    vendors = {row["brand"]: row for row in rows_of(tables, "totals-vendor")}
    assert vendors["lorex"]["NDAA s.889 covered"] == "1" and vendors["hp"]["cameras/recorders"] == "0"
    sites = {row["site"]: row["devices"] for row in rows_of(tables, "totals-site")}
    assert sites["School A"] == "6"
    changes = {(row["change"], row["ip"]): row["what"] for row in rows_of(tables, "changes-1-2")}
    assert changes == {
        ("new", "198.18.0.15"): "lts", ("gone", "198.18.0.13"): "hp LaserJet Pro M404dn",
        ("moved", "198.18.0.21"): "198.18.0.11 → 198.18.0.21",
        ("changed", "198.18.0.12"): "firmware: 4.10.0.46 → 4.12.0.60",
    }
    assert "findings-table" not in tables.tables  # no findings recorded: no empty section


def test_report_is_self_contained_and_escapes_everything(report):
    tables = parse(report)
    assert [tag for tag, _ in tables.tags if tag in ("script", "img", "link", "iframe", "object")] == []
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", report)
    assert "Content-Security-Policy" in report and "default-src 'none'" in report
    assert HOSTILE not in report and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in report
    inventory = {row["ip"]: row for row in rows_of(tables, "inventory-table")}
    assert inventory["198.18.0.99"]["model"] == HOSTILE  # shown as text, not markup
    assert inventory["198.18.0.99"]["site"] == HOSTILE


def test_report_lists_findings_when_there_are_some(tmp_path):
    store, _, (first, _) = school(tmp_path / "a.db")
    device_id = next(d["id"] for d in store.devices() if d["ip"] == "198.18.0.10")
    store.db.execute("INSERT INTO findings (device_id, scan_id, check_name, severity, port, detail) VALUES "
                     "(?, ?, 'rtsp-describe-without-credentials', 'high', 554, 'stream described to anyone')",
                     [device_id, first])
    store.db.conn.commit()
    [finding] = rows_of(parse(render_html(gather(store))), "findings-table")
    assert (finding["severity"], finding["check"], finding["ip"], finding["port"]) == (
        "high", "rtsp-describe-without-credentials", "198.18.0.10", "554")


def test_report_lists_devices_heard_on_a_scanned_link_outside_scope(tmp_path):
    import dataclasses

    from camscan.checks.passive import misaddressed_device
    from camscan.onlink import ON_LINK_OUTSIDE_SCOPE

    store, clock, _ = school(tmp_path / "a.db")
    factory = dataclasses.replace(device("hikvision-cam", "198.19.77.64", mac="02:00:00:00:77:64"),
                                  seen_as=ON_LINK_OUTSIDE_SCOPE)
    scan_id = scan(store, clock, [factory])
    device_id = next(d["id"] for d in store.devices() if d["ip"] == "198.19.77.64")
    store.record_findings(scan_id, device_id, [misaddressed_device("198.19.77.64", "eth0", "198.18.0.0/24")])
    tables = parse(render_html(gather(store)))
    [row] = rows_of(tables, "on-link-table")
    assert (row["ip"], row["seen as"]) == ("198.19.77.64", "on-link, outside scope")
    assert "198.18.0.0/24" in row["why"] and "not contacted" in row["why"]
    assert [d["seen_as"] for d in store.devices() if d["ip"] == "198.19.77.64"] == [ON_LINK_OUTSIDE_SCOPE]
    assert all("seen_as" not in d for d in store.devices() if d["ip"] != "198.19.77.64")


def test_report_without_devices_outside_scope_has_no_such_section(report):
    assert "on-link-table" not in parse(report).tables


def test_report_marks_a_finding_that_a_later_scan_running_its_check_no_longer_found(tmp_path):
    store, _, (first, _) = school(tmp_path / "a.db")
    device_id = next(d["id"] for d in store.devices() if d["ip"] == "198.18.0.10")
    store.db.execute("INSERT INTO findings (device_id, scan_id, check_name, severity, port, detail) VALUES "
                     "(?, ?, 'rtsp-no-auth', 'high', 554, 'stream described to anyone')", [device_id, first])
    store.db.conn.commit()
    [still] = rows_of(parse(render_html(gather(store))), "findings-table")
    assert still["status"] == "open"  # the second scan ran no checks
    rechecked = store.start_scan(["198.18.0.0/24"], {"checks": ["rtsp-no-auth"]})
    store.record_device(rechecked, device("lorex-nvr", "198.18.0.10"))
    store.finish_scan(rechecked)
    document = render_html(gather(store))
    [resolved] = rows_of(parse(document), "findings-table")
    assert resolved["status"] == f"resolved (scan {rechecked})"
    assert "Findings and exposures (1, 0 still open)" in document


def test_report_of_a_single_scan_says_there_is_nothing_to_compare(tmp_path):
    clock = Clock()
    with Store(tmp_path / "one.db", clock=clock) as store:
        scan(store, clock, [device("printer", "198.18.100.2")])
        document = render_html(gather(store))
    assert "no changes to show yet" in document and "nothing to chart" in document


def test_cli_report_writes_the_file(tmp_path):
    school(tmp_path / "a.db")[0].close()
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "a.db"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "covered-table" in out.read_text()


def test_cli_report_names_brands_and_makers_as_people_write_them(tmp_path):
    """Through the CLI the report reads the catalogue's display names, not vendor keys; the
    Avigilon camera whose MAC block Motorola Solutions now holds stays an Avigilon."""
    school(tmp_path / "a.db")[0].close()
    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "--db", str(tmp_path / "a.db"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    document = out.read_text()
    covered = {row["ip"]: (row["brand"], row["maker"]) for row in rows_of(parse(document), "covered-table")}
    assert covered["198.18.0.10"] == ("Lorex", "Dahua")
    assert covered["198.18.0.15"] == ("LTS", "Hikvision")
    bars = re.findall(r"<title>([^<]+)</title></rect>", document)
    assert "Avigilon: 1 (not covered)" in bars
    assert not [bar for bar in bars if bar.startswith(("motorolasolutions", "lorex", "lts"))]


def test_exports_keep_vendor_keys_and_add_the_names_people_read(tmp_path):
    school(tmp_path / "a.db")[0].close()
    exported = CliRunner().invoke(main, ["export", "--db", str(tmp_path / "a.db"), "--format", "json"])
    assert exported.exit_code == 0, exported.output
    avigilon = next(d for d in json.loads(exported.output) if d["ip"] == "198.18.0.12")
    assert (avigilon["vendor"], avigilon["manufacturer"]) == ("avigilon", "avigilon")
    assert (avigilon["vendor_name"], avigilon["manufacturer_name"], avigilon["parent_name"]) == (
        "Avigilon", "Avigilon", "Motorola Solutions")
    listed = CliRunner().invoke(main, ["devices", "--db", str(tmp_path / "a.db"), "--vendor", "lts", "--json"])
    assert [d["vendor_name"] for d in json.loads(listed.output)] == ["LTS"]


@pytest.mark.parametrize(("ip", "made_by"), [
    ("198.18.0.12", "Avigilon, a Motorola Solutions company"),
    ("198.18.0.10", "Lorex, made by Dahua"),
])
def test_show_names_brand_maker_and_parent_where_they_differ(tmp_path, ip, made_by):
    school(tmp_path / "a.db")[0].close()
    shown = CliRunner().invoke(main, ["show", ip, "--db", str(tmp_path / "a.db")])
    assert shown.exit_code == 0, shown.output
    assert f"      made by: {made_by}\n" in shown.output


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a local file, with no network features and a fresh profile."""
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)


@NEEDS_CHROMIUM
def test_chromium_renders_the_report(report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(report, encoding="utf-8")
    rendered = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    dom = parse(rendered.stdout)
    covered = {row["ip"]: (row["brand"], row["maker"]) for row in rows_of(dom, "covered-table")}
    assert covered == {"198.18.0.10": ("lorex", "dahua"), "198.18.0.15": ("lts", "hikvision"),
                       "198.18.0.21": ("hikvision", "hikvision")}
    bars = re.findall(r"<rect [^>]*><title>([^<]+)</title></rect>", rendered.stdout)
    assert sorted(bars) == ["avigilon: 1 (not covered)", "hikvision: 1 (covered)", "lorex: 1 (covered)",
                            "lts: 1 (covered)", "unidentified: 2 (maker unknown)"]
    assert "<script>" not in rendered.stdout.split("</head>", 1)[1]
    shot = tmp_path / "report.png"
    drawn = chromium(tmp_path, "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri())
    assert drawn.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20000


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1: its port, and the first bytes of every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    received.append(connection.recv(4096))
                except OSError:
                    received.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


def crafted_database(path, url: str) -> dict[str, str]:
    """A camscan database edited by hand so that numbers and names are markup; what each column now holds."""
    crafted = {
        "host_count": f'<meta http-equiv="refresh" content="0;url={url}/refresh">',
        "device_count": f'<img src="{url}/image.png">',
        "model": f'<base href="{url}/"><a href="update">Update</a>',
        "port": f'<form action="{url}/form"><button>Go</button></form>',
    }
    store = hostile_inventory(path)
    store.db.execute("UPDATE scans SET host_count = ?, device_count = ?",
                     [crafted["host_count"], crafted["device_count"]])
    store.db.execute("UPDATE devices SET model = ?", [crafted["model"]])
    store.db.execute("UPDATE findings SET port = ?", [crafted["port"]])
    store.db.conn.commit()
    store.close()
    return crafted


@pytest.fixture
def merged_hostile_report(tmp_path, listener):
    """Someone else's crafted database merged through the real CLI into a new one, and its report:
    the page, what the crafted columns hold, and what the listener their URLs name received."""
    port, received = listener
    crafted = crafted_database(tmp_path / "sensor.db", f"http://127.0.0.1:{port}")
    runner = CliRunner()
    merged = runner.invoke(main, ["merge", str(tmp_path / "sensor.db"), "-o", str(tmp_path / "merged.db")])
    assert merged.exit_code == 0, merged.output
    page = tmp_path / "report.html"
    written = runner.invoke(main, ["report", "--db", str(tmp_path / "merged.db"), "-o", str(page)])
    assert written.exit_code == 0, written.output
    return page, crafted, received


def assert_shown_as_text(document: str, crafted: dict[str, str]) -> None:
    """Every crafted column is the text of its cell, and none became an element."""
    tables = parse(document)
    [scan_row] = rows_of(tables, "scans-table")
    assert (scan_row["hosts answering"], scan_row["devices"]) == (crafted["host_count"], crafted["device_count"])
    assert [row["model"] for row in rows_of(tables, "inventory-table")] == [crafted["model"]]
    assert [row["port"] for row in rows_of(tables, "findings-table")] == [crafted["port"]]
    assert not [tag for tag, attributes in tables.tags if tag in ("base", "form", "img", "a")
                or attributes.get("http-equiv") == "refresh"]
    policy = next(attributes["content"] for tag, attributes in tables.tags
                  if attributes.get("http-equiv") == "Content-Security-Policy")
    assert "base-uri 'none'" in policy and "form-action 'none'" in policy


def test_report_of_a_merged_hostile_database_escapes_numbers_too(merged_hostile_report):
    page, crafted, _ = merged_hostile_report
    assert_shown_as_text(page.read_text(encoding="utf-8"), crafted)


@NEEDS_CHROMIUM
def test_chromium_shows_a_merged_hostile_database_as_text_and_fetches_nothing(merged_hostile_report, tmp_path):
    """Chromium neither navigates away (a meta refresh) nor fetches: the 127.0.0.1 listener sees no request."""
    page, crafted, received = merged_hostile_report
    rendered = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert received == []
    assert_shown_as_text(rendered.stdout, crafted)
