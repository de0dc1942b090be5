"""The camscan database: schema, migrations, and writing and reading scans and devices.

The only SQL in camscan. One SQLite file (WAL mode) through sqlite-utils; every
public call is one short transaction, committed before it returns, so an
interrupted scan keeps everything already recorded.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from camscan.model import Device, Finding, Identification, Observation

SQLITE_HEADER = b"SQLite format 3\x00"
APPLICATION_ID = 0x63616D73  # "cams" in the file header; `file` and sqlite3 show it
SCAN_STATUSES = ("running", "complete", "interrupted", "failed")
IDENTITY_FIELDS = ("vendor", "manufacturer", "model", "firmware", "device_type")


class StoreError(Exception):
    """The database cannot be used; the message says which file and what to do."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_mac(mac: str | None) -> str | None:
    """``44-19-B6-01-02-03`` or ``4419.b601.0203`` → ``44:19:b6:01:02:03``; None stays None."""
    if not mac or not mac.strip():
        return None
    digits = re.sub(r"[\s:.\-]", "", mac).lower()
    if re.fullmatch(r"[0-9a-f]{12}", digits):
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return mac.strip().lower()


_MAC_PATTERN = re.compile(r"[0-9a-fA-F]{2}([:\-]?[0-9a-fA-F]{2}){5}|[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){2}")


def _looks_like_mac(text: str) -> bool:
    return bool(_MAC_PATTERN.fullmatch(text.strip()))


def _ip_sort_key(ip: str) -> tuple:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0, ip)
    return (address.version, int(address), "")


def _camscan_version() -> str:
    try:
        return metadata.version("camscan")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- schema ----------------------------------------------------------------------------

_SCHEMA_V1 = """
CREATE TABLE camscan_meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE scans (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'complete', 'interrupted', 'failed')),
    targets TEXT NOT NULL DEFAULT '[]',
    parameters TEXT NOT NULL DEFAULT '{}',
    site TEXT,
    camscan_version TEXT,
    host_count INTEGER,
    device_count INTEGER
);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    ip TEXT NOT NULL,
    mac TEXT,
    vendor TEXT,
    manufacturer TEXT,
    model TEXT,
    firmware TEXT,
    device_type TEXT,
    is_camera INTEGER NOT NULL DEFAULT 0 CHECK (is_camera IN (0, 1)),
    confidence REAL NOT NULL DEFAULT 0,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    first_scan_id INTEGER REFERENCES scans(id),
    last_scan_id INTEGER REFERENCES scans(id)
);
CREATE UNIQUE INDEX devices_mac ON devices(mac) WHERE mac IS NOT NULL;
CREATE INDEX devices_ip ON devices(ip);
CREATE TABLE services (
    id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    port INTEGER NOT NULL,
    transport TEXT NOT NULL DEFAULT 'tcp',
    protocol TEXT,
    banner TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_scan_id INTEGER REFERENCES scans(id),
    UNIQUE (device_id, port, transport)
);
CREATE TABLE observations (
    id INTEGER PRIMARY KEY,
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    device_id INTEGER REFERENCES devices(id) ON DELETE SET NULL,
    ip TEXT NOT NULL,
    source TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    port INTEGER,
    transport TEXT NOT NULL DEFAULT 'tcp',
    observed_at TEXT NOT NULL
);
-- ifnull(): a NULL port would otherwise make every row distinct
CREATE UNIQUE INDEX observations_unique
    ON observations(scan_id, ip, source, field, value, ifnull(port, -1), transport);
CREATE INDEX observations_ip ON observations(ip);
CREATE INDEX observations_device_id ON observations(device_id);
CREATE TABLE evidence (
    id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    scan_id INTEGER REFERENCES scans(id),
    source TEXT,
    field TEXT,
    value TEXT,
    signature TEXT,
    weight REAL,
    port INTEGER,
    sets TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX evidence_device_id ON evidence(device_id);
CREATE TABLE sightings (
    id INTEGER PRIMARY KEY,
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    mac TEXT,
    vendor TEXT,
    manufacturer TEXT,
    model TEXT,
    firmware TEXT,
    device_type TEXT,
    is_camera INTEGER NOT NULL DEFAULT 0,
    confidence REAL NOT NULL DEFAULT 0,
    UNIQUE (scan_id, device_id)
);
CREATE INDEX sightings_device_id ON sightings(device_id);
CREATE TABLE findings (
    id INTEGER PRIMARY KEY,
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    scan_id INTEGER REFERENCES scans(id),
    check_name TEXT NOT NULL,
    severity TEXT,
    port INTEGER,
    detail TEXT,
    evidence TEXT NOT NULL DEFAULT '[]',
    first_seen TEXT,
    last_seen TEXT
);
CREATE INDEX findings_device_id ON findings(device_id);
"""


