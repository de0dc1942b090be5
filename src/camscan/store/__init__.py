"""The camscan database: the only SQL in camscan, in parts by responsibility.

One SQLite file (WAL mode) through sqlite-utils; every public call is one short
transaction, committed before it returns, so an interrupted (even killed) scan keeps
everything already recorded, and a second writer waits its turn. Inside
:meth:`Store.grouped_commits` (an import's devices) the calls are still all-or-nothing
each, but are committed together every fraction of a second and when the group ends. A
running scan beats its heartbeat; one whose heartbeat stopped reads as ``interrupted``.

- :mod:`~camscan.store.schema`: the schema and its migrations;
- :mod:`~camscan.store.database`: opening the file, transactions, scans' liveness;
- :mod:`~camscan.store.identity`: which recorded device a sighting is (one rule for scans,
  imports and merges);
- :mod:`~camscan.store.recording`: recording a scan;
- :mod:`~camscan.store.queries`: reading the inventory and exporting it;
- :mod:`~camscan.store.history`: sightings, diff and merge.
"""

from camscan.store.common import (
    ANY_SITE,
    APPLICATION_ID,
    CHANGE_FIELDS,
    HEARTBEAT_SECONDS,
    IDENTITY_FIELDS,
    STALE_SECONDS,
    StoreError,
    inserted_id,
    normalize_mac,
)
from camscan.store.history import History
from camscan.store.identity import DeviceKey, find_device
from camscan.store.queries import InventoryQueries
from camscan.store.recording import ScanRecording
from camscan.store.schema import _SCHEMA_V1, MIGRATIONS, SCHEMA_VERSION


class Store(ScanRecording, InventoryQueries, History):
    """A camscan database file: scans, devices, services, observations and their history."""


__all__ = [
    "ANY_SITE",
    "APPLICATION_ID",
    "CHANGE_FIELDS",
    "HEARTBEAT_SECONDS",
    "IDENTITY_FIELDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STALE_SECONDS",
    "_SCHEMA_V1",
    "DeviceKey",
    "Store",
    "StoreError",
    "find_device",
    "inserted_id",
    "normalize_mac",
]
