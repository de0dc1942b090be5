"""The shipped Datasette metadata: it loads with a camscan database and every canned query runs."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner
from inventory import school

from camscan.cli import main
from camscan.report.datasette import datasette_metadata

EXPECTED_QUERIES = {"covered_vendors", "covered_devices", "exposed_streams", "cameras_by_site",
                    "unknown_maker_cameras", "scan_history", "device_history", "district_sites", "district_refusals"}


def test_metadata_describes_every_table_and_column(tmp_path):
    store, _, _ = school(tmp_path / "a.db")
    described = datasette_metadata("a")["databases"]["a"]["tables"]
    for table in ("scans", "devices", "services", "observations", "evidence", "sightings", "findings",
                  "district_sensors", "district_dispatches", "district_events"):
        columns = set(store.db[table].columns_dict) - {"id"}
        assert described[table]["description"]
        assert columns <= set(described[table]["columns"]), (table, columns - set(described[table]["columns"]))
    store.close()


def test_cli_keys_the_metadata_to_the_database_file_name(tmp_path):
    result = CliRunner().invoke(main, ["datasette-metadata", "--db", str(tmp_path / "school-a.db")])
    assert result.exit_code == 0, result.output
    metadata = json.loads(result.output)
    assert list(metadata["databases"]) == ["school-a"]
    assert set(metadata["databases"]["school-a"]["queries"]) == EXPECTED_QUERIES


async def query(datasette, path: str) -> list[dict]:
    response = await datasette.client.get(path)
    assert response.status_code == 200, (path, response.text[:500])
    return response.json()


def test_datasette_loads_the_database_with_the_metadata_and_runs_the_canned_queries(tmp_path):
    from datasette.app import Datasette

    path = tmp_path / "school-a.db"
    store, _, _ = school(path)
    store.close()
    datasette = Datasette([str(path)], metadata=datasette_metadata("school-a"))

    async def check() -> None:
        rows = await query(datasette, "/school-a/covered_vendors.json?_shape=array")
        assert {(r["maker"], r["brand"], r["devices"]) for r in rows} == {
            ("dahua", "lorex", 1), ("hikvision", "hikvision", 1), ("hikvision", "lts", 1)}
        streams = await query(datasette, "/school-a/exposed_streams.json?_shape=array")
        assert [(r["ip"], r["port"], r["brand"]) for r in streams] == [("198.18.0.10", 554, "lorex")]
        sites = await query(datasette, "/school-a/cameras_by_site.json?_shape=array")
        assert sites == [{"site": "School A", "cameras_and_recorders": 5, "covered": 3, "maker_unknown": 1}]
        for name in EXPECTED_QUERIES - {"device_history"}:
            await query(datasette, f"/school-a/{name}.json?_shape=array")
        history = await query(datasette, "/school-a/device_history.json?_shape=array&device_id=3")
        assert [(r["scan_id"], r["firmware"]) for r in history] == [(1, "4.10.0.46"), (2, "4.12.0.60")]
        table = await query(datasette, "/-/metadata.json")
        assert table["databases"]["school-a"]["tables"]["devices"]["columns"]["ndaa_889"].startswith("1: made by")

    asyncio.run(check())
