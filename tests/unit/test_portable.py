"""The portable scan result: export one scan, import it elsewhere, once, through merge's own code."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from click.testing import CliRunner
from inventory import Clock, device, scan, school

from camscan.store import schema as store_module
from camscan.cli import main
from camscan.portable import FORMAT_VERSION, DocumentError, build_document, import_document, parse_document
from camscan.store import Store, StoreError


def table_counts(store: Store) -> dict[str, int]:
    return {table: store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("scans", "devices", "services", "observations", "evidence", "sightings", "findings")}


def add_finding(store: Store, scan_id: int, ip: str) -> None:
    device_id = next(d["id"] for d in store.devices() if d["ip"] == ip)
    store.db.execute("INSERT INTO findings (device_id, scan_id, check_name, severity, port, detail, evidence) "
                     "VALUES (?, ?, 'rtsp-no-auth', 'high', 554, 'stream described without credentials', '[]')",
                     [device_id, scan_id])
    store.db.conn.commit()


def test_one_scan_travels_whole_and_a_second_import_adds_nothing(tmp_path):
    store, _, (first, second) = school(tmp_path / "a.db")
    add_finding(store, second, "198.18.0.10")
    document = parse_document(json.dumps(build_document(store, second)))
    assert document["version"] == FORMAT_VERSION and document["site"] == "School A"
    assert document["scan_uuid"] == store.scans()[1]["uuid"]
    with Store(tmp_path / "district.db") as district:
        summary = import_document(district, document, "a.json")
        assert (summary["scans_added"], summary["devices_added"], summary["findings_added"]) == (1, 5, 1)
        after_first = table_counts(district)
        again = import_document(district, document, "a.json")
        assert again["scans_already_present"] == 1 and again["scans_added"] == 0
        assert table_counts(district) == after_first
        imported = {d["ip"]: d for d in district.devices()}
        original = {d["ip"]: d for d in store.devices() if d["ip"] in imported}
        for ip, row in original.items():  # the export shape of every device comes back the same
            assert {k: v for k, v in imported[ip].items() if k != "id"} == {k: v for k, v in row.items() if k != "id"}
        [scan_row] = district.scans()
        assert scan_row["uuid"] == document["scan_uuid"] and scan_row["site"] == "School A"
        assert scan_row["device_count"] == 5 and scan_row["status"] == "complete"
        observations = district.db.execute("SELECT count(*) FROM observations").fetchone()[0]
        assert observations == store.db.execute("SELECT count(*) FROM observations WHERE scan_id = ?",
                                                 [second]).fetchone()[0]
    store.close()


def test_a_column_another_migration_adds_travels_without_a_code_change(tmp_path, monkeypatch):
    def add_uptime_seconds(db) -> None:
        db.execute("ALTER TABLE devices ADD COLUMN uptime_seconds INTEGER")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, add_uptime_seconds])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", store_module.SCHEMA_VERSION + 1)
    store, _, (first, second) = school(tmp_path / "a.db")
    documents = []
    for scan_id, uptime in ((first, 8), (second, 16)):
        store.db.execute("UPDATE devices SET uptime_seconds = ? WHERE ip = '198.18.0.10'", [uptime])
        store.db.conn.commit()
        documents.append(build_document(store, scan_id))
    store.close()
    assert {row["ip"]: row["uptime_seconds"] for row in documents[1]["tables"]["devices"]}["198.18.0.10"] == 16
    with Store(tmp_path / "district.db") as district:
        import_document(district, documents[0], "first.json")
        assert district.db.execute("SELECT uptime_seconds FROM devices WHERE ip = '198.18.0.10'").fetchone() == (8,)
        import_document(district, documents[1], "second.json")  # the newer sighting's value wins
        assert district.db.execute("SELECT uptime_seconds FROM devices WHERE ip = '198.18.0.10'").fetchone() == (16,)


def test_merge_and_import_match_devices_alike_and_know_each_others_scans(tmp_path):
    school(tmp_path / "a.db", Clock(), site="School A")[0].close()
    with Store(tmp_path / "a.db") as source:
        documents = [build_document(source, scan_row["id"]) for scan_row in source.scans()]
    with Store(tmp_path / "merged.db") as merged, Store(tmp_path / "imported.db") as imported:
        merged.merge_from(tmp_path / "a.db")
        for document in documents:
            import_document(imported, document, "a")
        assert [import_document(merged, document, "a")["scans_added"] for document in documents] == [0, 0]

        def shape(store: Store) -> list[tuple]:
            return sorted((d["site"], d["ip"], d["mac"], d["vendor"], d["model"], d["firmware"])
                          for d in store.devices())

        assert shape(imported) == shape(merged)
        assert [s["uuid"] for s in imported.scans()] == [s["uuid"] for s in merged.scans()]


def test_two_sites_documents_make_one_inventory(tmp_path):
    clock = Clock()
    documents = []
    for name, ip in (("School A", "198.18.0.14"), ("School B", "198.18.0.14")):
        with Store(tmp_path / f"{name}.db", clock=clock) as sensor:
            scan_id = scan(sensor, clock, [device("mystery-cam", ip), device("lorex-nvr", "198.18.0.10",
                                                                             mac=f"00:1f:54:00:00:0{len(documents)}")],
                           site=name)
            documents.append(build_document(sensor, scan_id))
    with Store(tmp_path / "district.db") as district:
        for document in documents + documents:
            import_document(district, document, document["site"])
        assert sorted((d["site"], d["ip"]) for d in district.devices()) == [
            ("School A", "198.18.0.10"), ("School A", "198.18.0.14"),
            ("School B", "198.18.0.10"), ("School B", "198.18.0.14")]


def test_a_scan_started_again_under_its_uuid_keeps_its_id_unless_it_completed(tmp_path):
    with Store(tmp_path / "sensor.db") as sensor:
        scan_uuid = str(uuid.uuid4())
        first = sensor.start_scan(["198.18.0.0/24"], {}, site="A", scan_uuid=scan_uuid)
        sensor.finish_scan(first, "interrupted")
        assert sensor.start_scan(["198.18.0.0/24"], {}, site="A", scan_uuid=scan_uuid) == first
        sensor.finish_scan(first)
        with pytest.raises(StoreError, match="already completed"):
            sensor.start_scan(["198.18.0.0/24"], {}, site="A", scan_uuid=scan_uuid)
        assert len(sensor.scans()) == 1


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other"), "not a portable camscan scan"),
    (lambda d: d.update(version=FORMAT_VERSION + 1), "upgrade camscan"),
    (lambda d: d["tables"].update(users=[]), "unknown table"),
    (lambda d: d["tables"]["devices"][0].update(ip=["198.18.0.10"]), "plain values"),
    (lambda d: d["tables"]["scans"].append(dict(d["tables"]["scans"][0])), "exactly one scan"),
    (lambda d: d.update(scan_uuid=str(uuid.uuid4())), "differs"),
])
def test_a_malformed_document_is_refused_with_the_reason(tmp_path, change, message):
    store, _, (first, _) = school(tmp_path / "a.db")
    document = build_document(store, first)
    store.close()
    change(document)
    with pytest.raises(DocumentError, match=message):
        parse_document(json.dumps(document))


def test_a_column_name_in_a_document_never_reaches_sql(tmp_path):
    store, _, (first, _) = school(tmp_path / "a.db")
    document = build_document(store, first)
    store.close()
    document["tables"]["devices"][0]["ip) VALUES (1); DROP TABLE scans; --"] = "x"
    with Store(tmp_path / "district.db") as district:
        import_document(district, parse_document(json.dumps(document)), "hostile")
        assert len(district.devices()) == 5 and district.scans()


def test_rows_that_break_the_schema_are_refused_and_nothing_is_added(tmp_path):
    store, _, (first, _) = school(tmp_path / "a.db")
    document = build_document(store, first)
    store.close()
    document["tables"]["services"][0]["device_id"] = 999
    with Store(tmp_path / "district.db") as district:
        with pytest.raises(DocumentError, match="do not fit"):
            import_document(district, document, "broken")
        assert district.scans() == [] and district.devices() == []


def test_cli_exports_a_scan_and_imports_it_once(tmp_path):
    store, _, (first, _) = school(tmp_path / "a.db")
    store.close()
    runner = CliRunner()
    exported = runner.invoke(main, ["export", "--db", str(tmp_path / "a.db"), "--format", "camscan", "--scan",
                                    str(first), "-o", str(tmp_path / "scan.json")])
    assert exported.exit_code == 0, exported.output
    for expected in ("1 scan(s) added", "0 scan(s) added (1 already present)"):
        result = runner.invoke(main, ["import", str(tmp_path / "scan.json"), "--db", str(tmp_path / "d.db")])
        assert result.exit_code == 0 and expected in result.output, result.output
    assert sqlite3.connect(tmp_path / "d.db").execute("SELECT count(*) FROM devices").fetchone() == (5,)
    bare = runner.invoke(main, ["export", "--db", str(tmp_path / "a.db"), "--format", "camscan"])
    assert bare.exit_code == 2 and "--scan" in bare.output
    (tmp_path / "bad.json").write_text("{}")
    refused = runner.invoke(main, ["import", str(tmp_path / "bad.json"), "--db", str(tmp_path / "d.db")])
    assert refused.exit_code == 1 and "not a portable camscan scan" in refused.output


def test_one_scan_uuid_run_by_two_sensors_is_imported_once(tmp_path):
    # A task delivered again to another sensor of the site (its first sensor outlived the visibility
    # timeout): two databases, two origins, one scan UUID. The district keeps the first result.
    clock = Clock()
    scan_uuid = str(uuid.uuid4())
    documents = []
    for name in ("first", "second"):
        with Store(tmp_path / f"{name}.db", clock=clock) as sensor:
            scan_id = sensor.start_scan(["198.18.0.0/24"], {}, site="School A", scan_uuid=scan_uuid)
            sensor.record_device(scan_id, device("lorex-nvr", "198.18.0.10"))
            sensor.finish_scan(scan_id)
            documents.append(build_document(sensor, scan_id))
    assert documents[0]["tables"]["scans"][0]["origin"] != documents[1]["tables"]["scans"][0]["origin"]
    with Store(tmp_path / "district.db") as district:
        assert [import_document(district, d, "sensor")["scans_added"] for d in documents] == [1, 0]
        assert [s["uuid"] for s in district.scans()] == [scan_uuid]
