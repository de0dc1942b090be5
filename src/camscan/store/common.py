"""What every part of the store shares: its error, its constants and small helpers, and the
decorator that turns SQLite failures into errors a user can act on."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import sqlite3
from datetime import datetime, timezone
from importlib import metadata

from camscan.errors import UserError
from camscan.model import canonical_mac

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


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=1024)
def iso_second(timestamp: int) -> str:
    """``iso`` of a Unix time in whole seconds (a scan's observations share a few seconds)."""
    return iso(datetime.fromtimestamp(timestamp, timezone.utc))


def process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def finding_status(row: dict) -> str:
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


def looks_like_mac(text: str) -> bool:
    return bool(_MAC_PATTERN.fullmatch(text.strip()))


def ip_sort_key(ip: str | None) -> tuple:
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return (9, 0, ip or "")
    return (address.version, int(address), "")


def installed_version() -> str:
    try:
        return metadata.version("camscan")
    except metadata.PackageNotFoundError:
        return "unknown"
