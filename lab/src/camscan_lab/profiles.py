"""Device profiles and lab generation: which devices a lab holds, where, and what they are.

A profile (``profiles.yaml``) says what one kind of device speaks on the wire (TCP
services and UDP discovery answers) and what a scanner should conclude about it
(``truth``).  :func:`generate_lab` turns a seed into a deterministic list of
:class:`LabHost` — address, MAC, profile and truth — that the loopback and namespace
tiers then bring to life.
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import random
import re
import secrets
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from camscan_lab import hostile
from camscan_lab.discovery_replies import RESPONDERS

try:  # keep the lab's notion of "camera" in step with the scanner's
    from camscan.model import CAMERA_DEVICE_TYPES
except Exception:  # pragma: no cover - the lab also works on its own
    CAMERA_DEVICE_TYPES = frozenset({"ip-camera", "dvr", "nvr", "video-encoder"})

PROFILES_PATH = Path(__file__).with_name("profiles.yaml")
KINDS = frozenset({"http", "https", "rtsp", "banner", "silent"})
CAMERA_FRACTION = 0.75
# Discovery protocols a profile may answer: UDP responders plus the ONVIF device service (TCP).
UDP_DISCOVERY = tuple(RESPONDERS)
DISCOVERY = (*UDP_DISCOVERY, "onvif")
ONVIF_PATH = "/onvif/device_service"
ONVIF_MEDIA_PATHS = {"/onvif/Media": "media", "/onvif/Media2": "media2"}
WSD_FLAVORS = frozenset({"hikvision", "axis", "dahua", "gsoap"})
# Discovery answers that carry a model string (ONVIF only when anyone may ask for it).
_MODEL_BEARING = tuple(name for name, responder in RESPONDERS.items() if responder.model_bearing)

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
    discovery: dict[str, dict[str, Any]] = field(default_factory=dict)

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
    discovery: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The host's own IPv4 network when it is not the lab's: a device left on its factory address
    # on the lab's link (namespace tier only; it must not overlap the lab's network).
    network: str | None = None
    # IPv6 on (a link-local address from the MAC, RFC 4291 §2.5.6); an ``ip`` that is IPv6 implies it.
    ipv6: bool = False

    @property
    def ports(self) -> list[int]:
        return sorted(self.services)

    @property
    def is_camera(self) -> bool:
        return self.truth.get("device_type") in CAMERA_DEVICE_TYPES

    @property
    def identifiable(self) -> bool:
        """Whether anything on the wire names this host's maker (the truth says so)."""
        return bool(self.truth.get("identifiable", True))

    @property
    def discovery_protocols(self) -> tuple[str, ...]:
        """The discovery protocols this host answers (``discovery_replies.RESPONDERS`` and ``onvif``)."""
        return tuple(name for name in DISCOVERY if name in self.discovery)

    @property
    def udp_discovery(self) -> tuple[str, ...]:
        """The discovery protocols answered on UDP (everything but ``onvif``)."""
        return tuple(name for name in UDP_DISCOVERY if name in self.discovery)

    @property
    def endpoint_uuid(self) -> str:
        """A stable per-host UUID ending in the MAC, as Hikvision and Dahua build theirs."""
        digest = hashlib.sha1(f"camscan-lab:{self.profile}:{self.mac}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-11b3-{digest[12:16]}-{self.mac.replace(':', '').lower()}"

    @property
    def onvif_credentials(self) -> tuple[str, str] | None:
        """(username, password) the ONVIF device service wants for GetDeviceInformation, or None when open."""
        spec = self.discovery.get("onvif")
        if not spec or spec.get("auth", "digest") == "none":
            return None
        return str(spec["username"]), str(spec["password"])

    def context(self) -> dict[str, str]:
        """Per-host values for ``${...}`` placeholders in profile text."""
        mac_hex = self.mac.replace(":", "").upper()
        return {
            "ip": self.ip,
            "mac": self.mac.lower(),
            "MAC": mac_hex,
            "MACC": self.mac.upper(),
            "mac_dash": self.mac.lower().replace(":", "-"),
            "mac_plain": mac_hex.lower(),
            "serial": self.serial,
            "serial5": self.serial[-5:],
            "serial9": "".join(str(int(c, 36) % 10) for c in self.serial[-9:]),
            "uuid": self.endpoint_uuid,
            "model": str(self.truth.get("model") or ""),
            "firmware": str(self.truth.get("firmware") or ""),
        }

    def render(self, text: str) -> str:
        """*text* with ``${...}`` placeholders filled with this host's values (nonce/ts/date per call)."""
        if "${" not in text:
            return text
        values = self.context()
        values.update(nonce=secrets.token_hex(16), ts=str(int(time.time())), date=email.utils.formatdate(usegmt=True))
        for key, value in values.items():
            text = text.replace("${" + key + "}", value)
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly truth record (what the benchmark scores against)."""
        return {
            "ip": self.ip,
            "mac": self.mac,
            "profile": self.profile,
            "ports": self.ports,
            "kinds": {str(port): spec["kind"] for port, spec in sorted(self.services.items())},
            "is_camera": self.is_camera,
            "discovery": list(self.discovery_protocols),
            "onvif_auth": self.onvif_credentials is not None if "onvif" in self.discovery else None,
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
    discovery_raw = raw.get("discovery") or {}
    if not isinstance(services_raw, dict) or not (services_raw or discovery_raw):
        raise ProfileError(f"{name}: services must be a non-empty mapping (or discovery must say what answers)")
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
        if "hostile" in spec and spec["hostile"] not in hostile.MODES:
            raise ProfileError(f"{name}:{port_num}: hostile must be one of {sorted(hostile.MODES)}")
        routes = spec.get("routes")
        if routes is not None and not isinstance(routes, dict):
            raise ProfileError(f"{name}:{port_num}: routes must be a mapping")
        services[port_num] = spec
    discovery, services = _check_discovery(name, discovery_raw, services)
    if "discovery_model" not in truth:
        bearing = any(p in discovery and "raw" not in discovery[p] for p in _MODEL_BEARING) or (
            "onvif" in discovery and discovery["onvif"]["auth"] == "none"
        )
        truth["discovery_model"] = truth["model"] if bearing else None
    return Profile(
        name=name, truth=truth, oui=ouis, services=services, notes=str(raw.get("notes") or ""), discovery=discovery
    )


_DISCOVERY_KEYS = {
    **{name: responder.keys for name, responder in RESPONDERS.items()},
    "onvif": frozenset({"port", "auth", "username", "password", "fault_status", "device_information", "media"}),
}
_DEVICE_INFORMATION = ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "HardwareId")
_MDNS_TYPE = re.compile(r"^_[a-z0-9-]{1,15}\._(tcp|udp)$")


def _check_discovery(
    name: str, raw: Any, services: dict[int, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]]]:
    """Validate a profile's ``discovery`` section; returns it with defaults filled in, and the
    services with the HTTP routes discovery needs (ONVIF device service, UPnP description)."""
    from camscan_lab.discovery_replies import upnp_description_template  # the lab's byte builders

    if not isinstance(raw, dict):
        raise ProfileError(f"{name}: discovery must be a mapping")
    discovery: dict[str, dict[str, Any]] = {}
    services = dict(services)
    for protocol, spec in raw.items():
        where = f"{name}: discovery.{protocol}"
        if protocol not in _DISCOVERY_KEYS:
            raise ProfileError(f"{name}: unknown discovery protocol {protocol!r} (want one of {list(DISCOVERY)})")
        if not isinstance(spec, dict):
            raise ProfileError(f"{where} must be a mapping")
        unknown = set(spec) - _DISCOVERY_KEYS[protocol]
        if unknown:
            raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
        spec = dict(spec)
        if protocol in ("sadp", "dhip"):
            spec.setdefault("reply", "unicast")
            if spec["reply"] not in ("unicast", "multicast"):
                raise ProfileError(f"{where}.reply must be unicast or multicast")
        if protocol == "wsd":
            spec.setdefault("flavor", "gsoap")
            if spec["flavor"] not in WSD_FLAVORS:
                raise ProfileError(f"{where}.flavor must be one of {sorted(WSD_FLAVORS)}")
            for key in ("scopes", "xaddrs"):
                if key in spec and not (isinstance(spec[key], list) and all(isinstance(v, str) for v in spec[key])):
                    raise ProfileError(f"{where}.{key} must be a list of strings")
            if "raw" not in spec and not spec.get("scopes"):
                raise ProfileError(f"{where} needs scopes (or a raw reply)")
        if protocol == "snmp":
            spec.setdefault("communities", [] if spec.get("users") else ["public"])
            if not (isinstance(spec["communities"], list) and (spec["communities"] or spec.get("users"))
                    and all(isinstance(c, str) and c for c in spec["communities"])):
                raise ProfileError(f"{where}.communities must be a non-empty list of strings (or users given)")
            for user in spec.get("users") or ():
                if not (isinstance(user, dict) and isinstance(user.get("name"), str)
                        and set(user) <= {"name", "auth_protocol", "auth_password", "priv_protocol", "priv_password"}
                        and (not user.get("priv_protocol") or user.get("auth_protocol"))):
                    raise ProfileError(f"{where}.users: each a mapping of name and, for authNoPriv or authPriv, "
                                       "auth_protocol/auth_password (and priv_protocol/priv_password)")
            if not any(isinstance(spec.get(key), str) for key in ("sys_descr", "sys_object_id", "sys_name")):
                raise ProfileError(f"{where} needs at least one of sys_descr, sys_object_id, sys_name")
        if protocol == "ubnt" and not isinstance(spec.get("firmware"), str):
            raise ProfileError(f"{where} needs a firmware string")
        if protocol == "mdns":
            entries = spec.get("services")
            if not isinstance(entries, list) or not entries or not isinstance(spec.get("hostname"), str):
                raise ProfileError(f"{where} needs a hostname and a list of services")
            for entry in entries:
                if not isinstance(entry, dict) or not _MDNS_TYPE.match(str(entry.get("type"))):
                    raise ProfileError(f"{where}: each service needs a type such as _http._tcp")
                if not isinstance(entry.get("name"), str) or not isinstance(entry.get("port"), int):
                    raise ProfileError(f"{where}: service {entry.get('type')} needs a name and a port")
                if not isinstance(entry.get("txt") or {}, dict):
                    raise ProfileError(f"{where}: service {entry.get('type')} txt must be a mapping")
        if protocol == "ssdp":
            if not isinstance(spec.get("st"), str) or not isinstance(spec.get("server"), str):
                raise ProfileError(f"{where} needs st and server")
            if ("location" in spec) == ("location_url" in spec):
                raise ProfileError(f"{where} needs exactly one of location {{port, path}} or location_url")
            spec.setdefault("description", {})
            if not isinstance(spec["description"], dict):
                raise ProfileError(f"{where}.description must be a mapping")
            if "location" in spec:
                if not spec["description"].get("manufacturer"):
                    raise ProfileError(f"{where}.description must name at least the manufacturer")
                location = spec["location"]
                if not isinstance(location, dict) or not str(location.get("path", "")).startswith("/"):
                    raise ProfileError(f"{where}.location must be {{port, path}} with an absolute path")
                port = int(location.get("port", 80))
                spec["location"] = {"port": port, "path": str(location["path"])}
                service = services.get(port) or {"kind": "http", "server": spec["server"], "routes": {}}
                route = {"content_type": 'text/xml; charset="utf-8"', "body": upnp_description_template(spec)}
                services[port] = _with_route(where, port, service, spec["location"]["path"], route)
        if protocol == "onvif":
            spec.setdefault("auth", "digest")
            if spec["auth"] not in ("digest", "none"):
                raise ProfileError(f"{where}.auth must be digest or none")
            if spec["auth"] == "digest" and not (spec.get("username") and spec.get("password")):
                raise ProfileError(f"{where}: digest auth needs username and password")
            spec.setdefault("fault_status", 400)
            if spec["fault_status"] not in (400, 401):
                raise ProfileError(f"{where}.fault_status must be 400 or 401")
            info = spec.get("device_information")
            if not isinstance(info, dict) or set(info) != set(_DEVICE_INFORMATION):
                raise ProfileError(f"{where}.device_information needs exactly {list(_DEVICE_INFORMATION)}")
            port = int(spec.get("port", 80))
            spec["port"] = port
            if port not in services:
                raise ProfileError(f"{where}.port {port} is not one of the profile's services")
            services[port] = _with_route(where, port, services[port], ONVIF_PATH, {"onvif": spec})
            media = spec.get("media")
            if media not in (None, False, True) and not (isinstance(media, list) and media
                                                         and set(media) <= set(ONVIF_MEDIA_PATHS.values())):
                raise ProfileError(f"{where}.media must be true or a list of {sorted(ONVIF_MEDIA_PATHS.values())}")
            if media:  # the Media and Media2 services beside the device service
                for path, service in ONVIF_MEDIA_PATHS.items():
                    route = {"onvif": spec, "onvif_service": service}
                    services[port] = _with_route(where, port, services[port], path, route)
        discovery[protocol] = spec
    return discovery, services


def _with_route(where: str, port: int, service: dict[str, Any], path: str, route: dict[str, Any]) -> dict[str, Any]:
    if service.get("kind") != "http":
        raise ProfileError(f"{where}: port {port} must be an http service to serve {path}")
    return {**service, "routes": {**(service.get("routes") or {}), path: route}}


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
        discovery=profile.discovery,
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


def place_hosts(profiles: Sequence[Profile], network: str, seed: int = 0) -> list[LabHost]:
    """Hosts for *profiles*, in order, on consecutive addresses of *network*."""
    addresses = _usable_addresses(network)
    if len(profiles) > len(addresses):
        raise ValueError(f"{network} is too small for {len(profiles)} hosts")
    rng = random.Random(f"camscan-lab:{seed}")
    taken: set[str] = set()
    return [_make_host(profile, ip, rng, taken) for profile, ip in zip(profiles, addresses)]


def build_hosts(profile_names: Sequence[str], network: str, seed: int = 0) -> list[LabHost]:
    """Hosts for the named profiles, in order, on consecutive addresses of *network*."""
    by_name = {p.name: p for p in load_profiles()}
    missing = [name for name in profile_names if name not in by_name]
    if missing:
        raise KeyError(f"no lab profile named {missing[0]!r}")
    return place_hosts([by_name[name] for name in profile_names], network, seed)
