"""Reading the inventory: scans, devices in their export shape, one device with its
observations, findings, and what recomputing identifications reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from camscan.model import Observation
from camscan.store.common import (
    IDENTITY_FIELDS,
    RESOLVED_IN_SCAN,
    finding_status,
    ip_sort_key,
    looks_like_mac,
    normalize_mac,
)
from camscan.store.database import StoreFile, database_errors


class InventoryQueries(StoreFile):
    """Reading scans, devices and findings."""

    @database_errors
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
            row["status"] = finding_status(row)
            if self.display_names:
                row["vendor_name"] = self.display_names(row["vendor"], None)["vendor_name"]
        rows.sort(key=lambda r: (rank.get(r["severity"], 9), ip_sort_key(r["ip"]), r["port"] or -1, r["check"]))
        return rows


    # --- reading ---------------------------------------------------------------------------

    @database_errors
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
                    item["status"] = finding_status(item)
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
                return (ip_sort_key(device["ip"]), device["id"], -1, 0)
            recorder_row = by_id.get(recorder) or {"ip": recorder_ips.get(recorder)}
            return (ip_sort_key(recorder_row["ip"]), recorder, device["channel"] or 0, device["id"])

        keys = {device["id"]: place(device) for device in exported}
        exported.sort(key=lambda d: keys[d["id"]])
        return exported

    @database_errors
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

    @database_errors
    def device(self, ip_or_mac: str) -> dict | None:
        """One device by MAC or ip (the latest seen there), with all its observations, latest scan first."""
        text = ip_or_mac.strip()
        if looks_like_mac(text):
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


    @database_errors
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

    @database_errors
    def device_ids(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT id FROM devices ORDER BY id")]


    @database_errors
    def unattributed_count(self) -> int:
        """Devices and sightings without NDAA s.889 attribution (recorded before camscan kept it)."""
        return sum(self.db.execute(f"SELECT count(*) FROM {table} WHERE ndaa_basis IS NULL").fetchone()[0]
                   for table in ("devices", "sightings"))

