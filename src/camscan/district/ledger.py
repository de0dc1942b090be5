"""The district's ledger in the central inventory: registered sensors, dispatched scans, and what
sensors reported (results stored, targets refused, scans failed, messages rejected).

The tables are created by the store's migration (``district_*``); this module reads and writes them.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from camscan.store import Store, inserted_id


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Ledger:
    """The district tables of one open Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def register(self, name: str, site: str, certificate: str) -> None:
        """Register (or re-key) a sensor: results signed by its key are accepted for its site only."""
        with self.db.conn:
            self.db.execute(
                "INSERT INTO district_sensors (name, site, certificate, registered_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET site = excluded.site, certificate = excluded.certificate, "
                "registered_at = excluded.registered_at", [name, site, certificate, _now()])

    def sensor(self, name: str) -> dict | None:
        return next(self.db.query("SELECT * FROM district_sensors WHERE name = ?", [name]), None)

    def sensors(self) -> list[dict]:
        """Registered sensors by site and name (without their certificates)."""
        return list(self.db.query(
            "SELECT name, site, camscan_version, registered_at, last_heartbeat, last_scan_uuid, last_scan_at "
            "FROM district_sensors ORDER BY site, name"))

    def sites(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT site FROM district_sensors ORDER BY site")]

    def heard_from(self, name: str, version: str | None, sent_at: str, scan_uuid: str | None = None) -> None:
        """A sensor's sign of life (a heartbeat or a result, at ``sent_at``)."""
        with self.db.conn:
            self.db.execute("UPDATE district_sensors SET camscan_version = coalesce(?, camscan_version), "
                            "last_heartbeat = max(coalesce(last_heartbeat, ''), ?) WHERE name = ?",
                            [version, sent_at, name])
            if scan_uuid:
                self.db.execute("UPDATE district_sensors SET last_scan_uuid = ?, last_scan_at = ? WHERE name = ?",
                                [scan_uuid, sent_at, name])

    def dispatched(self, scan_uuid: str, site: str, targets: list[str], options: dict) -> None:
        with self.db.conn:
            self.db.execute("INSERT OR IGNORE INTO district_dispatches VALUES (?, ?, ?, ?, ?)",
                            [scan_uuid, site, json.dumps(targets), json.dumps(options, sort_keys=True), _now()])

    def add_schedule(self, site: str, schedule: str, targets: list[str], options: dict) -> int:
        """A recurring scan of ``targets`` at ``site`` (``camscan beat`` sends it); returns its id."""
        with self.db.conn:
            return inserted_id(self.db.execute(
                "INSERT INTO district_schedules (site, schedule, targets, options, created_at) VALUES (?, ?, ?, ?, ?)",
                [site, schedule, json.dumps(targets), json.dumps(options, sort_keys=True), _now()]))

    def schedules(self) -> list[dict]:
        rows = list(self.db.query("SELECT * FROM district_schedules ORDER BY id"))
        for row in rows:
            row["targets"], row["options"] = json.loads(row["targets"]), json.loads(row["options"])
        return rows

    def event(self, kind: str, detail: str, sensor: str | None = None, site: str | None = None,
              scan_uuid: str | None = None) -> None:
        with self.db.conn:
            self.db.execute("INSERT INTO district_events (at, sensor, site, scan_uuid, kind, detail) "
                            "VALUES (?, ?, ?, ?, ?, ?)", [_now(), sensor, site, scan_uuid, kind, detail])

    def events(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM district_events ORDER BY id"))

    def dispatches(self) -> list[dict]:
        """Dispatched scans with what became of them: the scan stored, or the latest report about it."""
        return list(self.db.query(
            "SELECT d.scan_uuid, d.site, d.targets, d.dispatched_at, s.id AS scan_id, s.status, "
            "(SELECT kind || ': ' || coalesce(detail, '') FROM district_events e WHERE e.scan_uuid = d.scan_uuid "
            " ORDER BY e.id DESC LIMIT 1) AS latest_report "
            "FROM district_dispatches d LEFT JOIN scans s ON s.uuid = d.scan_uuid ORDER BY d.dispatched_at"))

