"""Device profiles and lab generation: which devices a lab holds, where, and what they are.

A profile (``profiles.yaml``) says what one kind of device speaks on the wire and what a
scanner should conclude about it (``truth``).  :func:`generate_lab` turns a seed into a
deterministic list of :class:`LabHost` — address, MAC, profile and truth — that the
loopback and namespace tiers then bring to life.
"""

from __future__ import annotations

import ipaddress
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

try:  # keep the lab's notion of "camera" in step with the scanner's
    from camscan.model import CAMERA_DEVICE_TYPES
except Exception:  # pragma: no cover - the lab also works on its own
    CAMERA_DEVICE_TYPES = frozenset({"ip-camera", "dvr", "nvr", "video-encoder"})

PROFILES_PATH = Path(__file__).with_name("profiles.yaml")
KINDS = frozenset({"http", "https", "rtsp", "banner", "silent"})
CAMERA_FRACTION = 0.75

_OUI_RE = re.compile(r"^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$")
_SERIAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


class ProfileError(ValueError):
    """profiles.yaml (or a profile passed in) is not well formed."""


@dataclass(frozen=True)
class Profile:
    """One kind of device: its services (port -> spec), registered OUIs and truth."""

    name: str
    truth: dict[str, Any]
    oui: tuple[str, ...]
    services: dict[int, dict[str, Any]]
    notes: str = ""

    @property
    def is_camera(self) -> bool:
        return self.truth.get("device_type") in CAMERA_DEVICE_TYPES

    @property
    def identifiable(self) -> bool:
        return bool(self.truth.get("identifiable", True))


