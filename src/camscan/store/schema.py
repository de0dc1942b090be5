"""The database's schema and its migrations: ``MIGRATIONS[n]`` takes a file at schema version n to n + 1.

Each step is a function of the open database run inside one transaction by
:class:`camscan.store.database.StoreFile`; the list's order is the file format's history
and never changes (a new step is appended).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from sqlite_utils import Database

from camscan.store.common import StoreError

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


_SCHEMA_V2 = """
ALTER TABLE devices ADD COLUMN site TEXT;
ALTER TABLE devices ADD COLUMN ndaa_889 INTEGER CHECK (ndaa_889 IN (0, 1));
ALTER TABLE devices ADD COLUMN ndaa_basis TEXT;
ALTER TABLE sightings ADD COLUMN ndaa_889 INTEGER CHECK (ndaa_889 IN (0, 1));
ALTER TABLE sightings ADD COLUMN ndaa_basis TEXT;
ALTER TABLE scans ADD COLUMN origin TEXT;
UPDATE devices SET site = (SELECT site FROM scans WHERE scans.id = devices.last_scan_id);
CREATE INDEX devices_site_ip ON devices(site, ip);
CREATE UNIQUE INDEX scans_origin ON scans(origin);
CREATE INDEX sightings_scan_id ON sightings(scan_id)
"""


def _migrate_to_2(db: Database) -> None:
    """Sites on devices, NDAA s.889 attribution on devices and sightings, scan origins for merging.

    Attribution of existing rows is left NULL here (the store knows no signatures);
    ``Store.fill_attribution`` computes it from the stored identification and evidence.
    """
    for statement in _SCHEMA_V2.split(";"):
        if statement.strip():
            db.execute(statement)
    database_id = str(uuid.uuid4())
    db.execute("INSERT OR REPLACE INTO camscan_meta (key, value) VALUES ('database_id', ?)", [database_id])
    db.execute("UPDATE scans SET origin = ? || ':' || id", [database_id])


_SCHEMA_V3 = """
ALTER TABLE scans ADD COLUMN heartbeat_at TEXT;
ALTER TABLE scans ADD COLUMN pid INTEGER;
ALTER TABLE scans ADD COLUMN hostname TEXT;
ALTER TABLE devices ADD COLUMN mac_seen INTEGER CHECK (mac_seen IN (0, 1));
UPDATE devices SET mac_seen = EXISTS (SELECT 1 FROM observations o WHERE o.device_id = devices.id
                                      AND o.field = 'mac.address') WHERE mac IS NOT NULL