def _migrate_to_1(db: Database) -> None:
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            db.execute(statement)


# MIGRATIONS[n] takes a database at schema version n to n + 1, inside one transaction.
MIGRATIONS: list[Callable[[Database], None]] = [_migrate_to_1]
SCHEMA_VERSION = len(MIGRATIONS)


def _database_errors(method):
    """Turn SQLite failures during use (locked, disk full, damaged) into a StoreError."""

    @functools.wraps(method)
    def wrapper(self: Store, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                raise StoreError(
                    f"{self.path} is locked by another process; "
                    "wait for it to finish or pass --db with another path"
                ) from error
            raise StoreError(f"{self.path}: {error}") from error
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"{self.path} is damaged ({error}); restore it from a backup or pass --db with a new path"
            ) from error

    return wrapper


class Store:
    """A camscan database file: scans, devices, services, observations and their history."""

    def __init__(self, path: str | os.PathLike, clock: Callable[[], datetime] | None = None) -> None:
        """Open ``path`` or create it (and its parent directory).

        Raises StoreError, leaving the file untouched, if it is not SQLite, is damaged,
        belongs to another application, or has a newer schema than this camscan knows.
        ``clock`` returns the current time (timezone-aware); tests pass a fixed one.
        """
        self.path = Path(path)
        self._clock = clock or _utc_now
        self._camscan_version = _camscan_version()
        version = self._inspect()
        try:
            self.db = Database(self.path, execute_plugins=False)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open {self.path}: {error}") from error
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.enable_wal()
            self._migrate(version)
        except sqlite3.Error as error:
            self.db.close()
            raise StoreError(f"cannot prepare {self.path}: {error}") from error

    # --- opening ---------------------------------------------------------------------------

    def _inspect(self) -> int:
        """The file's schema version (0: new or empty), checked without writing to it."""
        path = self.path
        if path.is_dir():
            raise StoreError(f"{path} is a directory; pass --db with a file path such as {path / 'camscan.db'}")
        if not path.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot create directory {path.parent}: {error.strerror}") from None
            return 0
        try:
            with path.open("rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except OSError as error:
            raise StoreError(f"cannot read {path}: {error.strerror}") from None
        if not header:
            return 0  # an empty file is an empty SQLite database
        if header != SQLITE_HEADER:
            raise StoreError(
                f"{path} is not a camscan database (not an SQLite file); "
                "pass --db with a new path, or move that file away"
            )
        uri = f"{path.resolve().as_uri()}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open {path}: {error}") from None
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            user_version = conn.execute("PRAGMA user_version").fetchone()[0]
            application = None
            if "camscan_meta" in tables:
                row = conn.execute("SELECT value FROM camscan_meta WHERE key = 'application'").fetchone()
                application = row[0] if row else None
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"{path} is a damaged SQLite database ({error}); "
                "restore it from a backup or pass --db with a new path"
            ) from None
        finally:
            conn.close()
        if application_id not in (0, APPLICATION_ID) or (tables and application != "camscan"):
            raise StoreError(
                f"{path} is an SQLite database of another application, not a camscan database; "
                "pass --db with a new path"
            )
        if user_version > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer camscan (schema version {user_version}; this camscan "
                f"knows up to {SCHEMA_VERSION}); upgrade camscan or pass --db with another path"
            )
        return user_version

    def _migrate(self, version: int) -> None:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.db.atomic():
                MIGRATIONS[target - 1](self.db)
                meta = {"application": "camscan", "schema_version": str(target)}
                if target == 1:
                    meta.update(created_at=self._now(), created_by=self._camscan_version)
                self.db["camscan_meta"].upsert_all(
                    [{"key": key, "value": value} for key, value in meta.items()], pk="key"
                )
                self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self.db.execute(f"PRAGMA user_version = {target}")

    # --- writing ---------------------------------------------------------------------------

    def _now(self) -> str:
        return _iso(self._clock())

    def _require_scan(self, scan_id: int) -> None:
        if self.db.execute("SELECT 1 FROM scans WHERE id = ?", [scan_id]).fetchone() is None:
            raise StoreError(f"there is no scan {scan_id} in {self.path}")

    @_database_errors
    def start_scan(self, targets: list[str], parameters: dict, site: str | None = None) -> int:
        """Record a new scan with status ``running``; returns its id."""
        with self.db.atomic():
            cursor = self.db.execute(
                "INSERT INTO scans (started_at, status, targets, parameters, site, camscan_version) "
                "VALUES (?, 'running', ?, ?, ?, ?)",
                [
                    self._now(),
                    json.dumps(list(targets)),
                    json.dumps(parameters, sort_keys=True, default=str),
                    site,
                    self._camscan_version,
                ],
            )
        return cursor.lastrowid

    def _insert_observations(self, scan_id: int, observations: Iterable[Observation]) -> None:
        now = self._now()
        rows = (
            (
                scan_id,
                scan_id,
                o.ip,
                o.ip,
                o.source,
                o.field,
                str(o.value),
                o.port,
                o.transport,
                _iso(datetime.fromtimestamp(o.observed_at, timezone.utc)) if o.observed_at else now,
            )
            for o in observations
        )
        # device_id: linked now if the device of this ip is already recorded in this scan
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO observations "
            "(scan_id, device_id, ip, source, field, value, port, transport, observed_at) "
            "VALUES (?, (SELECT device_id FROM sightings WHERE scan_id = ? AND ip = ?), ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    @_database_errors
    def record_observations(self, scan_id: int, observations: Iterable[Observation]) -> None:
        """Store raw observations of a scan (duplicates ignored); committed on return."""
        with self.db.atomic():
            self._require_scan(scan_id)
            self._insert_observations(scan_id, observations)

    def _find_device(self, ip: str, mac: str | None) -> dict | None:
        query = "SELECT * FROM devices WHERE {} ORDER BY last_seen DESC, id DESC LIMIT 1"
        if mac:
            # the MAC decides; else adopt a MAC-less record at this address
            for where, params in (("mac = ?", [mac]), ("ip = ? AND mac IS NULL", [ip])):
                row = next(self.db.query(query.format(where), params), None)
                if row:
                    return row
            return None
        # without a MAC, the address decides: a MAC-less record first, else whoever is there now
        for where in ("ip = ? AND mac IS NULL", "ip = ?"):
            row = next(self.db.query(query.format(where), [ip]), None)
            if row:
                return row
        return None

    @staticmethod
    def _identifies(identification: Identification) -> bool:
        return any(getattr(identification, name) for name in IDENTITY_FIELDS) or bool(identification.evidence)

    @_database_errors
    def record_device(self, scan_id: int, device: Device) -> int:
        """Insert or update a device with its services, evidence and this scan's sighting.

        Identity: the same MAC is the same device (its ip follows); without a MAC, the
        same ip. An identification that names nothing (a port-only re-scan) keeps the
        previous one. Also stores ``device.observations`` and links this scan's
        observations of ``device.ip`` to the device. Returns the device id.
        """
        now = self._now()
        mac = normalize_mac(device.mac)
        ident = device.identification
        with self.db.atomic():
            self._require_scan(scan_id)
            existing = self._find_device(device.ip, mac)
            identified = self._identifies(ident)
            values: dict[str, Any] = {"ip": device.ip, "last_seen": now, "last_scan_id": scan_id}
            if mac:
                values["mac"] = mac
            if identified or existing is None:
                values.update({name: getattr(ident, name) for name in IDENTITY_FIELDS})
                values["is_camera"] = int(ident.is_camera)
                values["confidence"] = float(ident.confidence)
            if existing is None:
                values.update(first_seen=now, first_scan_id=scan_id)
                columns = ", ".join(values)
                cursor = self.db.execute(
                    f"INSERT INTO devices ({columns}) VALUES ({', '.join('?' * len(values))})",
                    list(values.values()),
                )
                device_id = cursor.lastrowid
            else:
                device_id = existing["id"]
                assignments = ", ".join(f"{name} = ?" for name in values)
                self.db.execute(
                    f"UPDATE devices SET {assignments} WHERE id = ?", [*values.values(), device_id]
                )

            for service in device.services:
                self.db.execute(
                    "INSERT INTO services (device_id, port, transport, protocol, banner, "
                    "first_seen, last_seen, last_scan_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (device_id, port, transport) DO UPDATE SET "
                    "protocol = coalesce(excluded.protocol, protocol), "
                    "banner = CASE WHEN excluded.banner <> '' THEN excluded.banner ELSE banner END, "
                    "last_seen = excluded.last_seen, last_scan_id = excluded.last_scan_id",
                    [device_id, service.port, service.transport, service.protocol or None,
                     service.banner, now, now, scan_id],
                )

            if identified:
                self.db.execute("DELETE FROM evidence WHERE device_id = ?", [device_id])
                self.db.conn.executemany(
                    "INSERT INTO evidence (device_id, scan_id, source, field, value, signature, weight, port, sets) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (device_id, scan_id, e.source, e.field, e.value, e.signature, e.weight, e.port,
                         json.dumps(dict(e.sets), sort_keys=True))
                        for e in ident.evidence
                    ],
                )

            self.db.execute(
                "INSERT INTO sightings (scan_id, device_id, ip, mac, vendor, manufacturer, model, firmware, "
                "device_type, is_camera, confidence) "
                "SELECT ?, id, ip, mac, vendor, manufacturer, model, firmware, device_type, is_camera, confidence "
                "FROM devices WHERE id = ? "
                "ON CONFLICT (scan_id, device_id) DO UPDATE SET ip = excluded.ip, mac = excluded.mac, "
                "vendor = excluded.vendor, manufacturer = excluded.manufacturer, model = excluded.model, "
                "firmware = excluded.firmware, device_type = excluded.device_type, "
                "is_camera = excluded.is_camera, confidence = excluded.confidence",
                [scan_id, device_id],
            )

            self._insert_observations(scan_id, device.observations)
            self.db.execute(
                "UPDATE observations SET device_id = ? WHERE scan_id = ? AND ip = ?",
                [device_id, scan_id, device.ip],
            )
        return device_id

    @_database_errors
    def finish_scan(self, scan_id: int, status: str = "complete") -> None:
        """Close a scan as ``complete``, ``interrupted`` or ``failed`` and fill its counts."""
        if status not in SCAN_STATUSES or status == "running":
            raise ValueError(f"status must be complete, interrupted or failed, not {status!r}")
        with self.db.atomic():
            self._require_scan(scan_id)
            self.db.execute(
                "UPDATE scans SET finished_at = ?, status = ?, "
                "host_count = (SELECT count(DISTINCT ip) FROM observations WHERE scan_id = ?), "
                "device_count = (SELECT count(*) FROM sightings WHERE scan_id = ?) "
                "WHERE id = ?",
                [self._now(), status, scan_id, scan_id, scan_id],
            )

    @_database_errors
    def record_findings(self, scan_id: int, device_id: int, findings: Iterable[Finding]) -> None:
        """Store a device's findings from one scan: a finding already known (same check and
        port) gets this scan and a new ``last_seen``; a new one is inserted. Committed on return."""
        now = self._now()
        with self.db.atomic():
            self._require_scan(scan_id)
            for finding in findings:
                evidence = json.dumps(dict(finding.evidence), sort_keys=True)
                updated = self.db.execute(
                    "UPDATE findings SET scan_id = ?, severity = ?, detail = ?, evidence = ?, last_seen = ? "
                    "WHERE device_id = ? AND check_name = ? AND ifnull(port, -1) = ifnull(?, -1) "
                    "AND (check_name <> 'vulnerable-firmware' OR json_extract(evidence, '$.advisory') = ?)",
                    [scan_id, finding.severity, finding.detail, evidence, now, device_id, finding.check,
                     finding.port, dict(finding.evidence).get("advisory")],
                )
                if updated.rowcount == 0:
                    self.db.execute(
                        "INSERT INTO findings (device_id, scan_id, check_name, severity, port, detail, evidence, "
                        "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [device_id, scan_id, finding.check, finding.severity, finding.port, finding.detail,
                         evidence, now, now],
                    )

    @_database_errors
    def findings(self, severities: Iterable[str] | None = None) -> list[dict]:
        """Every finding with its device's ip, mac and vendor, most severe first, then by ip and port."""
        wanted = list(severities or [])
        where = f"WHERE f.severity IN ({', '.join('?' * len(wanted))})" if wanted else ""
        rows = list(self.db.query(
            "SELECT d.ip, d.mac, d.vendor, d.model, f.check_name, f.severity, f.port, f.detail, f.evidence, "
            f"f.first_seen, f.last_seen FROM findings f JOIN devices d ON d.id = f.device_id {where}",
            wanted,
        ))
        rank = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
        for row in rows:
            row["check"] = row.pop("check_name")
            row["evidence"] = json.loads(row["evidence"])
        rows.sort(key=lambda r: (rank.get(r["severity"], 9), _ip_sort_key(r["ip"]), r["port"] or -1, r["check"]))
        return rows

    # --- reading ---------------------------------------------------------------------------

    @_database_errors
    def scans(self) -> list[dict]:
        """All scans, oldest first; ``targets`` and ``parameters`` decoded from JSON."""
        rows = list(self.db.query("SELECT * FROM scans ORDER BY id"))
        for row in rows:
            row["targets"] = json.loads(row["targets"])
            row["parameters"] = json.loads(row["parameters"])
        return rows

    def _export(self, rows: list[dict]) -> list[dict]:
        """Device rows in the export shape, with services, evidence and findings."""
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        marks = ", ".join("?" * len(ids))
        related: dict[str, dict[int, list[dict]]] = {"services": {}, "evidence": {}, "findings": {}}
        queries = {
            # Only the services open at the device's latest sighting: a closed port is history.
            "services": f"SELECT s.device_id, s.port, s.protocol, s.transport, s.banner FROM services s "
            f"JOIN devices d ON d.id = s.device_id "
            f"WHERE s.device_id IN ({marks}) AND s.last_scan_id = d.last_scan_id ORDER BY s.port, s.transport",
            "evidence": f"SELECT device_id, source, field, value, signature, weight, port FROM evidence "
            f"WHERE device_id IN ({marks}) ORDER BY weight DESC, id",
            "findings": f"SELECT device_id, check_name AS \"check\", severity, port, detail, evidence, first_seen, last_seen "
            f"FROM findings WHERE device_id IN ({marks}) ORDER BY id",
        }
        for key, sql in queries.items():
            for item in self.db.query(sql, ids):
                if key == "findings":
                    item["evidence"] = json.loads(item["evidence"])
                related[key].setdefault(item.pop("device_id"), []).append(item)
        exported = [
            {
                "id": row["id"],
                "ip": row["ip"],
                "mac": row["mac"],
                **{name: row[name] for name in IDENTITY_FIELDS},
                "is_camera": bool(row["is_camera"]),
                "confidence": round(float(row["confidence"] or 0.0), 2),
                "first_seen": row["first_seen"],
                "last_seen": row["last_seen"],
                "services": related["services"].get(row["id"], []),
                "evidence": related["evidence"].get(row["id"], []),
                "findings": related["findings"].get(row["id"], []),
            }
            for row in rows
        ]
        exported.sort(key=lambda d: (_ip_sort_key(d["ip"]), d["id"]))
        return exported

    @_database_errors
    def devices(
        self, vendor: str | None = None, device_type: str | None = None, cameras_only: bool = False
    ) -> list[dict]:
        """Devices in the export shape, ordered by ip; ``vendor`` matches vendor or manufacturer."""
        where, params = [], []
        if vendor:
            where.append("(lower(vendor) = lower(?) OR lower(manufacturer) = lower(?))")
            params += [vendor, vendor]
        if device_type:
            where.append("device_type = ?")
            params.append(device_type)
        if cameras_only:
            where.append("is_camera = 1")
        sql = "SELECT * FROM devices" + (" WHERE " + " AND ".join(where) if where else "")
        return self._export(list(self.db.query(sql, params)))

    @_database_errors
    def device(self, ip_or_mac: str) -> dict | None:
        """One device by MAC or ip (the latest seen there), with all its observations, latest scan first."""
        text = ip_or_mac.strip()
        if _looks_like_mac(text):
            sql, params = "SELECT * FROM devices WHERE mac = ?", [normalize_mac(text)]
        else:
            sql, params = "SELECT * FROM devices WHERE ip = ? ORDER BY last_seen DESC, id DESC LIMIT 1", [text]
        row = next(self.db.query(sql, params), None)
        if row is None:
            return None
        exported = self._export([row])[0]
        exported["observations"] = list(
            self.db.query(
                "SELECT scan_id, ip, source, field, value, port, transport, observed_at FROM observations "
                "WHERE device_id = ? ORDER BY scan_id DESC, observed_at, id",
                [row["id"]],
            )
        )
        return exported

    # --- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; everything recorded is already committed."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
