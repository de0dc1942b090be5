"""The portable scan result: one scan of a camscan database as a versioned JSON document.

A document holds the scan's row and, for every table that hangs off a scan, the rows that
belong to it: the devices it sighted (their current row), their services and evidence, and
the scan's observations, sightings and findings. Rows carry every column the database
has, read generically, so a column a later migration adds travels without a change here.
Inside a document a row names its device by the device's id in the exporting database and
its scan by the scan's UUID (a scan the document does not hold becomes null).

Importing writes the document into a scratch database of the same schema and merges that
(``Store.merge_store``, the code ``camscan merge`` runs), so the two never differ in how
devices are matched; the scan's UUID makes a second import of the same scan add nothing.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from camscan.errors import UserError
from camscan.store import Store, StoreError, inserted_id

FORMAT = "camscan-scan"
# Raised when a document's meaning changes; an importer refuses a version it does not know.
FORMAT_VERSION = 1
# Each table of a document: which rows belong to the scan (SQL over the table, ``?`` the scan id),
# in the order an import writes them (a row's device comes before it).
SCAN_TABLES = {
    "devices": "id IN (SELECT device_id FROM sightings WHERE scan_id = ?)",
    "services": "device_id IN (SELECT device_id FROM sightings WHERE scan_id = ?)",
    "evidence": "device_id IN (SELECT device_id FROM sightings WHERE scan_id = ?)",
    "observations": "scan_id = ?",
    "sightings": "scan_id = ?",
    "findings": "scan_id = ?",
}
SCALARS = (str, int, float, type(None))


class DocumentError(UserError, ValueError):
    """A file or message is not a portable scan result this camscan can import."""


def _scan_reference(column: str) -> bool:
    """Whether a column names a scan by id (``scan_id``, ``first_scan_id``, ``last_scan_id`` ...)."""
    return column == "scan_id" or column.endswith("_scan_id")


def build_document(store: Store, scan_id: int) -> dict:
    """The portable result of scan ``scan_id`` of ``store`` (StoreError if there is none)."""
    db = store.db
    scan = next(db.query("SELECT * FROM scans WHERE id = ?", [scan_id]), None)
    if scan is None:
        raise StoreError(f"there is no scan {scan_id} in {store.path}; `camscan scans` lists them")
    scan_uuid = scan["uuid"]

    def portable(row: dict) -> dict:
        return {column: (scan_uuid if value == scan_id else None) if _scan_reference(column) else value
                for column, value in row.items()}

    tables = {"scans": [{column: value for column, value in scan.items() if column != "id"}]}
    for table, belongs in SCAN_TABLES.items():
        tables[table] = [portable(row) for row in db.query(f"SELECT * FROM {table} WHERE {belongs} ORDER BY id",
                                                           [scan_id])]
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "scan_uuid": scan_uuid,
        "site": scan["site"],
        "exported_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tables": tables,
    }


def dumps(document: dict) -> str:
    """The document as JSON text (keys sorted, so equal documents are equal text)."""
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def parse_document(text: str | bytes) -> dict:
    """A portable scan result read from JSON text, its shape checked (it is untrusted input)."""
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DocumentError(f"not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise DocumentError(f"not a portable camscan scan (its \"format\" is not {FORMAT!r})")
    if document.get("version") != FORMAT_VERSION:
        raise DocumentError(f"portable scan version {document.get('version')!r}: this camscan reads version "
                            f"{FORMAT_VERSION}; upgrade camscan")
    tables = document.get("tables")
    if not isinstance(tables, dict) or not isinstance(tables.get("scans"), list) or len(tables["scans"]) != 1:
        raise DocumentError("a portable scan holds exactly one scan")
    for table, rows in tables.items():
        if table != "scans" and table not in SCAN_TABLES:
            raise DocumentError(f"unknown table {table!r}")
        if not isinstance(rows, list) or not all(
                isinstance(row, dict) and all(isinstance(key, str) and isinstance(value, SCALARS)
                                              for key, value in row.items()) for row in rows):
            raise DocumentError(f"table {table!r} must be a list of rows of plain values")
    scan_uuid = tables["scans"][0].get("uuid")
    if not isinstance(scan_uuid, str) or scan_uuid != document.get("scan_uuid"):
        raise DocumentError("the scan's uuid is missing or differs from the document's scan_uuid")
    return document


def _write_scratch(scratch: Store, document: dict) -> None:
    """Write a document's rows into an empty database: its scan, and its rows with their own ids."""
    db = scratch.db
    scan_uuid = document["scan_uuid"]

    def insert(table: str, row: dict) -> int:
        known = db[table].columns_dict  # only this schema's columns: a document names no SQL
        values = {column: value for column, value in row.items() if column in known}
        cursor = db.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                            list(values.values()))
        return inserted_id(cursor)

    with scratch.db.conn:
        scan_id = insert("scans", {column: value for column, value in document["tables"]["scans"][0].items()
                                   if column != "id"})
        for table in SCAN_TABLES:
            for row in document["tables"].get(table, []):
                insert(table, {column: (scan_id if value == scan_uuid else None) if _scan_reference(column) else value
                               for column, value in row.items()})


def import_document(store: Store, document: dict, label: str) -> dict:
    """Add a parsed portable scan to ``store`` (nothing if its scan is already there); the merge counts."""
    with tempfile.TemporaryDirectory(prefix="camscan-import-") as directory:
        with Store(Path(directory) / "scan.db") as scratch:
            try:
                _write_scratch(scratch, document)
            except Exception as error:  # sqlite3 errors: a row that breaks the schema's rules
                raise DocumentError(f"{label}: rows that do not fit a camscan database: {error}") from None
            return store.merge_store(scratch, label)


def load_document_file(path: str | Path) -> dict:
    """A portable scan read from a file."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise DocumentError(f"cannot read {path}: {error.strerror}") from None
    try:
        return parse_document(text)
    except DocumentError as error:
        raise DocumentError(f"{path}: {error}") from None


def find_scan(store: Store, scan_uuid: str) -> dict | None:
    """The id and status in ``store`` of the scan with this UUID, if there is one."""
    return next(store.db.query("SELECT id, status FROM scans WHERE uuid = ?", [scan_uuid]), None)
