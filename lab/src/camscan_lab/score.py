"""Scoring an exported inventory against a lab's truth (demo, tests and benchmark)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from camscan_lab.profiles import LabHost


@dataclass
class Score:
    identifiable: int = 0
    named: int = 0
    typed: int = 0
    false_cameras: int = 0
    wrong_makers: int = 0
    with_discovery_model: int = 0
    discovery_models: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of identifiable cameras/recorders whose brand or maker was named."""
        return self.named / self.identifiable if self.identifiable else 1.0

    @property
    def type_accuracy(self) -> float:
        """Share of identifiable cameras/recorders called the right kind (camera, NVR, DVR, encoder)."""
        return self.typed / self.identifiable if self.identifiable else 1.0

    @property
    def model_accuracy(self) -> float:
        """Share of cameras whose discovery replies carry a model that got it in ``model``."""
        return self.discovery_models / self.with_discovery_model if self.with_discovery_model else 1.0


def score(hosts: Sequence[LabHost], exported: Sequence[dict]) -> Score:
    """How many identifiable cameras got their maker and kind right, which hosts were named a maker
    that is not theirs, and which non-cameras were called cameras."""
    by_ip = {device["ip"]: device for device in exported}
    result = Score()
    for host in hosts:
        device = by_ip.get(host.ip, {})
        named = {device.get("vendor"), device.get("manufacturer")} - {None}
        truth = {host.truth.get("vendor"), host.truth.get("manufacturer")} - {None}
        if host.is_camera and host.identifiable:
            result.identifiable += 1
            if truth & named:
                result.named += 1
            else:
                result.problems.append(f"missed {host.ip} {host.profile}: named {sorted(named) or 'nothing'}")
            if device.get("device_type") == host.truth["device_type"]:
                result.typed += 1
            else:
                result.problems.append(f"type of {host.ip} {host.profile}: {device.get('device_type')!r}, "
                                       f"truth {host.truth['device_type']!r}")
        if host.is_camera and host.truth.get("discovery_model"):
            result.with_discovery_model += 1
            if (device.get("model") or "").lower() == host.truth["discovery_model"].lower():
                result.discovery_models += 1
            else:
                result.problems.append(
                    f"model of {host.ip} {host.profile}: {device.get('model')!r}, replies say {host.truth['discovery_model']!r}"
                )
        if named and not named & truth:
            result.wrong_makers += 1
            if not (host.is_camera and host.identifiable):  # else already listed as missed
                result.problems.append(f"wrong maker {host.ip} {host.profile}: named {sorted(named)}, "
                                       f"truth {sorted(truth) or 'no maker'}")
        if not host.is_camera and device.get("is_camera"):
            result.false_cameras += 1
            result.problems.append(f"false camera {host.ip} {host.profile}: {device.get('vendor')} {device.get('device_type')}")
    return result


TIMESTAMPS = ("first_seen", "last_seen")


def without_timestamps(value):
    """An exported inventory with its first/last-seen times removed: two runs that saw the same
    things (a live scan and its replay, say) compare equal."""
    if isinstance(value, dict):
        return {key: without_timestamps(item) for key, item in value.items() if key not in TIMESTAMPS}
    if isinstance(value, list):
        return [without_timestamps(item) for item in value]
    return value


OBSERVATION_FIELDS = ("ip", "source", "field", "value", "port", "transport")


def stored_observations(db: Path) -> list[dict]:
    """Every raw observation a camscan database holds (field, value, port, source, by address),
    without its scan, device or time, in a fixed order: two runs that observed the same facts
    (a live scan and its replay, say) compare equal."""
    columns = ", ".join(OBSERVATION_FIELDS)
    with closing(sqlite_utils.Database(db)) as database:
        return list(database.query(f"SELECT {columns} FROM observations ORDER BY {columns}"))
