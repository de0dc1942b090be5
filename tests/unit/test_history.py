"""History and diff, the schema upgrade, merging inventories, sites, and re-identification from stored observations."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner
from inventory import IDENTIFIER, Clock, device, scan, school

from camscan.cli import main
from camscan.reidentify import attribute_missing, reidentify
from camscan.store import _SCHEMA_V1, APPLICATION_ID, SCHEMA_VERSION, Store, StoreError


def by_ip(rows: list[dict]) -> dict[str, dict]:
    return {row["ip"]: row for row in rows}


# --- diff ----------------------------------------------------------------------------------


def test_diff_lists_exactly_the_new_gone_moved_and_changed_devices(tmp_path):
    store, _, (first, second) = school(tmp_path / "a.db")
    result = store.diff(first, second)
    assert [d["ip"] for d in result["new"]] == ["198.18.0.15"]
    assert result["new"][0]["vendor"] == "lts" and result["new"][0]["ndaa_889"] is True
    assert [d["ip"] for d in result["gone"]] == ["198.18.0.13"]
    assert [(d["old_ip"], d["ip"], d["mac"]) for d in result["moved"]] == [
        ("198.18.0.11", "198.18.0.21", "44:19:b6:01:02:03")]
    assert [(d["ip"], d["changes"]) for d in result["changed"]] == [
        ("198.18.0.12", {"firmware": {"old": "4.10.0.46", "new": "4.12.0.60"}})]
    assert store.latest_scan_pair() == (first, second)


def test_sightings_keep_what_each_scan_identified(tmp_path):
    store, _, (first, second) = school(tmp_path / "a.db")
    assert by_ip(store.sightings(first))["198.18.0.12"]["firmware"] == "4.10.0.46"
    assert by_ip(store.sightings(second))["198.18.0.12"]["firmware"] == "4.12.0.60"
    assert by_ip(store.devices())["198.18.0.12"]["firmware"] == "4.12.0.60"
    assert by_ip(store.sightings(second))["198.18.0.10"]["ndaa_basis"].startswith("manufacturer dahua")


def test_diff_of_an_unknown_scan_says_which(tmp_path):
    store, _, _ = school(tmp_path / "a.db")
    with pytest.raises(StoreError, match="there is no scan 9"):
        store.diff(1, 9)


def test_latest_pair_is_per_site_and_skips_incomplete_scans(tmp_path):
    clock = Clock()
    store = Store(tmp_path / "a.db", clock=clock)
    a1 = scan(store, clock, [device("lorex-nvr", "198.18.0.10")], site="A")
    b1 = scan(store, clock, [device("lorex-nvr", "198.18.1.10", mac="00:1f:54:99:99:99")], site="B")
    a2 = scan(store, clock, [device("lorex-nvr", "198.18.0.10")], site="A")
    interrupted = store.start_scan(["198.18.0.0/24"], {}, site="A")
    store.finish_scan(interrupted, "interrupted")
    assert store.latest_scan_pair("A") == (a1, a2)
    assert store.latest_scan_pair("B") is None
    assert store.latest_scan_pair() == (b1, a2)


# --- sites ---------------------------------------------------------------------------------


def test_without_a_mac_the_same_address_at_another_site_is_another_device(tmp_path):
    clock = Clock()
    store = Store(tmp_path / "a.db", clock=clock)
    scan(store, clock, [device("mystery-cam", "198.18.100.5")], site="School A")
    scan(store, clock, [device("mystery-cam", "198.18.100.5")], site="School B")
    scan(store, clock, [device("mystery-cam", "198.18.100.5")], site="School A")
    assert sorted((d["site"], d["ip"]) for d in store.devices()) == [("School A", "198.18.100.5"), ("School B", "198.18.100.5")]


def test_the_mac_follows_a_device_to_another_site(tmp_path):
    clock = Clock()
    store = Store(tmp_path / "a.db", clock=clock)
    scan(store, clock, [device("lorex-nvr", "198.18.100.5")], site="School A")
    scan(store, clock, [device("lorex-nvr", "198.18.101.9")], site="School B")
    [only] = store.devices()
    assert (only["site"], only["ip"]) == ("School B", "198.18.101.9")


# --- schema upgrade ------------------------------------------------------------------------


def version_1_database(path) -> None:
    """A database as camscan wrote it before schema 2: a Lorex NVR with its evidence, no attribution."""
    conn = sqlite3.connect(path)
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO camscan_meta VALUES ('application', 'camscan'), ('schema_version', '1')")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO scans (id, started_at, finished_at, status, targets, parameters, site) VALUES "
                 "(1, '2026-01-05T08:00:00Z', '2026-01-05T08:01:00Z', 'complete', '[\"198.18.100.0/24\"]', '{}', 'Old site')")
    conn.execute("INSERT INTO devices (id, ip, mac, vendor, manufacturer, device_type, is_camera, confidence, first_seen, "
                 "last_seen, first_scan_id, last_scan_id) VALUES (1, '198.18.100.7', '00:1f:54:10:20:30', 'lorex', 'dahua', "
                 "'nvr', 1, 0.9, '2026-01-05T08:00:00Z', '2026-01-05T08:00:00Z', 1, 1)")
    conn.execute("INSERT INTO evidence (device_id, scan_id, source, field, value, signature, weight, port, sets) VALUES "
                 "(1, 1, 'rtsp', 'rtsp.server', 'Dahua Rtsp Server', 'dahua-rtsp-server', 0.8, 554, "
                 "'{\"manufacturer\": \"dahua\"}')")
    conn.execute("INSERT INTO sightings (scan_id, device_id, ip, mac, vendor, manufacturer, device_type, is_camera, "
                 "confidence) VALUES (1, 1, '198.18.100.7', '00:1f:54:10:20:30', 'lorex', 'dahua', 'nvr', 1, 0.9)")
    conn.execute("INSERT INTO observations (scan_id, device_id, ip, source, field, value, port, observed_at) VALUES "
                 "(1, 1, '198.18.100.7', 'rtsp', 'rtsp.server', 'Dahua Rtsp Server', 554, '2026-01-05T08:00:10Z')")
    conn.commit()
    conn.close()


def test_a_version_1_database_upgrades_in_place_and_gets_attributed(tmp_path):
    path = tmp_path / "old.db"
    version_1_database(path)
    with Store(path) as store:
        assert store.unattributed_count() == 2
        assert attribute_missing(store, IDENTIFIER) == 2
        assert store.unattributed_count() == 0
        [nvr] = store.devices()
        assert (nvr["site"], nvr["ndaa_889"]) == ("Old site", True)
        assert "Lorex is a Dahua OEM brand" in nvr["ndaa_basis"]
        assert store.sightings(1)[0]["ndaa_889"] is True
        assert store.scans()[0]["origin"] == f"{store.database_id}:1"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    conn.close()


def test_the_cli_attributes_an_old_database_when_it_opens_it(tmp_path):
    path = tmp_path / "old.db"
    version_1_database(path)
    result = CliRunner().invoke(main, ["devices", "--db", str(path), "--json"])
    assert result.exit_code == 0, result.output
    [nvr] = json.loads(result.output)
    assert nvr["ndaa_889"] is True and nvr["ndaa_basis"]


# --- merge ---------------------------------------------------------------------------------


def test_merge_combines_sites_without_duplicating_devices(tmp_path):
    school(tmp_path / "a.db", Clock(), site="School A")[0].close()
    clock_b = Clock()
    store_b = Store(tmp_path / "b.db", clock=clock_b)
    clock_b.advance(hours=1)
    # the Lorex NVR moved to school B (same MAC); a MAC-less camera at the same address as one of school A's
    scan(store_b, clock_b, [device("lorex-nvr", "198.18.102.3"), device("mystery-cam", "198.18.0.14"),
                            device("printer", "198.18.102.9", mac="9c:7b:ef:00:00:02")], site="School B")
    store_b.close()
    before = (tmp_path / "a.db").read_bytes()

    with Store(tmp_path / "all.db") as merged:
        first = merged.merge_from(tmp_path / "a.db")
        second = merged.merge_from(tmp_path / "b.db")
        again = merged.merge_from(tmp_path / "a.db")
        devices = merged.devices()
        scans = merged.scans()
        assert (first["scans_added"], second["scans_added"], again["scans_added"]) == (2, 1, 0)
        assert again["scans_already_present"] == 2 and again["observations_added"] == 0
        keys = sorted((d["site"], d["ip"]) for d in devices)
        # 6 devices of school A (the NVR now at school B), 2 more in school B: the mystery camera is a different one
        assert len(devices) == 8, keys
        nvr = [d for d in devices if d["mac"] == "00:1f:54:10:20:30"]
        assert len(nvr) == 1 and (nvr[0]["site"], nvr[0]["ip"]) == ("School B", "198.18.102.3")
        assert nvr[0]["first_seen"] == "2026-11-29T08:00:00Z"
        assert nvr[0]["evidence"] and nvr[0]["ndaa_889"] is True
        assert [("School A", "198.18.0.14"), ("School B", "198.18.0.14")] == [k for k in keys if k[1] == "198.18.0.14"]
        assert [s["site"] for s in scans] == ["School A", "School A", "School B"]
        history = merged.diff(scans[0]["id"], scans[1]["id"])
        assert [d["ip"] for d in history["moved"]] == ["198.18.0.21"]
        observations = merged.db.execute("SELECT count(*) FROM observations").fetchone()[0]
        sightings = merged.db.execute("SELECT count(*) FROM sightings").fetchone()[0]
        assert sightings == 5 + 5 + 3 and observations > 0
        assert len(json.loads(merged._meta("merged_from"))) == 3
    assert (tmp_path / "a.db").read_bytes() == before  # sources are only read


def test_merge_keeps_a_device_claiming_a_mac_apart_from_the_one_arp_saw_with_it(tmp_path):
    clock = Clock()
    with Store(tmp_path / "lan.db", clock=clock) as lan:
        scan(lan, clock, [device("hikvision-cam", "198.18.0.11")], site="School A")
    routed = dataclasses.replace(device("hikvision-cam", "198.18.9.9", mac=None), mac="44:19:b6:01:02:03")
    with Store(tmp_path / "routed.db", clock=clock) as other:
        scan(other, clock, [routed], site="School A")
    with Store(tmp_path / "all.db") as merged:
        merged.merge_from(tmp_path / "lan.db")
        merged.merge_from(tmp_path / "routed.db")
        assert {d["ip"]: d["mac"] for d in merged.devices()} == {"198.18.0.11": "44:19:b6:01:02:03",
                                                                 "198.18.9.9": None}


def test_merge_keeps_findings_once(tmp_path):
    store, _, (first, _) = school(tmp_path / "a.db")
    device_id = by_ip(store.devices())["198.18.0.10"]["id"]
    store.db.execute("INSERT INTO findings (device_id, scan_id, check_name, severity, port, detail, evidence) "
                     "VALUES (?, ?, 'rtsp-no-auth', 'high', 554, 'stream described without credentials', '[]')",
                     [device_id, first])
    store.db.conn.commit()
    store.close()
    with Store(tmp_path / "all.db") as merged:
        merged.merge_from(tmp_path / "a.db")
        merged.merge_from(tmp_path / "a.db")
        [finding] = merged.findings()
        assert (finding["ip"], finding["check"], finding["severity"]) == ("198.18.0.10", "rtsp-no-auth", "high")


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_merge_refuses_what_is_not_a_camscan_database(tmp_path, content):
    bad = tmp_path / "bad.db"
    bad.write_bytes(content)
    with Store(tmp_path / "all.db") as merged, pytest.raises(StoreError):
        if not content:
            bad.unlink()
        merged.merge_from(bad)


def test_merge_into_itself_is_refused(tmp_path):
    store, _, _ = school(tmp_path / "a.db")
    with pytest.raises(StoreError, match="output database itself"):
        store.merge_from(tmp_path / "a.db")


# --- reidentify ----------------------------------------------------------------------------


def test_reidentify_recomputes_from_observations_and_reports_changes(tmp_path):
    store, _, _ = school(tmp_path / "a.db")
    lorex = by_ip(store.devices())["198.18.0.10"]
    # as if an older camscan had not known the Lorex OUI nor attributed it
    store.db.execute("UPDATE devices SET vendor = 'dahua', ndaa_889 = NULL WHERE id = ?", [lorex["id"]])
    store.db.conn.commit()
    examined, changed = reidentify(store, IDENTIFIER, dry_run=True)
    assert examined == 6
    assert [(c.ip, c.changes) for c in changed] == [
        ("198.18.0.10", {"vendor": ("dahua", "lorex"), "ndaa_889": (None, True)})]
    assert by_ip(store.devices())["198.18.0.10"]["vendor"] == "dahua"  # dry run wrote nothing
    reidentify(store, IDENTIFIER)
    assert by_ip(store.devices())["198.18.0.10"]["vendor"] == "lorex"
    assert reidentify(store, IDENTIFIER)[1] == []


def test_reidentify_keeps_what_a_port_only_rescan_cannot_say(tmp_path):
    clock = Clock()
    store = Store(tmp_path / "a.db", clock=clock)
    scan(store, clock, [device("lorex-nvr", "198.18.0.10")])
    silent = device("lorex-nvr", "198.18.0.10")
    silent.observations = [o for o in silent.observations if o.field == "mac.address"][:0]
    silent.identification = IDENTIFIER.identify([])
    scan(store, clock, [silent])
    assert reidentify(store, IDENTIFIER)[1] == []
    assert store.devices()[0]["vendor"] == "lorex"


# --- command line --------------------------------------------------------------------------


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_scans_and_diff(tmp_path):
    school(tmp_path / "a.db")[0].close()
    db = str(tmp_path / "a.db")
    scans = json.loads(run("scans", "--db", db, "--json"))
    assert [(s["id"], s["site"], s["device_count"], s["cameras"], s["covered"]) for s in scans] == [
        (1, "School A", 5, 4, 2), (2, "School A", 5, 5, 3)]
    text = run("scans", "--db", db)
    assert text.splitlines()[0].startswith("id\tsite") and "School A" in text
    result = json.loads(run("diff", "--db", db, "--json"))
    assert (result["scan_a"]["id"], result["scan_b"]["id"]) == (1, 2)
    assert json.loads(run("diff", "1", "2", "--db", db, "--json")) == result
    text = run("diff", "--db", db)
    assert "new: 1" in text and "gone: 1" in text and "moved: 1" in text and "changed: 1" in text
    assert "firmware: 4.10.0.46 -> 4.12.0.60" in text and "(was 198.18.0.11)" in text


def test_reading_commands_show_a_killed_scan_as_interrupted_and_write_nothing(tmp_path):
    school(tmp_path / "a.db")[0].close()
    db = tmp_path / "a.db"
    with Store(db) as store:
        killed = store.start_scan(["198.18.0.0/24"], {}, site="School A")
        store.record_device(killed, device("printer", "198.18.0.99"))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with sqlite3.connect(db) as conn:  # the scan's process was killed: its pid no longer exists
        conn.execute("UPDATE scans SET pid = ? WHERE id = ?", [gone.pid, killed])
    conn.close()

    def stored() -> tuple[bytes, bytes, str]:
        wal = db.with_name(db.name + "-wal")
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as reader:
            status = reader.execute("SELECT status FROM scans WHERE id = ?", [killed]).fetchone()[0]
        reader.close()
        return db.read_bytes(), wal.read_bytes() if wal.exists() else b"", status

    before = stored()
    assert before[2] == "running"
    assert json.loads(run("scans", "--db", str(db), "--json"))[-1]["status"] == "interrupted"
    assert json.loads(run("diff", "1", str(killed), "--db", str(db), "--json"))["scan_b"]["status"] == "interrupted"
    for command in (["devices"], ["show", "198.18.0.99"], ["findings"], ["export"],
                    ["report", "-o", str(tmp_path / "report.html")], ["diff"]):
        run(*command, "--db", str(db))
    assert stored() == before
    run("reidentify", "--db", str(db))
    assert stored()[2] == "interrupted"


def test_cli_diff_needs_two_scans(tmp_path):
    clock = Clock()
    with Store(tmp_path / "one.db", clock=clock) as store:
        scan(store, clock, [device("printer", "198.18.100.2")])
    result = CliRunner().invoke(main, ["diff", "--db", str(tmp_path / "one.db")])
    assert result.exit_code != 0 and "fewer than two complete scans" in result.output
    result = CliRunner().invoke(main, ["diff", "1", "--db", str(tmp_path / "one.db")])
    assert result.exit_code != 0 and "two scan ids" in result.output


def test_cli_merge_and_reidentify(tmp_path):
    school(tmp_path / "a.db")[0].close()
    out = tmp_path / "all.db"
    summary = json.loads(run("merge", str(tmp_path / "a.db"), "-o", str(out), "--json"))
    assert summary["devices"] == 6 and summary["sources"][0]["scans_added"] == 2
    assert "0 scan(s) added (2 already present)" in run("merge", str(tmp_path / "a.db"), "-o", str(out))
    result = json.loads(run("reidentify", "--db", str(out), "--json"))
    assert result == {"examined": 6, "dry_run": False, "changed": []}


def test_cli_export_carries_attribution_and_site(tmp_path):
    school(tmp_path / "a.db")[0].close()
    exported = by_ip(json.loads(run("export", "--db", str(tmp_path / "a.db"))))
    assert exported["198.18.0.15"]["ndaa_889"] is True and exported["198.18.0.15"]["site"] == "School A"
    assert exported["198.18.0.15"]["vendor"] == "lts" and exported["198.18.0.15"]["manufacturer"] == "hikvision"
    assert exported["198.18.0.12"]["ndaa_889"] is False
    assert exported["198.18.0.14"]["ndaa_889"] is None
    csv_text = run("export", "--db", str(tmp_path / "a.db"), "--format", "csv")
    assert csv_text.splitlines()[0].split(",")[:12] == [
        "ip", "mac", "site", "vendor", "manufacturer", "model", "firmware", "device_type", "is_camera", "confidence",
        "ndaa_889", "ndaa_basis"]
