"""The one rule that says which recorded device a scan's, an import's or a merge's device is."""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

_LATEST = "SELECT * FROM devices WHERE {} ORDER BY last_seen DESC, id DESC LIMIT 1"
_AT_SITE = "ip = ? AND (site IS ? OR ? IS NULL)"


@dataclass(frozen=True)
class DeviceKey:
    """What is known of a device to find its record by.

    ``scan_id`` is the scan it was seen in; a camera behind a recorder without an address of
    its own is its recorder's device id (``attached_to``) and ``channel`` number.
    """

    ip: str | None
    mac: str | None = None
    mac_seen: bool = False
    site: str | None = None
    scan_id: int | None = None
    attached_to: int | None = None
    channel: int | None = None


def find_device(db: Database, key: DeviceKey) -> tuple[dict | None, bool]:
    """The recorded device ``key`` is (None for a new one), and whether ``key.mac`` is that device's.

    A channel without an address is found by its recorder and channel number. A MAC seen on
    the wire (``mac_seen``: ARP, the kernel's ARP table) is the device's: its holder has
    moved here, unless the holder only claimed it at another address in this same scan,
    which then loses it (this function clears it). A MAC the device only claims (SADP, DHIP,
    mDNS) moves no device the wire placed elsewhere, nor one that claimed it at another
    address in this scan: the two stay two devices, this one without the MAC. Without a MAC
    that decides, the address does, at the same site (a device without a site matches an
    address at any site): a MAC-less record first, else whoever is there now.
    """
    if key.ip is None and key.attached_to is not None:
        channel = next(db.query("SELECT * FROM devices WHERE attached_to = ? AND channel = ?",
                                [key.attached_to, key.channel]), None)
        return channel, False
    mac = key.mac
    holder = next(db.query(_LATEST.format("mac = ?"), [mac]), None) if mac else None
    if holder is not None:
        if holder["ip"] == key.ip:
            return holder, True
        claimed_elsewhere_now = not holder["mac_seen"] and holder["last_scan_id"] == key.scan_id
        if key.mac_seen and claimed_elsewhere_now:
            db.execute("UPDATE devices SET mac = NULL, mac_seen = NULL WHERE id = ?", [holder["id"]])
        elif key.mac_seen or not (holder["mac_seen"] or holder["last_scan_id"] == key.scan_id):
            return holder, True  # the device moved
        else:
            mac = None  # the wire, or another address in this scan, holds this MAC
    # a MAC that decides adopts a MAC-less record at this address; else the address decides
    for where in (f"{_AT_SITE} AND mac IS NULL", *(() if mac else (_AT_SITE,))):
        row = next(db.query(_LATEST.format(where), [key.ip, key.site, key.site]), None)
        if row:
            return row, mac is not None
    return None, mac is not None
