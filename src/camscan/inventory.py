"""Opening the inventory (camscan's database) as a command needs it: for writing, or only for
reading with its file left as it was."""

from __future__ import annotations

import os

from camscan.errors import UserError
from camscan.store import Store


def open_inventory(path: str | os.PathLike, create: bool = False, write: bool = False) -> Store:
    """The inventory at ``path``; only a scan (or a merge, or an import) may ``create`` a new one.

    A command that writes (``write`` or ``create``) brings a file from an older camscan up to
    date (its schema, and NDAA s.889 attribution computed from stored identification and
    evidence) and records the scans whose process is gone as interrupted. Any other reads the
    file read-only and never changes it: an older file is read through an upgraded private copy.
    """
    from camscan.fingerprint.vendors import default_catalogue
    from camscan.reidentify import attribute_missing

    if not create and not os.path.exists(path):
        raise UserError(f"no camscan database at {path}: run `camscan scan` first, or pass --db")
    if create or write:
        store = Store(path)
        if store.unattributed_count():
            attribute_missing(store)
        store.record_abandoned_scans()
    else:
        store = Store.open_read_only(path, stale=lambda reader: reader.unattributed_count() > 0,
                                     refresh=attribute_missing)
    store.display_names = default_catalogue().display_fields
    return store
