"""Recomputing stored identifications from stored observations with the current signatures.

No packet is sent: every device's observations are in the store. A device is identified
from its latest scan's observations; when those name nothing (a port-only re-scan), from
the scan before, as a live scan keeps the previous identification.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from camscan.channels.runner import identify_channel
from camscan.fingerprint.attribution import attribute
from camscan.fingerprint.identify import Identifier
from camscan.model import Evidence, Identification
from camscan.store import CHANGE_FIELDS, IDENTITY_FIELDS, Store


@dataclass
class Reidentified:
    """One device whose identification changed: each changed field as (old, new)."""

    device_id: int
    ip: str
    mac: str | None
    changes: dict[str, tuple] = field(default_factory=dict)


def _names_something(identification: Identification) -> bool:
    return any(getattr(identification, name) for name in IDENTITY_FIELDS) or bool(identification.evidence)


def reidentify(store: Store, identifier: Identifier | None = None, dry_run: bool = False) -> tuple[int, list[Reidentified]]:
    """Re-identify every device; returns (devices examined, the ones that changed)."""
    identifier = identifier or Identifier()
    changed: list[Reidentified] = []
    examined = 0
    current = {device["id"]: device for device in store.devices()}
    recorders = {device["ip"]: device for device in current.values() if device["attached_to"] is None}
    for device_id in store.device_ids():
        examined += 1
        result, scan_id = None, None
        recorder = recorders.get(current[device_id]["attached_to"]) if current[device_id]["ip"] is None else None
        behind = Identification(vendor=recorder["vendor"], manufacturer=recorder["manufacturer"],
                                model=recorder["model"], firmware=recorder["firmware"], ndaa_889=recorder["ndaa_889"],
                                ndaa_basis=recorder["ndaa_basis"]) if recorder else None
        for scan_id, observations in store.device_observations(device_id):
            result = identifier.identify(observations) if behind is None else identify_channel(
                identifier, observations, behind, current[device_id]["connection"])
            if _names_something(result):
                break
        if result is None or not _names_something(result):
            continue  # nothing stored says anything: keep what is recorded
        before = current[device_id]
        after = {**{name: getattr(result, name) for name in IDENTITY_FIELDS}, "ndaa_889": result.ndaa_889}
        changes = {name: (before[name], after[name]) for name in CHANGE_FIELDS
                   if name in after and before[name] != after[name]}
        if before.get("is_camera") != result.is_camera:
            changes["is_camera"] = (before.get("is_camera"), result.is_camera)
        if changes:
            changed.append(Reidentified(device_id, before["ip"], before["mac"], changes))
        if not dry_run:
            store.update_identification(device_id, result, scan_id)
    return examined, changed


def attribute_missing(store: Store, identifier: Identifier | None = None) -> int:
    """Fill NDAA s.889 attribution on rows stored before camscan recorded it; returns rows filled."""
    catalogue = (identifier or Identifier()).catalogue

    def decide(vendor: str | None, manufacturer: str | None, evidence: list[Evidence]) -> tuple[bool | None, str]:
        attribution = attribute(vendor, manufacturer, evidence, catalogue)
        return attribution.ndaa_889, attribution.basis

    return store.fill_attribution(decide)
