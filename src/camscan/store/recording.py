"""Recording a scan: its start, heartbeat and end, its devices with their services, evidence,
sightings and findings, its raw observations, and identifications recomputed later."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlite_utils import Database

from camscan.model import ChannelDevice, Device, Evidence, Finding, Identification, Observation
from camscan.store.common import (
    CHANNEL_FIELDS,
    IDENTITY_FIELDS,
    SCAN_STATUSES,
    StoreError,
    inserted_id,
    iso_second,
    normalize_mac,
)
from camscan.store.database import StoreFile, database_errors
from camscan.store.identity import DeviceKey, find_device

# What a later sighting of a service changes: a newer one (by last_seen) sets the protocol where it
# knows one and the banner where it has one; first and last sightings widen. A scan's own is newer.
_NEWER = "excluded.last_seen >= last_seen"
_UPSERT_SERVICE = (
    "INSERT INTO services (device_id, port, transport, protocol, banner, first_seen, last_seen, last_scan_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, port, transport) DO UPDATE SET "
    "first_seen = min(first_seen, excluded.first_seen), "
    f"protocol = CASE WHEN {_NEWER} THEN coalesce(excluded.protocol, protocol) ELSE protocol END, "
    f"banner = CASE WHEN {_NEWER} AND excluded.banner <> '' THEN excluded.banner ELSE banner END, "
    f"last_scan_id = CASE WHEN {_NEWER} THEN excluded.last_scan_id ELSE last_scan_id END, "
    "last_seen = max(last_seen, excluded.last_seen)"
)


def upsert_services(db: Database, rows: Iterable[tuple]) -> None:
    """Insert or update services: rows of (device_id, port, transport, protocol or None, banner,
    first_seen, last_seen, last_scan_id); the one write of the services table."""
    db.conn.executemany(_UPSERT_SERVICE, list(rows))



def insert_observations(db: Database, rows: Iterable[tuple]) -> None:
    """Insert observations, duplicates ignored: rows of (device_id, scan_id, ip, source, field, value,
    port, transport, observed_at); a row without a device id gets the device its scan recorded at
    its address, if any. The one write of new observations."""
    db.conn.executemany(
        "INSERT OR IGNORE INTO observations (device_id, scan_id, ip, source, field, value, port, transport, "
        "observed_at) VALUES (coalesce(?1, (SELECT device_id FROM sightings WHERE scan_id = ?2 AND ip = ?3)), "
        "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        list(rows),
    )


def replace_evidence(db: Database, device_id: int, rows: Iterable[tuple]) -> None:
    """Make a device's evidence these rows of (scan_id, source, field, value, signature, weight,
    port, sets as JSON); the one write of the evidence table."""
    db.execute("DELETE FROM evidence WHERE device_id = ?", [device_id])
    db.conn.executemany(
        "INSERT INTO evidence (device_id, scan_id, source, field, value, signature, weight, port, sets) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(device_id, *row) for row in rows],
    )


class ScanRecording(StoreFile):
    """Writing scans and what they found."""

    @database_errors
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

    @database_errors
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


    @database_errors
    def record_abandoned_scans(self) -> list[int]:
        """Record as interrupted the scans whose process is gone (the next writer does this;
        a read only shows them so). Returns their ids."""
        with self._writing():
            abandoned = self._abandoned_scans()
            for scan_id, last_heard in sorted(abandoned.items()):
                self.finish_scan(scan_id, "interrupted", finished_at=last_heard)
        return sorted(abandoned)


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
                iso_second(int(o.observed_at)) if o.observed_at else now,
            )
            for o in observations
        )
        insert_observations(self.db, rows)

    @database_errors
    def record_observations(self, scan_id: int, observations: Iterable[Observation]) -> None:
        """Store raw observations of a scan (duplicates ignored); committed on return."""
        with self._writing():
            self._require_scan(scan_id)
            self._insert_observations(scan_id, observations)


    @staticmethod
    def _identifies(identification: Identification) -> bool:
        return any(getattr(identification, name) for name in IDENTITY_FIELDS) or bool(identification.evidence)

    @database_errors
    def record_device(self, scan_id: int, device: Device) -> int:
        """Insert or update a device with its services, evidence and this scan's sighting.

        Identity (see :func:`find_device`): the same MAC is the same device (its ip and site
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
            existing, mac_is_its_own = find_device(self.db, DeviceKey(device.ip, mac, device.mac_seen, site, scan_id))
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

            upsert_services(self.db, [(device_id, service.port, service.transport, service.protocol or None,
                                        service.banner, now, now, scan_id) for service in device.services])

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

    @database_errors
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
                present, _ = find_device(self.db, DeviceKey(None, attached_to=recorder_id,
                                                            channel=item.channel.number))
                if present and present["ip"] is not None and present["id"] != item.same_as:
                    # a swept device that was this channel and is no longer known to be: only unlinked
                    self._update_device(present["id"], dict.fromkeys(CHANNEL_FIELDS))
                    present = None
                if item.same_as is not None:
                    if present and present["id"] != item.same_as:
                        self.db.execute("DELETE FROM devices WHERE id = ?", [present["id"]])
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
                        device_id = present["id"]
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
        replace_evidence(self.db, device_id, (
            (scan_id, e.source, e.field, e.value, e.signature, e.weight, e.port, json.dumps(dict(e.sets), sort_keys=True))
            for e in evidence))

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

    @database_errors
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

    @database_errors
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


    @database_errors
    def update_identification(self, device_id: int, identification: Identification, scan_id: int | None) -> None:
        """Replace a device's identification and evidence (``scan_id``: whose observations it came from)."""
        values = self._identity_values(identification)
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._writing():
            self.db.execute(f"UPDATE devices SET {assignments} WHERE id = ?", [*values.values(), device_id])
            self._replace_evidence(device_id, scan_id, identification.evidence)


    @database_errors
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
