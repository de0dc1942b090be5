"""The camscan database: schema, migrations, and writing and reading scans and devices.

The only SQL in camscan. One SQLite file (WAL mode) through sqlite-utils; every
public call is one short transaction, committed before it returns, so an
interrupted (even killed) scan keeps everything already recorded, and a second
writer waits its turn. Inside :meth:`Store.grouped_commits` (an import's devices) the
calls are still all-or-nothing each, but are committed together every fraction of a
second and when the group ends. A running scan beats its heartbeat; one whose
heartbeat stopped reads as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import re
import socket
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from camscan.errors import UserError
from camscan.model import ChannelDevice, Device, Evidence, Finding, Identification, Observation, canonical_mac
from camscan.private_files import create_private

SQLITE_HEADER = b"SQLite format 3\x00"
GROUP_COMMIT_SECONDS = 0.5
# A running scan records a heartbeat every HEARTBEAT_SECONDS; one silent for STALE_SECONDS
# (or whose process on this machine is gone) was killed or lost its machine: it reads as interrupted.
HEARTBEAT_SECONDS = 1.0
STALE_SECONDS = 5.0
# How long a writer waits for another process's write to end before giving up.
BUSY_TIMEOUT_SECONDS = 60
# The first later complete scan that saw a finding's device and ran its check without finding
# it again (SQL over the findings table aliased ``f``): the finding is resolved from then on.
RESOLVED_IN_SCAN = (
    "(SELECT min(s.scan_id) FROM sightings s JOIN scans later ON later.id = s.scan_id "
    "WHERE s.device_id = f.device_id AND s.scan_id > f.scan_id AND later.status = 'complete' "
    "AND EXISTS (SELECT 1 FROM json_each(later.parameters, '$.checks') WHERE value = f.check_name))"
)
APPLICATION_ID = 0x63616D73  # "cams" in the file header; `file` and sqlite3 show it
SCAN_STATUSES = ("running", "complete", "interrupted", "failed")
IDENTITY_FIELDS = ("vendor", "manufacturer", "model", "firmware", "device_type")
# What `diff` compares between two sightings of one device.
ANY_SITE = object()  # latest_scan_pair: scans of every site
# The device columns a merge decides apart from the rest, which the newer record sets.
MERGE_KEEPS = ("mac", "mac_seen", "first_seen", "first_scan_id")
CHANGE_FIELDS = ("vendor", "manufacturer", "model", "firmware", "device_type", "ndaa_889", "connection", "video")
# What a channel (a camera a recorder reports) adds to a device; NULL for every other device.
CHANNEL_FIELDS = ("attached_to", "channel", "connection", "video", "reported_ip")


class StoreError(UserError):
    """The database cannot be used; the message says which file and what to do."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=1024)
def _iso_second(timestamp: int) -> str:
    """``_iso`` of a Unix time in whole seconds (a scan's observations share a few seconds)."""
    return _iso(datetime.fromtimestamp(timestamp, timezone.utc))


def _process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _finding_status(row: dict) -> str:
    return "open" if row["resolved_in_scan"] is None else "resolved"


def normalize_mac(mac: str | None) -> str | None:
    """A MAC in camscan's one form (see :func:`canonical_mac`); other text lower-cased; None stays None."""
    if not mac or not mac.strip():
        return None
    return canonical_mac(mac) or mac.strip().lower()


