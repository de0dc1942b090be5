"""The vendor catalogue (signatures/vendors.yaml) and MAC OUI lookups in the IEEE registry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import yaml
from netaddr import EUI, OUI, AddrFormatError, NotRegisteredError

from camscan.fingerprint.signatures import SignatureError, load_yaml, signatures_dir


def normalise_org(name: str) -> str:
    """An IEEE organisation name folded so that spelling variants compare equal."""
    return re.sub(r"[^a-z0-9]+", " ", name.casefold()).strip()


@dataclass(frozen=True)
class Vendor:
    key: str
    name: str
    makes: tuple[str, ...] = ()
    default_device_type: str | None = None
    manufactured_by: str | None = None
    parent: str | None = None
    ndaa_889: bool | None = None
    ieee_names: tuple[str, ...] = ()
    reference: str = ""

    @property
    def manufacturer(self) -> str:
        """Who actually makes this brand's devices."""
        return self.manufactured_by or self.key


class Catalogue:
    """Every vendor named once, with the IEEE organisation names that map to it."""

    def __init__(self, vendors: dict[str, Vendor]) -> None:
        self.vendors = vendors
        self._by_org = {normalise_org(org): v.key for v in vendors.values() for org in v.ieee_names}

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        try:
            raw = load_yaml(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise SignatureError(f"{path}: cannot read the vendor catalogue: {error}") from None
        vendors = {}
        for key, entry in raw.items():
            entry = entry or {}
            vendors[key] = Vendor(
                key=key,
                name=entry.get("name", key),
                makes=tuple(entry.get("makes") or ()),
                default_device_type=entry.get("default_device_type"),
                manufactured_by=entry.get("manufactured_by"),
                parent=entry.get("parent"),
                ndaa_889=entry.get("ndaa_889"),
                ieee_names=tuple(entry.get("ieee_names") or ()),
                reference=str(entry.get("reference", "")),
            )
        for vendor in vendors.values():
            if vendor.manufactured_by and vendor.manufactured_by not in vendors:
                raise SignatureError(f"{path}: {vendor.key} is manufactured_by unknown vendor {vendor.manufactured_by!r}")
        return cls(vendors)

    def get(self, key: str | None) -> Vendor | None:
        return self.vendors.get(key) if key else None

    def manufacturer_of(self, key: str) -> str:
        vendor = self.vendors.get(key)
        return vendor.manufacturer if vendor else key

    def vendor_for_org(self, org: str) -> str | None:
        return self._by_org.get(normalise_org(org))


def oui_organisation(mac: str) -> str | None:
    """The IEEE registrant of a MAC address's OUI (netaddr's bundled registry), or None."""
    try:
        return _registrant(int(EUI(mac)) >> 24)
    except (AddrFormatError, ValueError, TypeError):
        return None


@lru_cache(maxsize=4096)
def _registrant(oui: int) -> str | None:
    """netaddr reads the registry file on every lookup; a site has few OUIs, so remember them."""
    try:
        return OUI(oui).registration().org
    except (NotRegisteredError, IndexError):
        return None


@cache
def default_catalogue() -> Catalogue:
    return Catalogue.load(signatures_dir() / "vendors.yaml")
