"""A database's history: sightings and the diff of two scans, and merging another camscan
database (or a portable scan result) into this one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from camscan.store.common import ANY_SITE, CHANGE_FIELDS, MERGE_KEEPS, StoreError, inserted_id, ip_sort_key
from camscan.store.database import StoreFile, database_errors
from camscan.store.identity import DeviceKey, find_device
from camscan.store.recording import insert_observations, replace_evidence, upsert_services


class History(StoreFile):
    """Reading a database's past and merging others into it."""

    # --- history ---------------------------------------------------------------------------

    def _scan_or_error(self, scan_id: int) -> dict:
        row = next(self.db.query("SELECT * FROM scans WHERE id = ?", [scan_id]), None)
        if row is None:
            raise StoreError(f"there is no scan {scan_id} in {self.path}; `camscan scans` lists them")
        return self._as_read(row, self._abandoned_scans())

    @database_errors
    def latest_scan_pair(self, site: str | None | object = ANY_SITE) -> tuple[int, int] | None:
        """The two most recent complete scans (of ``site``, None meaning scans without one), older first."""
        where, params = "status = 'complete'", []
        if site is not ANY_SITE:
            where += " AND site IS ?"
            params.append(site)
        ids = [row[0] for row in self.db.execute(f"SELECT id FROM scans WHERE {where} ORDER BY id DESC LIMIT 2", params)]
        return (ids[1], ids[0]) if len(ids) == 2 else None

    @database_errors
    def sightings(self, scan_id: int) -> list[dict]:
        """What each device seen in a scan was identified as then, by ip."""
        self._scan_or_error(scan_id)
        rows = list(self.db.query(
            "SELECT s.*, scans.site FROM sightings s JOIN scans ON scans.id = s.scan_id WHERE s.scan_id = ?", [scan_id]
        ))
        for row in rows:
            row["ndaa_889"] = None if row["ndaa_889"] is None else bool(row["ndaa_889"])
            row["is_camera"] = bool(row["is_camera"])
        rows.sort(key=lambda row: (ip_sort_key(row["ip"]), row["device_id"]))
        return rows

    @database_errors
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
            return sorted(rows, key=lambda row: (ip_sort_key(row["ip"] or row["attached_to"]), row["channel"] or 0,
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


    # --- merging ---------------------------------------------------------------------------

    @database_errors
    def merge_from(self, source_path: str | os.PathLike) -> dict:
        """Add another camscan database's scans, devices and their history to this one.

        Devices are matched as a scan matches them (:func:`find_device`). Scans are
        known by their origin, so merging the same file twice adds nothing. The source is
        only read (through an upgraded private copy if it is older). Returns counts.
        """
        source_path = Path(source_path)
        if not source_path.is_file():
            raise StoreError(f"{source_path}: no such camscan database")
        if source_path.resolve() == self.path.resolve():
            raise StoreError(f"{source_path} is the output database itself; name another -o file")
        with type(self).open_read_only(source_path, clock=self._clock) as source:
            return self.merge_store(source, str(source_path))

    @database_errors
    def merge_store(self, source: StoreFile, label: str) -> dict:
        """Add the scans, devices and history of another open camscan database, all or nothing
        (see ``merge_from``; ``camscan.portable`` imports a scan through it); returns counts."""
        with self._writing():
            return self._merge(source, label)

    def _merge(self, source: StoreFile, label: str) -> dict:
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
            existing, mac_is_its_own = find_device(self.db, DeviceKey(
                device["ip"], device["mac"], bool(device["mac_seen"]), device["site"], mapped["last_scan_id"],
                mapped["attached_to"], device["channel"]))
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
                # as a scan does: the newer sighting of the device's own MAC says whether the wire saw it
                if values["mac"] != existing["mac"] or (source_is_newer and mapped["mac"] == existing["mac"]):
                    values["mac_seen"] = mapped["mac_seen"]
                if device["first_seen"] < existing["first_seen"]:
                    values.update(first_seen=device["first_seen"], first_scan_id=mapped["first_scan_id"])
                if source_is_newer:  # every column but identity and first sighting, so new columns follow too
                    values.update({name: mapped[name] for name in device_columns if name not in MERGE_KEEPS})
                assignments = ", ".join(f"{name} = ?" for name in values)
                self.db.execute(f"UPDATE devices SET {assignments} WHERE id = ?", [*values.values(), target_id])
            device_map[device["id"]] = target_id
            if source_is_newer:
                replace_evidence(self.db, target_id, (
                    (scan_map.get(item["scan_id"]), item["source"], item["field"], item["value"], item["signature"],
                     item["weight"], item["port"], item["sets"])
                    for item in src.query("SELECT * FROM evidence WHERE device_id = ? ORDER BY id", [device["id"]])))

        upsert_services(self.db, (
            (device_map[service["device_id"]], service["port"], service["transport"], service["protocol"],
             service["banner"], service["first_seen"], service["last_seen"], scan_map.get(service["last_scan_id"]))
            for service in src.query("SELECT * FROM services ORDER BY id")))

        for old_scan in sorted(fresh_scans):
            new_scan = scan_map[old_scan]
            before = self.db.execute("SELECT count(*) FROM observations").fetchone()[0]
            insert_observations(self.db, (
                (device_map.get(o["device_id"]), new_scan, o["ip"], o["source"], o["field"], o["value"], o["port"],
                 o["transport"], o["observed_at"])
                for o in src.query("SELECT * FROM observations WHERE scan_id = ? ORDER BY id", [old_scan])))
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