"""


def _migrate_to_3(db: Database) -> None:
    """Scans' heartbeat and process (to tell a killed scan from a running one), and whether a
    device's MAC was seen on the wire (an ARP reply, the kernel's ARP table: a ``mac.address``
    observation) or only claimed by the device."""
    for statement in _SCHEMA_V3.split(";"):
        if statement.strip():
            db.execute(statement)


def _rebuild_table(db: Database, table: str, old: str, new: str, what: str) -> None:
    """Make ``table`` anew from its own CREATE statement with ``old`` (a regex) replaced by ``new``
    and copy it, since SQLite's ALTER TABLE cannot change a column's constraints
    (sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes"); its indexes
    are made again from theirs. The caller has turned foreign keys off, so dropping the old table
    fires no ON DELETE action."""
    create = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
    indexes = [row[0] for row in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table])]
    changed = re.sub(old, new, create, count=1)
    if changed == create:
        raise StoreError(f"cannot find {what} in the table {table}")
    # A table made by an earlier rebuild keeps its name quoted: CREATE TABLE "devices".
    db.execute(re.sub(rf'^CREATE TABLE "?{table}"?', f"CREATE TABLE {table}_rebuilt", changed, count=1))
    db.execute(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")
    db.execute(f"DROP TABLE {table}")
    db.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
    for index in indexes:
        db.execute(index)


def _rebuild_without_not_null(db: Database, table: str, column: str) -> None:
    """Let ``column`` of ``table`` be NULL."""
    _rebuild_table(db, table, rf"\b{column} TEXT NOT NULL\b", f"{column} TEXT", f"the column {column}")


_SCHEMA_V4 = """
ALTER TABLE devices ADD COLUMN attached_to INTEGER REFERENCES devices(id) ON DELETE CASCADE;
ALTER TABLE devices ADD COLUMN channel INTEGER;
ALTER TABLE devices ADD COLUMN connection TEXT CHECK (connection IN ('analog', 'ip-poe', 'ip-lan'));
ALTER TABLE devices ADD COLUMN video TEXT CHECK (video IN ('present', 'no-video', 'offline'));
ALTER TABLE devices ADD COLUMN reported_ip TEXT;
ALTER TABLE devices ADD COLUMN channels TEXT CHECK (channels IN ('enumerated', 'credentials-needed', 'not-asked'));
ALTER TABLE devices ADD COLUMN channel_count INTEGER;
CREATE UNIQUE INDEX devices_channel ON devices(attached_to, channel) WHERE attached_to IS NOT NULL;
ALTER TABLE sightings ADD COLUMN attached_to INTEGER;
ALTER TABLE sightings ADD COLUMN channel INTEGER;
ALTER TABLE sightings ADD COLUMN connection TEXT;
ALTER TABLE sightings ADD COLUMN video TEXT;
ALTER TABLE sightings ADD COLUMN channels TEXT
"""


def _migrate_to_4(db: Database) -> None:
    """Cameras behind recorders: a channel is a device linked to its recorder (``attached_to``, the
    recorder's device id) by its ``channel`` number, with its ``connection`` and ``video`` state and
    the address the recorder reports (``reported_ip``); it has no address of its own on a scanned
    network, so ``ip`` may now be NULL. A recorder keeps what became of asking it (``channels``)
    and how many it has (``channel_count``); sightings keep a channel's link, and whether its
    recorder's channels were read in that scan, for ``diff``."""
    _rebuild_without_not_null(db, "devices", "ip")
    _rebuild_without_not_null(db, "sightings", "ip")
    for statement in _SCHEMA_V4.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate_scan_uuids(db: Database) -> None:
    """Every scan gets a UUID: the one a district dispatcher assigned, or a random one; a
    portable scan result (``camscan.portable``) names its scan by it, so importing it twice adds nothing.

    Self-contained (it adds one column and one index and reads nothing another migration
    adds), so it can take any place in MIGRATIONS.
    """
    db.execute("ALTER TABLE scans ADD COLUMN uuid TEXT")
    db.conn.executemany("UPDATE scans SET uuid = ? WHERE id = ?",
                        [(str(uuid.uuid4()), row[0]) for row in db.execute("SELECT id FROM scans")])
    db.execute("CREATE UNIQUE INDEX scans_uuid ON scans(uuid)")


_DISTRICT_TABLES = """
CREATE TABLE district_sensors (
    name TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    certificate TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    camscan_version TEXT,
    last_heartbeat TEXT,
    last_scan_uuid TEXT,
    last_scan_at TEXT
);
CREATE TABLE district_dispatches (
    scan_uuid TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    targets TEXT NOT NULL,
    options TEXT NOT NULL,
    dispatched_at TEXT NOT NULL
);
CREATE TABLE district_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    sensor TEXT,
    site TEXT,
    scan_uuid TEXT,
    kind TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX district_events_scan_uuid ON district_events(scan_uuid);
CREATE TABLE district_schedules (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    schedule TEXT NOT NULL,
    targets TEXT NOT NULL,
    options TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


def _migrate_district_tables(db: Database) -> None:
    """The district's ledger (``camscan.district.ledger``): registered sensors, dispatched and
    recurring scans, and what sensors reported. Self-contained (new tables only), so it can take
    any place in MIGRATIONS."""
    for statement in _DISTRICT_TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


def _migrate_to_seen_as(db: Database) -> None:
    """How the scan knows a device it did not probe: ``seen_as`` is ``on-link, outside scope`` for
    one heard on an in-scope link at an address outside scope (never contacted), else NULL."""
    db.execute("ALTER TABLE devices ADD COLUMN seen_as TEXT")


def _migrate_to_sensor_connection(db: Database) -> None:
    """A camera with several video sources lists them as its channels, each with the connection
    ``sensor`` (one of the camera's own sensors): the devices table's ``connection`` check allows it."""
    _rebuild_table(db, "devices", r"CHECK \(connection IN \('analog', 'ip-poe', 'ip-lan'\)\)",
                   "CHECK (connection IN ('analog', 'ip-poe', 'ip-lan', 'sensor'))", "the connection check")


# MIGRATIONS[n] takes a database at schema version n to n + 1, inside one transaction.
MIGRATIONS: list[Callable[[Database], None]] = [_migrate_to_1, _migrate_to_2, _migrate_to_3, _migrate_to_4,
                                                _migrate_scan_uuids, _migrate_district_tables, _migrate_to_seen_as,
                                                _migrate_to_sensor_connection]
SCHEMA_VERSION = len(MIGRATIONS)
