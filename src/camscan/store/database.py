"""The database file: opening and checking it, bringing its schema up to date, transactions,
grouped commits, and whether a recorded scan's process still runs."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Self

from sqlite_utils import Database

from camscan.private_files import create_private
from camscan.store import schema
from camscan.store.common import (
    APPLICATION_ID,
    BUSY_TIMEOUT_SECONDS,
    GROUP_COMMIT_SECONDS,
    SQLITE_HEADER,
    STALE_SECONDS,
    StoreError,
    installed_version,
    iso,
    process_exists,
    utc_now,
)


def database_errors(method):
    """Turn SQLite failures during use (locked, disk full, damaged) into a StoreError."""

    @functools.wraps(method)
    def wrapper(self: StoreFile, *args, **kwargs):
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


def copy_database(source: Path, copy: Path) -> None:
    """Copy a database file (and what its write-ahead log holds) to ``copy``, reading it read-only."""
    try:
        origin = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            with sqlite3.connect(copy) as target:
                origin.backup(target)
            target.close()
        finally:
            origin.close()
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot read {source}: {error}") from None


class StoreFile:
    """An open camscan database file; the parts of :class:`camscan.store.Store` build on it."""


    def __init__(self, path: str | os.PathLike, clock: Callable[[], datetime] | None = None,
                 read_only: bool = False) -> None:
        """Open ``path`` or create it (and its parent directory).

        Raises StoreError, leaving the file untouched, if it is not SQLite, is damaged,
        belongs to another application, or has a newer schema than this camscan knows.
        ``clock`` returns the current time (timezone-aware); tests pass a fixed one.
        ``read_only`` opens an existing, up-to-date database so that nothing can write to it.
        """
        self.path = Path(path)
        self._clock = clock or utc_now
        self._group_deadline: float | None = None  # inside grouped_commits: when to commit next
        self._group_interval = 0.0
        self._camscan_version = installed_version()
        self._scratch: tempfile.TemporaryDirectory | None = None  # the private copy a reader reads, if any
        version = self._inspect(self.path)
        if read_only and version != schema.SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, not {schema.SCHEMA_VERSION}: "
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

    @classmethod
    def open_read_only(cls, path: str | os.PathLike, stale: Callable[[Self], bool] | None = None,
                       refresh: Callable[[Self], object] | None = None,
                       clock: Callable[[], datetime] | None = None) -> Self:
        """Open an existing database so that nothing can write to it: its file keeps its bytes.

        A file of an older schema, or one ``stale`` says lacks what a writer would add (given
        the open file), is read through a private copy brought up to date (``refresh`` is
        called on the copy, open for writing); the copy goes when the store is closed.
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no such camscan database")
        if cls._inspect(path) == schema.SCHEMA_VERSION:
            store = cls(path, clock, read_only=True)
            if stale is None or not stale(store):
                return store
            store.close()
        scratch = tempfile.TemporaryDirectory(prefix="camscan-read-")
        copy = Path(scratch.name) / path.name
        try:
            copy_database(path, copy)
            with cls(copy, clock) as upgraded:
                if refresh is not None:
                    refresh(upgraded)
            store = cls(copy, clock, read_only=True)
        except BaseException:
            scratch.cleanup()
            raise
        store._scratch = scratch
        return store

    # --- opening ---------------------------------------------------------------------------

    @staticmethod
    def _inspect(path: Path) -> int:
        """The file's schema version (0: new or empty), checked without writing to it."""
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
        if user_version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer camscan (schema version {user_version}; this camscan "
                f"knows up to {schema.SCHEMA_VERSION}); upgrade camscan or pass --db with another path"
            )
        return user_version

    def _migrate(self, version: int) -> None:
        if version >= schema.SCHEMA_VERSION:
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
        for target in range(version + 1, schema.SCHEMA_VERSION + 1):
            with self._writing():
                if self.db.execute("PRAGMA user_version").fetchone()[0] >= target:
                    continue  # another process opening the file at the same time upgraded it first
                schema.MIGRATIONS[target - 1](self.db)
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
        return iso(self._clock())

    def _require_scan(self, scan_id: int) -> str | None:
        """The scan's site; StoreError when there is no such scan."""
        row = self.db.execute("SELECT site FROM scans WHERE id = ?", [scan_id]).fetchone()
        if row is None:
            raise StoreError(f"there is no scan {scan_id} in {self.path}")
        return row[0]


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
            or (row["hostname"] == this_host and row["pid"] and not process_exists(row["pid"]))
        }

    @staticmethod
    def _as_read(scan: dict, abandoned: dict[int, str]) -> dict:
        """A scan row as every read shows it: a running scan whose process is gone is interrupted."""
        if scan["id"] in abandoned:
            return {**scan, "status": "interrupted", "finished_at": abandoned[scan["id"]]}
        return scan

    @property
    def database_id(self) -> str:
        """A random id given to this database when it was created; scans keep it through merges."""
        database_id = self._meta("database_id")
        if database_id is None:
            raise StoreError(f"{self.path}: its camscan_meta table has lost the database id; restore it from a backup")
        return database_id

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
        if self._scratch is not None:
            self._scratch.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

