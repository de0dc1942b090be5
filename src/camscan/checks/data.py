"""The checks' data files in ``signatures/checks/``: stream and snapshot paths, firmware advisories."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from camscan.fingerprint.signatures import SignatureError, load_yaml, signatures_dir

GENERIC = "generic"
_VERSION = re.compile(r"(\d+(?:\.\d+){1,4})(?:[^\d]{0,12}?build[ _]?(\d{6}))?", re.IGNORECASE)


def checks_dir() -> Path:
    return signatures_dir() / "checks"


def _load(name: str) -> list[dict]:
    path = checks_dir() / name
    try:
        entries = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SignatureError(f"{path}: cannot read check data: {error}") from None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise SignatureError(f"{path}: expected a list of mappings")
    for entry in entries:
        if not entry.get("reference"):
            raise SignatureError(f"{path}: entry {entry.get('vendor') or entry.get('id')!r} lacks a reference")
    return entries


@cache
def _paths(name: str) -> dict[str, tuple[str, ...]]:
    by_vendor: dict[str, tuple[str, ...]] = {}
    for entry in _load(name):
        paths = entry.get("paths")
        if not isinstance(paths, list) or not all(isinstance(p, str) and p.startswith("/") for p in paths):
            raise SignatureError(f"{name}: {entry.get('vendor')!r} needs paths starting with '/'")
        by_vendor[str(entry["vendor"])] = tuple(paths)
    return by_vendor


def ordered_paths(name: str, vendors: list[str]) -> list[str]:
    """Paths from data file ``name``: the given vendors' first, then the generic ones, then
    (when no vendor is known) the first path of every vendor; without repeats."""
    table = _paths(name)
    ordered = [path for vendor in vendors for path in table.get(vendor, ())]
    ordered += table.get(GENERIC, ())
    if not any(vendor in table for vendor in vendors):
        ordered += [paths[0] for vendor, paths in table.items() if vendor != GENERIC and paths]
    return list(dict.fromkeys(ordered))


def rtsp_paths(vendors: list[str]) -> list[str]:
    return ordered_paths("rtsp_paths.yaml", vendors)


def snapshot_paths(vendors: list[str]) -> list[str]:
    return ordered_paths("snapshot_paths.yaml", vendors)


def parse_version(text: str) -> tuple[tuple[int, ...], int | None] | None:
    """``V5.4.0 build 160530`` -> ((5, 4, 0), 160530); ``V5.5.0`` -> ((5, 5, 0), None); None if no version."""
    match = _VERSION.search(text or "")
    if match is None:
        return None
    numbers = tuple(int(part) for part in match.group(1).split("."))
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers = numbers[:-1]  # 5.4.0 == 5.4
    return numbers, int(match.group(2)) if match.group(2) else None


def version_at_most(version: tuple[tuple[int, ...], int | None], bound: tuple[tuple[int, ...], int | None]) -> bool:
    """version <= bound; build dates decide only between equal versions when both have one."""
    if version[0] != bound[0]:
        return version[0] < bound[0]
    return version[1] is None or bound[1] is None or version[1] <= bound[1]


@dataclass(frozen=True)
class AffectedRange:
    model: re.Pattern | None
    first: tuple[tuple[int, ...], int | None]
    last: tuple[tuple[int, ...], int | None]
    first_text: str
    last_text: str


@dataclass(frozen=True)
class Advisory:
    id: str
    vendor: str
    severity: str
    title: str
    reference: str
    affected: tuple[AffectedRange, ...]

    def affected_range(self, model: str | None, firmware: str) -> AffectedRange | None:
        """The range of this advisory the model and firmware fall in, or None."""
        version = parse_version(firmware)
        if version is None:
            return None
        for entry in self.affected:
            if entry.model is not None and not (model and entry.model.search(model)):
                continue
            if version_at_most(entry.first, version) and version_at_most(version, entry.last):
                return entry
        return None


def _bound(text: object, where: str) -> tuple[tuple[int, ...], int | None]:
    parsed = parse_version(str(text))
    if parsed is None:
        raise SignatureError(f"advisories.yaml: {where}: {text!r} is not a version")
    return parsed


@cache
def advisories() -> tuple[Advisory, ...]:
    found = []
    for entry in _load("advisories.yaml"):
        ident = str(entry.get("id"))
        ranges = []
        for item in entry.get("affected") or []:
            model = item.get("model")
            ranges.append(AffectedRange(
                model=re.compile(model) if model else None,
                first=_bound(item.get("first_affected"), ident),
                last=_bound(item.get("last_affected"), ident),
                first_text=str(item["first_affected"]),
                last_text=str(item["last_affected"]),
            ))
        if not ranges:
            raise SignatureError(f"advisories.yaml: {ident} lists no affected range")
        found.append(Advisory(ident, str(entry["vendor"]), str(entry["severity"]), str(entry["title"]),
                              str(entry["reference"]), tuple(ranges)))
    return tuple(found)


@dataclass(frozen=True)
class DefaultLogin:
    """Where and with what a maker's factory login is tried."""

    vendor: str
    path: str
    credentials: tuple[tuple[str, str], ...]


@cache
def default_logins() -> dict[str, DefaultLogin]:
    found = {}
    for entry in _load("default_credentials.yaml"):
        vendor, path = str(entry.get("vendor")), entry.get("path")
        pairs = entry.get("credentials") or []
        if not isinstance(path, str) or not path.startswith("/") or not pairs:
            raise SignatureError(f"default_credentials.yaml: {vendor} needs a path and credentials")
        found[vendor] = DefaultLogin(vendor, path, tuple((str(c["user"]), str(c["password"])) for c in pairs))
    return found


def load_all() -> None:
    """Read and check every data file now, so a broken one stops a scan before it starts."""
    rtsp_paths([])
    snapshot_paths([])
    advisories()
    default_logins()