_MAC_PATTERN = re.compile(r"[0-9a-fA-F]{2}([:\-]?[0-9a-fA-F]{2}){5}|[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4}){2}")


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row an INSERT through ``cursor`` added (sqlite3 leaves ``lastrowid`` None
    only on a cursor that inserted nothing)."""
    assert cursor.lastrowid is not None, "the cursor inserted no row"
    return cursor.lastrowid


def _looks_like_mac(text: str) -> bool:
    return bool(_MAC_PATTERN.fullmatch(text.strip()))


def _ip_sort_key(ip: str | None) -> tuple:
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return (9, 0, ip or "")
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


def _database_errors(method):
    """Turn SQLite failures during use (locked, disk full, damaged) into a StoreError."""

    @functools.wraps(method)
    def wrapper(self: Store, *args, **kwargs):
        try:
            result = method(self, *args, **kwargs)
            if self._group_deadline is not None and time.monotonic() >= self._group_deadline:
                self._commit_group()
            return result
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

    def __init__(self, path: str | os.PathLike, clock: Callable[[], datetime] | None = None,
                 read_only: bool = False) -> None:
        """Open ``path`` or create it (and its parent directory).

        Raises StoreError, leaving the file untouched, if it is not SQLite, is damaged,
        belongs to another application, or has a newer schema than this camscan knows.
        ``clock`` returns the current time (timezone-aware); tests pass a fixed one.
        ``read_only`` opens an existing, up-to-date database so that nothing can write to it.
        """
        self.path = Path(path)
        self._clock = clock or _utc_now
        self._group_deadline: float | None = None  # inside grouped_commits: when to commit next
        self._group_interval = 0.0
        self._camscan_version = _camscan_version()
        version = self._inspect()
        if read_only and version != SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, not {SCHEMA_VERSION}: "
                             "open it once for writing (any camscan scan, merge or reidentify) to upgrade it")
        try:
            if read_only:
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                       timeout=BUSY_TIMEOUT_SECONDS)
                self.db = Database(conn, execute_plugins=False)
            else:
                self.db = Database(self.path, execute_plugins=False)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open {self.path}: {error}") from error
        try:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
            self.db.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                self.db.enable_wal()
                # With WAL, NORMAL loses nothing when camscan crashes or is killed (only on
                # power loss), and spares an fsync per result written as it arrives.
                self.db.execute("PRAGMA synchronous = NORMAL")
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
            try:
                # Created here, not by SQLite, to be its owner's only (it lists open streams);
                # SQLite gives its -wal and -shm files the database file's mode and owner.
                create_private(path)
            except OSError as error:
                raise StoreError(f"cannot create {path}: {error.strerror}") from None
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
        if version >= SCHEMA_VERSION:
            return
        # Off while tables are rebuilt (it cannot change inside a transaction), checked after:
        # the upgrade may break no link between tables that held before it.
        broken_before = set(map(tuple, self.db.execute("PRAGMA foreign_key_check").fetchall()))
        self.db.execute("PRAGMA foreign_keys = OFF")
        try:
            self._migrate_steps(version)
        finally:
            self.db.execute("PRAGMA foreign_keys = ON")
        if set(map(tuple, self.db.execute("PRAGMA foreign_key_check").fetchall())) - broken_before:
            raise StoreError(f"{self.path}: upgrading its schema left a broken link between tables; "
                             "restore it from a backup")

    def _migrate_steps(self, version: int) -> None:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._writing():
                if self.db.execute("PRAGMA user_version").fetchone()[0] >= target:
                    continue  # another process opening the file at the same time upgraded it first
                MIGRATIONS[target - 1](self.db)
                meta = {"application": "camscan", "schema_version": str(target)}
                if target == 1:
                    meta.update(created_at=self._now(), created_by=self._camscan_version)
                self.db.table("camscan_meta").upsert_all(
                    [{"key": key, "value": value} for key, value in meta.items()], pk="key"
                )
                self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self.db.execute(f"PRAGMA user_version = {target}")

    # --- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One all-or-nothing write: a savepoint inside an open transaction, else a transaction
        that takes the write lock at its start (BEGIN IMMEDIATE).

        Taken later, when a read turns into a write, another process's commit in between
        fails the write at once with "locked"; taken first, a second writer waits its turn.
        """
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.conn.rollback()
            raise
        self.db.conn.execute("COMMIT")

    def _now(self) -> str:
        return _iso(self._clock())

    def _require_scan(self, scan_id: int) -> str | None:
        """The scan's site; StoreError when there is no such scan."""
        row = self.db.execute("SELECT site FROM scans WHERE id = ?", [scan_id]).fetchone()
        if row is None:
            raise StoreError(f"there is no scan {scan_id} in {self.path}")
        return row[0]

    @_database_errors
    def start_scan(self, targets: list[str], parameters: dict, site: str | None = None,
                   scan_uuid: str | None = None) -> int:
        """Record a new scan with status ``running`` and this process as its owner; returns its id.

        ``scan_uuid`` names the scan everywhere it is copied (a district dispatcher assigns
        it); a new random one if not given. A scan of that UUID that did not complete (its
        sensor was killed, its task delivered again) runs again under its own id.
        """
        now = self._now()
        scan_uuid = str(uuid.UUID(scan_uuid)) if scan_uuid else str(uuid.uuid4())
        with self._writing():
            earlier = self.db.execute("SELECT id, status FROM scans WHERE uuid = ?", [scan_uuid]).fetchone()
            if earlier is not None:
                if earlier[1] == "complete":
                    raise StoreError(f"scan {scan_uuid} already completed in {self.path} (scan {earlier[0]})")
                self.db.execute("UPDATE scans SET started_at = ?, heartbeat_at = ?, pid = ?, hostname = ?, "
                                "status = 'running', finished_at = NULL WHERE id = ?",
                                [now, now, os.getpid(), socket.gethostname(), earlier[0]])
                return earlier[0]
            cursor = self.db.execute(
                "INSERT INTO scans (started_at, heartbeat_at, pid, hostname, status, targets, parameters, site, "
                "camscan_version, uuid) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                [
                    now,
                    now,
                    os.getpid(),
                    socket.gethostname(),
                    json.dumps(list(targets)),
                    json.dumps(parameters, sort_keys=True, default=str),
                    site or None,
                    self._camscan_version,
                    scan_uuid,
                ],
            )
            scan_id = inserted_id(cursor)
            self.db.execute("UPDATE scans SET origin = ? WHERE id = ?", [f"{self.database_id}:{scan_id}", scan_id])
        return scan_id

    @_database_errors
    def heartbeat(self, scan_id: int) -> None:
        """Say that this process is still running the scan (every HEARTBEAT_SECONDS).

        A scan another process recorded as interrupted while this one was stalled longer
        than STALE_SECONDS is running again.
        """
        with self._writing():
            self.db.execute(
                "UPDATE scans SET heartbeat_at = ?, status = 'running', finished_at = NULL "
                "WHERE id = ? AND pid = ? AND status IN ('running', 'interrupted')",
                [self._now(), scan_id, os.getpid()],
            )

    def _abandoned_scans(self) -> dict[int, str]:
        """Scans recorded as running whose process is gone (silent for STALE_SECONDS, or its
        process on this machine no longer exists), with when it was last heard of."""
        cutoff = self._clock() - timedelta(seconds=STALE_SECONDS)
        this_host = socket.gethostname()
        return {
            row["id"]: row["heard_at"]
            for row in self.db.query(
                "SELECT id, coalesce(heartbeat_at, started_at) AS heard_at, pid, hostname FROM scans "
                "WHERE status = 'running'"
            )
            if datetime.fromisoformat(row["heard_at"]) < cutoff
            or (row["hostname"] == this_host and row["pid"] and not _process_exists(row["pid"]))
        }

    @staticmethod
    def _as_read(scan: dict, abandoned: dict[int, str]) -> dict:
        """A scan row as every read shows it: a running scan whose process is gone is interrupted."""
        if scan["id"] in abandoned:
            return {**scan, "status": "interrupted", "finished_at": abandoned[scan["id"]]}
        return scan

    @_database_errors
    def record_abandoned_scans(self) -> list[int]:
        """Record as interrupted the scans whose process is gone (the next writer does this;
        a read only shows them so). Returns their ids."""
        with self._writing():
            abandoned = self._abandoned_scans()
            for scan_id, last_heard in sorted(abandoned.items()):
                self.finish_scan(scan_id, "interrupted", finished_at=last_heard)
        return sorted(abandoned)

    @property
    def database_id(self) -> str:
        """A random id given to this database when it was created; scans keep it through merges."""
        database_id = self._meta("database_id")
        if database_id is None:
            raise StoreError(f"{self.path}: its camscan_meta table has lost the database id; restore it from a backup")
        return database_id

    def _insert_observations(
        self, scan_id: int, observations: Iterable[Observation], device_id: int | None = None
    ) -> None:
        """Insert observations (duplicates ignored), linked to ``device_id`` if given, else to the
        device this scan has recorded at their address, if any."""
        now = self._now()
        rows = (
            (
                device_id,
                scan_id,
                o.ip,
                o.source,
                o.field,
                str(o.value),
                o.port,
                o.transport,
                _iso_second(int(o.observed_at)) if o.observed_at else now,
            )
            for o in observations
        )
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO observations "
            "(device_id, scan_id, ip, source, field, value, port, transport, observed_at) "
            "VALUES (coalesce(?1, (SELECT device_id FROM sightings WHERE scan_id = ?2 AND ip = ?3)), "
            "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            rows,
        )

    @_database_errors
    def record_observations(self, scan_id: int, observations: Iterable[Observation]) -> None:
        """Store raw observations of a scan (duplicates ignored); committed on return."""
        with self._writing():
            self._require_scan(scan_id)
            self._insert_observations(scan_id, observations)

    def _find_device(self, ip: str, mac: str | None, mac_seen: bool, site: str | None,
                     scan_id: int | None) -> tuple[dict | None, bool]:
        """The recorded device a sighting (of scan ``scan_id``) is, and whether its MAC is that device's.

        A MAC seen on the wire (``mac_seen``: ARP, the kernel's ARP table) is the device's:
        its holder has moved here, unless the holder only claimed it at another address in
        this same scan, which then loses it. A MAC the device only claims (SADP, DHIP,
        mDNS) moves no device the wire placed elsewhere, nor one that claimed it at another
        address in this scan: the two stay two devices, this one without the MAC. Without
        a MAC that decides, the address does, at the same site (a scan without a site
        matches an address at any site): a MAC-less record first, else whoever is there now.
        """
        query = "SELECT * FROM devices WHERE {} ORDER BY last_seen DESC, id DESC LIMIT 1"
        at_site = "ip = ? AND (site IS ? OR ? IS NULL)"
        holder = next(self.db.query(query.format("mac = ?"), [mac]), None) if mac else None
        if holder is not None:
            if holder["ip"] == ip:
                return holder, True
            claimed_elsewhere_now = not holder["mac_seen"] and holder["last_scan_id"] == scan_id
            if mac_seen and claimed_elsewhere_now:
                self.db.execute("UPDATE devices SET mac = NULL, mac_seen = NULL WHERE id = ?", [holder["id"]])
            elif mac_seen or not (holder["mac_seen"] or holder["last_scan_id"] == scan_id):
                return holder, True  # the device moved
            else:
                mac = None  # the wire, or another address in this scan, holds this MAC
        # a MAC that decides adopts a MAC-less record at this address; else the address decides
        for where in (f"{at_site} AND mac IS NULL", *(() if mac else (at_site,))):
            row = next(self.db.query(query.format(where), [ip, site, site]), None)
            if row:
                return row, mac is not None
        return None, mac is not None

    @staticmethod
    def _identifies(identification: Identification) -> bool:
        return any(getattr(identification, name) for name in IDENTITY_FIELDS) or bool(identification.evidence)

    @_database_errors
    def record_device(self, scan_id: int, device: Device) -> int:
        """Insert or update a device with its services, evidence and this scan's sighting.

        Identity (see ``_find_device``): the same MAC is the same device (its ip and site
        follow), ARP's MAC beating a claimed one; without a MAC that decides, the same ip at
        the same site. An identification that names nothing (a port-only re-scan) keeps the
        previous one. Also stores ``device.observations`` and links this scan's
        observations of ``device.ip`` to the device. Returns the device id.
        """
        now = self._now()
        mac = normalize_mac(device.mac)
        ident = device.identification
        with self._writing():
            site = self._require_scan(scan_id)
            existing, mac_is_its_own = self._find_device(device.ip, mac, device.mac_seen, site, scan_id)
            identified = self._identifies(ident)
            values: dict[str, Any] = {"ip": device.ip, "last_seen": now, "last_scan_id": scan_id,
                                      "seen_as": device.seen_as}
            if mac and mac_is_its_own:
                values.update(mac=mac, mac_seen=int(device.mac_seen))
            if site is not None or existing is None:
                values["site"] = site
            if identified or existing is None:
                values.update(self._identity_values(ident))
            if existing is None:
                values.update(first_seen=now, first_scan_id=scan_id)
                columns = ", ".join(values)
                cursor = self.db.execute(
                    f"INSERT INTO devices ({columns}) VALUES ({', '.join('?' * len(values))})",
                    list(values.values()),
                )
                device_id = inserted_id(cursor)
            else:
                device_id = existing["id"]
                assignments = ", ".join(f"{name} = ?" for name in values)
                self.db.execute(
                    f"UPDATE devices SET {assignments} WHERE id = ?", [*values.values(), device_id]
                )

            self.db.conn.executemany(
                "INSERT INTO services (device_id, port, transport, protocol, banner, "
                "first_seen, last_seen, last_scan_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (device_id, port, transport) DO UPDATE SET "
                "protocol = coalesce(excluded.protocol, protocol), "
                "banner = CASE WHEN excluded.banner <> '' THEN excluded.banner ELSE banner END, "
                "last_seen = excluded.last_seen, last_scan_id = excluded.last_scan_id",
                [(device_id, service.port, service.transport, service.protocol or None,
                  service.banner, now, now, scan_id) for service in device.services],
            )

            if identified:
                self._replace_evidence(device_id, scan_id, ident.evidence)

            self._record_sighting(scan_id, device_id)

            self._insert_observations(scan_id, device.observations, device_id)
            self.db.execute(
                "UPDATE observations SET device_id = ? WHERE scan_id = ? AND ip = ? AND (device_id IS NULL "
                "OR device_id NOT IN (SELECT id FROM devices WHERE attached_to IS NOT NULL AND ip IS NULL))",
                [device_id, scan_id, device.ip],
            )
        return device_id

    @_database_errors
    def record_channels(self, scan_id: int, recorder_id: int, status: str,
                        channels: Iterable[ChannelDevice]) -> list[int]:
        """Record what asking a recorder for its channels gave: its ``status`` (enumerated,
        credentials-needed, not-asked) and, when enumerated, its channel count and each channel
        as a device of its own, found again by (recorder, channel number) on a re-scan.

        A channel that is a device the sweep found (``same_as``) is that device, linked to the
        recorder; any other channel has no ``ip`` and no ``mac`` of its own (what the recorder
        reports stays in its observations). Returns the channels' device ids.
        """
        channels = list(channels)
        now = self._now()
        device_ids = []
        with self._writing():
            self._require_scan(scan_id)
            enumerated = status == "enumerated"
            self.db.execute("UPDATE devices SET channels = ?, channel_count = ? WHERE id = ?",
                            [status, len(channels) if enumerated else None, recorder_id])
            self._record_sighting(scan_id, recorder_id)
            site = self.db.execute("SELECT site FROM devices WHERE id = ?", [recorder_id]).fetchone()[0]
            for item in channels if enumerated else ():
                link = {"attached_to": recorder_id, "channel": item.channel.number, "connection": item.connection,
                        "video": item.channel.video, "reported_ip": item.channel.address}
                present = self.db.execute("SELECT id, ip FROM devices WHERE attached_to = ? AND channel = ?",
                                          [recorder_id, item.channel.number]).fetchone()
                if present and present[1] is not None and present[0] != item.same_as:
                    # a swept device that was this channel and is no longer known to be: only unlinked
                    self._update_device(present[0], dict.fromkeys(CHANNEL_FIELDS))
                    present = None
                if item.same_as is not None:
                    if present and present[0] != item.same_as:
                        self.db.execute("DELETE FROM devices WHERE id = ?", [present[0]])
                    device_id = item.same_as
                    self._update_device(device_id, link)
                else:
                    values = {**link, **self._identity_values(item.identification), "ip": None, "site": site,
                              "last_seen": now, "last_scan_id": scan_id}
                    if present is None:
                        values.update(first_seen=now, first_scan_id=scan_id)
                        device_id = inserted_id(self.db.execute(
                            f"INSERT INTO devices ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                            list(values.values())))
                    else:
                        device_id = present[0]
                        self._update_device(device_id, values)
                    self._replace_evidence(device_id, scan_id, item.identification.evidence)
                    self._insert_observations(scan_id, item.observations, device_id)
                self._record_sighting(scan_id, device_id)
                device_ids.append(device_id)
        return device_ids

    def _update_device(self, device_id: int, values: dict[str, Any]) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        self.db.execute(f"UPDATE devices SET {assignments} WHERE id = ?", [*values.values(), device_id])

    @staticmethod
    def _identity_values(ident: Identification) -> dict[str, Any]:
        values: dict[str, Any] = {name: getattr(ident, name) for name in IDENTITY_FIELDS}
        values["is_camera"] = int(ident.is_camera)
        values["confidence"] = float(ident.confidence)
        values["ndaa_889"] = None if ident.ndaa_889 is None else int(ident.ndaa_889)
        values["ndaa_basis"] = ident.ndaa_basis or None
        return values

    def _replace_evidence(self, device_id: int, scan_id: int | None, evidence: Iterable[Evidence]) -> None:
        self.db.execute("DELETE FROM evidence WHERE device_id = ?", [device_id])
        self.db.conn.executemany(
            "INSERT INTO evidence (device_id, scan_id, source, field, value, signature, weight, port, sets) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (device_id, scan_id, e.source, e.field, e.value, e.signature, e.weight, e.port,
                 json.dumps(dict(e.sets), sort_keys=True))
                for e in evidence
            ],
        )

    def _record_sighting(self, scan_id: int, device_id: int) -> None:
        """What the device was identified as at this scan (kept even when later scans say otherwise)."""
        columns = ("ip, mac, vendor, manufacturer, model, firmware, device_type, is_camera, confidence, ndaa_889, "
                   "ndaa_basis, attached_to, channel, connection, video, channels")
        updates = ", ".join(f"{name} = excluded.{name}" for name in columns.split(", "))
        self.db.execute(
            f"INSERT INTO sightings (scan_id, device_id, {columns}) SELECT ?, id, {columns} FROM devices WHERE id = ? "
            f"ON CONFLICT (scan_id, device_id) DO UPDATE SET {updates}",
            [scan_id, device_id],
        )

    @_database_errors
    def record_found_devices(self, targets: list[str], parameters: dict, devices: Iterable[Device],
                             complete: bool = True, site: str | None = None) -> tuple[int, list[int]]:
        """Record devices found without a scan of camscan's own (a capture, an nmap report) as one
        scan of their own at ``site``, ``interrupted`` unless ``complete``; the scan id and the device ids."""
        scan_id = self.start_scan(targets, parameters, site=site)
        device_ids = []
        try:
            with self.grouped_commits():
                for device in devices:
                    device_ids.append(self.record_device(scan_id, device))
                    self.heartbeat(scan_id)
        except BaseException:
            self.finish_scan(scan_id, "interrupted")
            raise
        self.finish_scan(scan_id, "complete" if complete else "interrupted")
        return scan_id, device_ids

    def finish_scan(self, scan_id: int, status: str = "complete", finished_at: str | None = None) -> None:
        """Close a scan as ``complete``, ``interrupted`` or ``failed`` (at ``finished_at``, else now)
        and fill its counts."""
        if status not in SCAN_STATUSES or status == "running":
            raise ValueError(f"status must be complete, interrupted or failed, not {status!r}")
        with self._writing():
            self._require_scan(scan_id)
            self.db.execute(
                "UPDATE scans SET finished_at = ?, status = ?, "
                "host_count = (SELECT count(DISTINCT ip) FROM observations WHERE scan_id = ?), "
                "device_count = (SELECT count(*) FROM sightings WHERE scan_id = ?) "
                "WHERE id = ?",
                [finished_at or self._now(), status, scan_id, scan_id, scan_id],
            )

    @_database_errors
    def record_findings(self, scan_id: int, device_id: int, findings: Iterable[Finding]) -> None:
        """Store a device's findings from one scan: a finding already known (same check and
        port) gets this scan and a new ``last_seen``; a new one is inserted. Committed on return."""
        now = self._now()
        with self._writing():
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
        """Every finding with its device's ip, mac and vendor, most severe first, then by ip and port.

        ``status`` is ``resolved`` once a later complete scan saw the device and ran the check
        without finding it again (``resolved_in_scan`` names the first such scan), else ``open``.
        """
        wanted = list(severities or [])
        where = f"WHERE f.severity IN ({', '.join('?' * len(wanted))})" if wanted else ""
        rows = list(self.db.query(
            "SELECT f.id, f.device_id, f.scan_id, d.ip, d.mac, d.site, d.vendor, d.model, f.check_name, f.severity, "
            "f.port, f.detail, f.evidence, f.first_seen, f.last_seen, "
            f"{RESOLVED_IN_SCAN} AS resolved_in_scan FROM findings f JOIN devices d ON d.id = f.device_id {where}",
            wanted,
        ))
        rank = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
        for row in rows:
            row["check"] = row.pop("check_name")
            row["evidence"] = json.loads(row["evidence"])
            row["status"] = _finding_status(row)
            if self.display_names:
                row["vendor_name"] = self.display_names(row["vendor"], None)["vendor_name"]
        rows.sort(key=lambda r: (rank.get(r["severity"], 9), _ip_sort_key(r["ip"]), r["port"] or -1, r["check"]))
        return rows

    # --- reading ---------------------------------------------------------------------------

    @_database_errors
    def scans(self) -> list[dict]:
        """All scans, oldest first; ``targets`` and ``parameters`` decoded from JSON.

        ``cameras`` and ``covered`` count the scan's sightings of cameras/recorders and of
        devices whose maker NDAA s.889 covers.
        """
        abandoned = self._abandoned_scans()
        rows = [self._as_read(row, abandoned) for row in self.db.query(
            "SELECT scans.*, "
            "(SELECT count(*) FROM sightings WHERE scan_id = scans.id AND is_camera = 1) AS cameras, "
            "(SELECT count(*) FROM sightings WHERE scan_id = scans.id AND ndaa_889 = 1) AS covered "
            "FROM scans ORDER BY id"
        )]
        for row in rows:
            row["targets"] = json.loads(row["targets"])
            row["parameters"] = json.loads(row["parameters"])
        return rows

    # The names people read for a device's vendor keys: ``display_names(vendor, manufacturer)``
    # gives ``vendor_name``, ``manufacturer_name`` and ``parent_name``, added to exported devices
    # (the CLI sets the catalogue's; the store itself knows no vendors).
    display_names: Callable[[str | None, str | None], dict[str, str | None]] | None = None

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
            "findings": f"SELECT device_id, check_name AS \"check\", severity, port, detail, evidence, first_seen, last_seen, "
            f"{RESOLVED_IN_SCAN} AS resolved_in_scan FROM findings f WHERE device_id IN ({marks}) ORDER BY id",
        }
        for key, sql in queries.items():
            for item in self.db.query(sql, ids):
                if key == "findings":
                    item["evidence"] = json.loads(item["evidence"])
                    item["status"] = _finding_status(item)
                related[key].setdefault(item.pop("device_id"), []).append(item)
        recorders = [row["attached_to"] for row in rows if row["attached_to"] is not None]
        recorder_ips = {row["id"]: row["ip"] for row in self.db.query(
            f"SELECT id, ip FROM devices WHERE id IN ({', '.join('?' * len(recorders))})", recorders)}
        exported = [
            {
                "id": row["id"],
                "ip": row["ip"],
                "mac": row["mac"],
                **{name: row[name] for name in IDENTITY_FIELDS},
                **(self.display_names(row["vendor"], row["manufacturer"]) if self.display_names else {}),
                "is_camera": bool(row["is_camera"]),
                "confidence": round(float(row["confidence"] or 0.0), 2),
                "ndaa_889": None if row["ndaa_889"] is None else bool(row["ndaa_889"]),
                "ndaa_basis": row["ndaa_basis"],
                "site": row["site"],
                # only on a device the scan did not probe (see Device.seen_as)
                **({"seen_as": row["seen_as"]} if row["seen_as"] else {}),
                "first_seen": row["first_seen"],
                "last_seen": row["last_seen"],
                "attached_to": recorder_ips.get(row["attached_to"]),
                "channel": row["channel"],
                "connection": row["connection"],
                "video": row["video"],
                "reported_ip": row["reported_ip"],
                "channels": row["channels"],
                "channel_count": row["channel_count"],
                "services": related["services"].get(row["id"], []),
                "evidence": related["evidence"].get(row["id"], []),
                "findings": related["findings"].get(row["id"], []),
                "recorder_id": row["attached_to"],
            }
            for row in rows
        ]
        by_id = {row["id"]: row for row in rows}
        recorder_ips.update({row["id"]: row["ip"] for row in rows})

        def place(device: dict) -> tuple:
            """By ip; a channel right after its recorder, in channel order."""
            recorder = device.pop("recorder_id")
            if recorder is None:
                return (_ip_sort_key(device["ip"]), device["id"], -1, 0)
            recorder_row = by_id.get(recorder) or {"ip": recorder_ips.get(recorder)}
            return (_ip_sort_key(recorder_row["ip"]), recorder, device["channel"] or 0, device["id"])

        keys = {device["id"]: place(device) for device in exported}
        exported.sort(key=lambda d: keys[d["id"]])
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
        exported["attached"] = self._export(list(self.db.query(
            "SELECT * FROM devices WHERE attached_to = ? ORDER BY channel", [row["id"]])))
        exported["observations"] = list(
            self.db.query(
                "SELECT scan_id, ip, source, field, value, port, transport, observed_at FROM observations "
                "WHERE device_id = ? ORDER BY scan_id DESC, observed_at, id",
                [row["id"]],
            )
        )
        return exported

    # --- history ---------------------------------------------------------------------------

    def _scan_or_error(self, scan_id: int) -> dict:
        row = next(self.db.query("SELECT * FROM scans WHERE id = ?", [scan_id]), None)
        if row is None:
            raise StoreError(f"there is no scan {scan_id} in {self.path}; `camscan scans` lists them")
        return self._as_read(row, self._abandoned_scans())

    @_database_errors
    def latest_scan_pair(self, site: str | None | object = ANY_SITE) -> tuple[int, int] | None:
        """The two most recent complete scans (of ``site``, None meaning scans without one), older first."""
        where, params = "status = 'complete'", []
        if site is not ANY_SITE:
            where += " AND site IS ?"
            params.append(site)
        ids = [row[0] for row in self.db.execute(f"SELECT id FROM scans WHERE {where} ORDER BY id DESC LIMIT 2", params)]
        return (ids[1], ids[0]) if len(ids) == 2 else None

    @_database_errors
    def sightings(self, scan_id: int) -> list[dict]:
        """What each device seen in a scan was identified as then, by ip."""
        self._scan_or_error(scan_id)
        rows = list(self.db.query(
            "SELECT s.*, scans.site FROM sightings s JOIN scans ON scans.id = s.scan_id WHERE s.scan_id = ?", [scan_id]
        ))
        for row in rows:
            row["ndaa_889"] = None if row["ndaa_889"] is None else bool(row["ndaa_889"])
            row["is_camera"] = bool(row["is_camera"])
        rows.sort(key=lambda row: (_ip_sort_key(row["ip"]), row["device_id"]))
        return rows

    @_database_errors
    def diff(self, scan_a: int, scan_b: int) -> dict:
        """Devices new, gone, moved (same device, new ip) and changed between two scans.

        Devices are matched by their stable id (the same MAC, or the same site and ip
        without one). ``changed`` lists each differing field of CHANGE_FIELDS as old/new.
        """
        scans = [self._scan_or_error(scan_a), self._scan_or_error(scan_b)]
        before = {row["device_id"]: row for row in self.sightings(scan_a)}
        after = {row["device_id"]: row for row in self.sightings(scan_b)}

        recorder_ids = {row["attached_to"] for row in [*before.values(), *after.values()] if row["attached_to"]}
        recorder_ips = {row[0]: row[1] for row in self.db.execute(
            f"SELECT id, ip FROM devices WHERE id IN ({', '.join('?' * len(recorder_ids))})", list(recorder_ids))}

        def brief(row: dict) -> dict:
            keys = ("device_id", "ip", "mac", "site", *CHANGE_FIELDS, "is_camera", "channel")
            return {**{key: row[key] for key in keys}, "attached_to": recorder_ips.get(row["attached_to"])}

        moved, changed = [], []
        # A camera behind a recorder that did not give its channels this time is unknown, not gone.
        unread = {device_id for device_id, row in after.items() if row["channels"] not in (None, "enumerated")}
        for device_id in before.keys() & after.keys():
            old, new = before[device_id], after[device_id]
            if old["ip"] != new["ip"]:
                moved.append({**brief(new), "old_ip": old["ip"]})
            fields = {name: {"old": old[name], "new": new[name]} for name in CHANGE_FIELDS if old[name] != new[name]}
            if fields:
                changed.append({**brief(new), "changes": fields})

        def ordered(rows: list[dict]) -> list[dict]:
            return sorted(rows, key=lambda row: (_ip_sort_key(row["ip"] or row["attached_to"]), row["channel"] or 0,
                                                 row["device_id"]))

        return {
            "scan_a": {key: scans[0][key] for key in ("id", "started_at", "site", "status", "targets")},
            "scan_b": {key: scans[1][key] for key in ("id", "started_at", "site", "status", "targets")},
            "new": ordered([brief(after[i]) for i in after.keys() - before.keys()]),
            "gone": ordered([brief(before[i]) for i in before.keys() - after.keys()
                             if before[i]["attached_to"] not in unread]),
            "moved": ordered(moved),
            "changed": ordered(changed),
        }

    # --- recomputing identifications --------------------------------------------------------

    @_database_errors
    def device_observations(self, device_id: int) -> list[tuple[int, list[Observation]]]:
        """A device's stored observations grouped by scan, latest scan first."""
        grouped: dict[int, list[Observation]] = {}
        for row in self.db.query(
            "SELECT scan_id, ip, source, field, value, port, transport FROM observations "
            "WHERE device_id = ? ORDER BY scan_id DESC, id",
            [device_id],
        ):
            grouped.setdefault(row["scan_id"], []).append(
                Observation(row["ip"], row["source"], row["field"], row["value"], row["port"], row["transport"])
            )
        return list(grouped.items())

    @_database_errors
    def device_ids(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT id FROM devices ORDER BY id")]

    @_database_errors
    def update_identification(self, device_id: int, identification: Identification, scan_id: int | None) -> None:
        """Replace a device's identification and evidence (``scan_id``: whose observations it came from)."""
        values = self._identity_values(identification)
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._writing():
            self.db.execute(f"UPDATE devices SET {assignments} WHERE id = ?", [*values.values(), device_id])
            self._replace_evidence(device_id, scan_id, identification.evidence)

    @_database_errors
    def unattributed_count(self) -> int:
        """Devices and sightings without NDAA s.889 attribution (recorded before camscan kept it)."""
        return sum(self.db.execute(f"SELECT count(*) FROM {table} WHERE ndaa_basis IS NULL").fetchone()[0]
                   for table in ("devices", "sightings"))

    @_database_errors
    def fill_attribution(
        self, attribute: Callable[[str | None, str | None, list[Evidence]], tuple[bool | None, str]]
    ) -> int:
        """Compute NDAA s.889 attribution where a row has none (databases from before it existed).

        ``attribute(vendor, manufacturer, evidence)`` returns (covered, basis). A sighting
        uses its device's current evidence. Returns the number of rows filled.
        """
        filled = 0
        evidence_cache: dict[int, list[Evidence]] = {}

        def evidence_of(device_id: int) -> list[Evidence]:
            if device_id not in evidence_cache:
                evidence_cache[device_id] = [
                    Evidence(row["source"] or "", row["field"] or "", row["value"] or "", row["signature"] or "",
                             float(row["weight"] or 0.0), row["port"], tuple(sorted(json.loads(row["sets"]).items())))
                    for row in self.db.query("SELECT * FROM evidence WHERE device_id = ? ORDER BY id", [device_id])
                ]
            return evidence_cache[device_id]

        with self._writing():
            for table, key in (("devices", "id"), ("sightings", "device_id")):
                rows = list(self.db.query(f"SELECT id, {key} AS device_id, vendor, manufacturer FROM {table} "
                                          "WHERE ndaa_basis IS NULL"))
                for row in rows:
                    covered, basis = attribute(row["vendor"], row["manufacturer"], evidence_of(row["device_id"]))
                    self.db.execute(f"UPDATE {table} SET ndaa_889 = ?, ndaa_basis = ? WHERE id = ?",
                                    [None if covered is None else int(covered), basis, row["id"]])
                filled += len(rows)
        return filled

    # --- merging ---------------------------------------------------------------------------

    @_database_errors
    def merge_from(self, source_path: str | os.PathLike) -> dict:
        """Add another camscan database's scans, devices and their history to this one.

        Devices are matched as a scan matches them (``_find_device``). Scans are
        known by their origin, so merging the same file twice adds nothing. The source is
        read from a private copy (upgraded there if older) and never written. Returns counts.
        """
        source_path = Path(source_path)
        if not source_path.is_file():
            raise StoreError(f"{source_path}: no such camscan database")
        if source_path.resolve() == self.path.resolve():
            raise StoreError(f"{source_path} is the output database itself; name another -o file")
        with tempfile.TemporaryDirectory(prefix="camscan-merge-") as scratch:
            copy = Path(scratch) / "source.db"
            try:
                origin_conn = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True)
                with sqlite3.connect(copy) as target_conn:
                    origin_conn.backup(target_conn)
                origin_conn.close()
            except sqlite3.DatabaseError as error:
                raise StoreError(f"cannot read {source_path}: {error}") from None
            with Store(copy, clock=self._clock) as source:
                return self.merge_store(source, str(source_path))

    @_database_errors
    def merge_store(self, source: Store, label: str) -> dict:
        """Add the scans, devices and history of another open camscan database, all or nothing
        (see ``merge_from``; ``camscan.portable`` imports a scan through it); returns counts."""
        with self._writing():
            return self._merge(source, label)

    def _merge(self, source: Store, label: str) -> dict:
        src = source.db
        summary: dict[str, Any] = {"source": label, "scans_added": 0, "scans_already_present": 0, "devices_added": 0,
                   "devices_matched": 0, "observations_added": 0, "findings_added": 0}
        scan_map: dict[int, int] = {}
        fresh_scans: set[int] = set()
        scan_columns = [c for c in src["scans"].columns_dict if c != "id"]
        for scan in src.query("SELECT * FROM scans ORDER BY id"):
            present = self.db.execute("SELECT id FROM scans WHERE origin = ? OR uuid = ?",
                                      [scan["origin"], scan["uuid"]]).fetchone()
            if present:
                scan_map[scan["id"]] = present[0]
                summary["scans_already_present"] += 1
                continue
            cursor = self.db.execute(
                f"INSERT INTO scans ({', '.join(scan_columns)}) VALUES ({', '.join('?' * len(scan_columns))})",
                [scan[c] for c in scan_columns],
            )
            scan_map[scan["id"]] = inserted_id(cursor)
            fresh_scans.add(scan["id"])
            summary["scans_added"] += 1

        device_map: dict[int, int] = {}
        device_columns = [c for c in src["devices"].columns_dict if c != "id"]
        # Recorders before their channels: a channel is found again by (recorder, channel number).
        for device in src.query("SELECT * FROM devices ORDER BY attached_to IS NOT NULL, id"):
            mapped = {**device,
                      "first_scan_id": scan_map.get(device["first_scan_id"]),
                      "last_scan_id": scan_map.get(device["last_scan_id"]),
                      "attached_to": device_map.get(device["attached_to"])}
            if device["ip"] is None and device["attached_to"] is not None:
                existing = next(self.db.query("SELECT * FROM devices WHERE attached_to = ? AND channel = ?",
                                              [mapped["attached_to"], device["channel"]]), None)
                mac_is_its_own = False
            else:
                existing, mac_is_its_own = self._find_device(device["ip"], device["mac"], bool(device["mac_seen"]),
                                                             device["site"], mapped["last_scan_id"])
            if not mac_is_its_own:
                mapped.update(mac=None, mac_seen=None)
            if existing is None:
                cursor = self.db.execute(
                    f"INSERT INTO devices ({', '.join(device_columns)}) VALUES ({', '.join('?' * len(device_columns))})",
                    [mapped[c] for c in device_columns],
                )
                target_id = inserted_id(cursor)
                summary["devices_added"] += 1
                source_is_newer = True
            else:
                target_id = existing["id"]
                summary["devices_matched"] += 1
                source_is_newer = (device["last_seen"], 1) > (existing["last_seen"], 0)
                values: dict[str, Any] = {"mac": existing["mac"] or mapped["mac"]}
                if values["mac"] != existing["mac"]:
                    values["mac_seen"] = mapped["mac_seen"]
                if device["first_seen"] < existing["first_seen"]:
                    values.update(first_seen=device["first_seen"], first_scan_id=mapped["first_scan_id"])
                if source_is_newer:  # every column but identity and first sighting, so new columns follow too
                    values.update({name: mapped[name] for name in device_columns if name not in MERGE_KEEPS})
                assignments = ", ".join(f"{name} = ?" for name in values)
                self.db.execute(f"UPDATE devices SET {assignments} WHERE id = ?", [*values.values(), target_id])
            device_map[device["id"]] = target_id
            if source_is_newer:
                self.db.execute("DELETE FROM evidence WHERE device_id = ?", [target_id])
                for item in src.query("SELECT * FROM evidence WHERE device_id = ? ORDER BY id", [device["id"]]):
                    self.db.execute(
                        "INSERT INTO evidence (device_id, scan_id, source, field, value, signature, weight, port, sets) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [target_id, scan_map.get(item["scan_id"]), item["source"], item["field"], item["value"],
                         item["signature"], item["weight"], item["port"], item["sets"]],
                    )

        for service in src.query("SELECT * FROM services ORDER BY id"):
            self.db.execute(
                "INSERT INTO services (device_id, port, transport, protocol, banner, first_seen, last_seen, last_scan_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, port, transport) DO UPDATE SET "
                "first_seen = min(first_seen, excluded.first_seen), "
                "protocol = CASE WHEN excluded.last_seen > last_seen THEN coalesce(excluded.protocol, protocol) ELSE protocol END, "
                "banner = CASE WHEN excluded.last_seen > last_seen AND excluded.banner <> '' THEN excluded.banner ELSE banner END, "
                "last_scan_id = CASE WHEN excluded.last_seen > last_seen THEN excluded.last_scan_id ELSE last_scan_id END, "
                "last_seen = max(last_seen, excluded.last_seen)",
                [device_map[service["device_id"]], service["port"], service["transport"], service["protocol"],
                 service["banner"], service["first_seen"], service["last_seen"], scan_map.get(service["last_scan_id"])],
            )

        for old_scan in sorted(fresh_scans):
            new_scan = scan_map[old_scan]
            before = self.db.execute("SELECT count(*) FROM observations").fetchone()[0]
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO observations (scan_id, device_id, ip, source, field, value, port, transport, "
                "observed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(new_scan, device_map.get(o["device_id"]), o["ip"], o["source"], o["field"], o["value"], o["port"],
                  o["transport"], o["observed_at"])
                 for o in src.query("SELECT * FROM observations WHERE scan_id = ? ORDER BY id", [old_scan])],
            )
            summary["observations_added"] += self.db.execute("SELECT count(*) FROM observations").fetchone()[0] - before
            sighting_columns = [c for c in src["sightings"].columns_dict if c not in ("id", "scan_id", "device_id")]
            for sighting in src.query("SELECT * FROM sightings WHERE scan_id = ?", [old_scan]):
                self.db.execute(
                    f"INSERT OR IGNORE INTO sightings (scan_id, device_id, {', '.join(sighting_columns)}) "
                    f"VALUES (?, ?, {', '.join('?' * len(sighting_columns))})",
                    [new_scan, device_map[sighting["device_id"]],
                     *(device_map.get(sighting[c]) if c == "attached_to" else sighting[c] for c in sighting_columns)],
                )

        for finding in src.query("SELECT * FROM findings ORDER BY id"):
            if finding["scan_id"] is not None and finding["scan_id"] not in fresh_scans:
                continue
            row = [device_map[finding["device_id"]], scan_map.get(finding["scan_id"]), finding["check_name"],
                   finding["severity"], finding["port"], finding["detail"], finding["evidence"],
                   finding["first_seen"], finding["last_seen"]]
            duplicate = self.db.execute(
                "SELECT 1 FROM findings WHERE device_id = ? AND scan_id IS ? AND check_name = ? AND severity IS ? "
                "AND port IS ? AND detail IS ?", row[:6]).fetchone()
            if not duplicate:
                self.db.execute(
                    "INSERT INTO findings (device_id, scan_id, check_name, severity, port, detail, evidence, "
                    "first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                summary["findings_added"] += 1

        merged = json.loads(self._meta("merged_from") or "[]")
        merged.append({"database_id": source.database_id, "path": label, "merged_at": self._now(),
                       "scans_added": summary["scans_added"]})
        self.db.execute("INSERT OR REPLACE INTO camscan_meta (key, value) VALUES ('merged_from', ?)",
                        [json.dumps(merged)])
        return summary

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM camscan_meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    # --- closing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def grouped_commits(self, interval: float = GROUP_COMMIT_SECONDS) -> Iterator[None]:
        """Commit the calls made inside together: at the first call that ends ``interval``
        seconds after the last commit, and on leaving, also when leaving on an error or
        Ctrl-C (a call that failed has undone its own part).

        For an import's devices, already at hand: one commit per device is most of the
        store's work. Nothing commits between calls, and other writers wait meanwhile, so
        a group must not wait on the network (a scan commits each host instead). A crash
        of the process loses up to ``interval`` seconds of results.
        """
        if self._group_deadline is not None:
            yield
            return
        self._group_interval = interval
        self._commit_group()
        try:
            yield
        finally:
            self._group_deadline = None
            if self.db.conn.in_transaction:
                self.db.conn.execute("COMMIT")

    def _commit_group(self) -> None:
        """Commit the group's writes so far; the next call starts the next transaction."""
        if self.db.conn.in_transaction:
            self.db.conn.execute("COMMIT")
        self.db.conn.execute("BEGIN IMMEDIATE")
        self._group_deadline = time.monotonic() + self._group_interval

    def close(self) -> None:
        """Close the database; everything recorded is already committed."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