@dataclass
class LabHost:
    """One emulated device: where it is, what it runs and what it really is."""

    ip: str
    mac: str
    profile: str
    services: dict[int, dict[str, Any]]
    truth: dict[str, Any]
    serial: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ports(self) -> list[int]:
        return sorted(self.services)

    @property
    def is_camera(self) -> bool:
        return self.truth.get("device_type") in CAMERA_DEVICE_TYPES

    def context(self) -> dict[str, str]:
        """Per-host values for ``${...}`` placeholders in profile text."""
        mac_hex = self.mac.replace(":", "").upper()
        return {
            "ip": self.ip,
            "mac": self.mac.lower(),
            "MAC": mac_hex,
            "MACC": self.mac.upper(),
            "serial": self.serial,
            "serial5": self.serial[-5:],
            "model": str(self.truth.get("model") or ""),
            "firmware": str(self.truth.get("firmware") or ""),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly truth record (what the benchmark scores against)."""
        return {
            "ip": self.ip,
            "mac": self.mac,
            "profile": self.profile,
            "ports": self.ports,
            "kinds": {str(port): spec["kind"] for port, spec in sorted(self.services.items())},
            "is_camera": self.is_camera,
            "truth": dict(self.truth),
        }


# --------------------------------------------------------------------------- loading


def _check_profile(raw: Any, index: int) -> Profile:
    if not isinstance(raw, dict):
        raise ProfileError(f"profile #{index} is not a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", name):
        raise ProfileError(f"profile #{index}: name must be a lowercase slug, got {name!r}")
    truth = raw.get("truth")
    if not isinstance(truth, dict):
        raise ProfileError(f"{name}: truth must be a mapping")
    for key in ("vendor", "manufacturer", "device_type", "model", "firmware"):
        if key not in truth:
            raise ProfileError(f"{name}: truth lacks {key!r}")
    if not isinstance(truth["device_type"], str):
        raise ProfileError(f"{name}: truth.device_type must be a string")
    truth = {**truth, "identifiable": bool(truth.get("identifiable", True))}
    oui = raw.get("oui") or []
    if not isinstance(oui, list):
        raise ProfileError(f"{name}: oui must be a list")
    ouis = tuple(str(o).lower() for o in oui)
    for o in ouis:
        if not _OUI_RE.match(o):
            raise ProfileError(f"{name}: bad OUI {o!r} (want 'aa:bb:cc')")
        if int(o[:2], 16) & 0x03:
            raise ProfileError(f"{name}: OUI {o} is multicast or locally administered")
    services_raw = raw.get("services") or {}
    if not isinstance(services_raw, dict) or not services_raw:
        raise ProfileError(f"{name}: services must be a non-empty mapping")
    services: dict[int, dict[str, Any]] = {}
    for port, spec in services_raw.items():
        try:
            port_num = int(port)
        except (TypeError, ValueError):
            raise ProfileError(f"{name}: port {port!r} is not a number") from None
        if not 1 <= port_num <= 65535:
            raise ProfileError(f"{name}: port {port_num} out of range")
        if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
            raise ProfileError(f"{name}:{port_num}: kind must be one of {sorted(KINDS)}")
        if spec["kind"] == "https" and not isinstance((spec.get("cert") or {}).get("subject"), dict):
            raise ProfileError(f"{name}:{port_num}: https needs cert.subject")
        if spec["kind"] == "banner" and not isinstance(spec.get("banner"), str):
            raise ProfileError(f"{name}:{port_num}: banner needs banner text")
        routes = spec.get("routes")
        if routes is not None and not isinstance(routes, dict):
            raise ProfileError(f"{name}:{port_num}: routes must be a mapping")
        services[port_num] = spec
    return Profile(name=name, truth=truth, oui=ouis, services=services, notes=str(raw.get("notes") or ""))


@lru_cache(maxsize=8)
def _load(path: str) -> tuple[Profile, ...]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, list):
        raise ProfileError(f"{path}: expected a list of profiles")
    profiles = tuple(_check_profile(raw, i) for i, raw in enumerate(data))
    names = [p.name for p in profiles]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ProfileError(f"{path}: duplicate profile names {sorted(dupes)}")
    return profiles


def load_profiles(path: str | Path | None = None) -> list[Profile]:
    """All profiles from ``profiles.yaml`` (or *path*), validated."""
    return list(_load(str(path or PROFILES_PATH)))


def get_profile(name: str, path: str | Path | None = None) -> Profile:
    for profile in load_profiles(path):
        if profile.name == name:
            return profile
    raise KeyError(f"no lab profile named {name!r}")


# --------------------------------------------------------------------------- generation


def _usable_addresses(network: str) -> list[str]:
    """Host addresses of *network*, minus the first one (kept for the scanner)."""
    net = ipaddress.ip_network(network, strict=False)
    if net.version != 4:
        raise ValueError("the lab is IPv4 only")
    hosts = [str(a) for a in net.hosts()]
    return hosts[1:]


def _random_mac(rng: random.Random, oui: Sequence[str], taken: set[str]) -> str:
    for _ in range(1000):
        if oui:
            prefix = rng.choice(list(oui))
            tail = [rng.randrange(256) for _ in range(3)]
            mac = prefix + ":" + ":".join(f"{b:02x}" for b in tail)
        else:  # not the maker's: a random unicast, locally administered address
            first = (rng.randrange(256) & 0xFC) | 0x02
            mac = ":".join(f"{b:02x}" for b in [first] + [rng.randrange(256) for _ in range(5)])
        if mac not in taken:
            taken.add(mac)
            return mac
    raise RuntimeError("could not draw a unique MAC")  # pragma: no cover


def _serial(rng: random.Random) -> str:
    return "".join(rng.choice(_SERIAL_ALPHABET) for _ in range(15))


def _make_host(profile: Profile, ip: str, rng: random.Random, taken: set[str]) -> LabHost:
    return LabHost(
        ip=ip,
        mac=_random_mac(rng, profile.oui, taken),
        profile=profile.name,
        services=profile.services,
        truth={**profile.truth, "profile": profile.name},
        serial=_serial(rng),
    )


def _draw(rng: random.Random, pool: list[Profile], count: int) -> list[Profile]:
    """*count* profiles from *pool*, covering every profile before repeating any."""
    chosen: list[Profile] = []
    while len(chosen) < count and pool:
        deck = list(pool)
        rng.shuffle(deck)
        chosen.extend(deck[: count - len(chosen)])
    return chosen


def generate_lab(
    n_hosts: int,
    network: str,
    seed: int,
    *,
    profiles: Iterable[Profile] | None = None,
    camera_fraction: float = CAMERA_FRACTION,
) -> list[LabHost]:
    """A deterministic lab of *n_hosts* devices on *network* for *seed*.

    About ``camera_fraction`` of the hosts are cameras/recorders and the rest are other
    devices; every profile of a class appears once before any repeats.  Addresses run
    from the second host address of *network* up (the first is the scanner's); MACs are
    the profile's OUI plus a seeded random suffix, or a random locally administered
    address for profiles without a registered OUI.
    """
    if n_hosts < 0:
        raise ValueError("n_hosts must be >= 0")
    addresses = _usable_addresses(network)
    if n_hosts > len(addresses):
        raise ValueError(f"{network} has room for {len(addresses)} lab hosts, not {n_hosts}")
    pool = list(profiles) if profiles is not None else load_profiles()
    cameras = sorted((p for p in pool if p.is_camera), key=lambda p: p.name)
    others = sorted((p for p in pool if not p.is_camera), key=lambda p: p.name)
    rng = random.Random(f"camscan-lab:{seed}")
    if not others:
        n_cam = n_hosts
    elif not cameras:
        n_cam = 0
    else:
        n_cam = int(round(n_hosts * camera_fraction))
    chosen = _draw(rng, cameras, n_cam) + _draw(rng, others, n_hosts - n_cam)
    rng.shuffle(chosen)
    taken: set[str] = set()
    return [_make_host(p, ip, rng, taken) for p, ip in zip(chosen, addresses)]


def build_hosts(profile_names: Sequence[str], network: str, seed: int = 0) -> list[LabHost]:
    """Hosts for the named profiles, in order, on consecutive addresses of *network*."""
    by_name = {p.name: p for p in load_profiles()}
    addresses = _usable_addresses(network)
    if len(profile_names) > len(addresses):
        raise ValueError(f"{network} is too small for {len(profile_names)} hosts")
    rng = random.Random(f"camscan-lab:{seed}")
    taken: set[str] = set()
    hosts = []
    for name, ip in zip(profile_names, addresses):
        if name not in by_name:
            raise KeyError(f"no lab profile named {name!r}")
        hosts.append(_make_host(by_name[name], ip, rng, taken))
    return hosts
