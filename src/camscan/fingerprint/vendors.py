"""The vendor catalogue (signatures/vendors.yaml) and MAC OUI lookups in the IEEE registry."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import yaml
from netaddr import EUI, OUI, AddrFormatError, NotRegisteredError

from camscan.fingerprint.signatures import SignatureError, load_yaml, signatures_dir


def normalise_org(name: str) -> str:
    """An IEEE organisation name folded so that spelling variants compare equal."""
    return re.sub(r"[^a-z0-9]+", " ", name.casefold()).strip()


# Words that end company names without telling companies apart ("Co., Ltd.", "Inc", "GmbH").
CORPORATE_SUFFIXES = re.compile(
    r"(?:\s+(?:co|company|corp|corporation|inc|incorporated|ltd|limited|llc|gmbh|ag|sa|s\.a|ab|bv|nv|plc|"
    r"kk|oy|as|spa|srl|pty|pvt|private|technology|technologies|tech|electronics|systems|communications|"
    r"digital|networks|international|group|holdings?))+\s*$"
)


def company_name_key(name: str) -> str:
    """A company name folded for lookups: casefolded, punctuation gone, corporate suffixes dropped, no spaces."""
    folded = normalise_org(name)
    return CORPORATE_SUFFIXES.sub("", folded).replace(" ", "") or folded.replace(" ", "")


VENDOR_KEYS = frozenset({
    "name", "company", "parent", "ieee_names", "makes", "default_device_type", "ndaa_889",
    "ndaa_889_reference", "oem_brands", "reference",
})
OEM_KEYS = frozenset({"brand", "lines", "reference"})


@dataclass(frozen=True)
class OemRelation:
    """A maker that builds devices sold under another brand (``lines``: only some of them)."""

    maker: str
    brand: str
    reference: str
    lines: str | None = None


@dataclass(frozen=True)
class Vendor:
    key: str
    name: str
    company: str = ""
    makes: tuple[str, ...] = ()
    default_device_type: str | None = None
    manufactured_by: str | None = None
    parent: str | None = None
    ndaa_889: bool | None = None
    ndaa_889_reference: str = ""
    ieee_names: tuple[str, ...] = ()
    reference: str = ""

    @property
    def manufacturer(self) -> str:
        """Who actually makes this brand's devices."""
        return self.manufactured_by or self.key


class Catalogue:
    """Every vendor named once: IEEE organisation names, parent companies, OEM relations, s.889 coverage."""

    def __init__(self, vendors: dict[str, Vendor], oem: Iterable[OemRelation] = ()) -> None:
        self.vendors = vendors
        self.oem = {(relation.maker, relation.brand): relation for relation in oem}
        self._by_org = {normalise_org(org): v.key for v in vendors.values() for org in v.ieee_names}
        self._by_name: dict[str, str] = {}
        for vendor in vendors.values():
            for name in (vendor.key, vendor.name, vendor.company, *vendor.ieee_names):
                if folded := company_name_key(name):
                    self._by_name.setdefault(folded, vendor.key)

    @classmethod
    def load(cls, path: Path) -> Catalogue:
        try:
            raw = load_yaml(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise SignatureError(f"{path}: cannot read the vendor catalogue: {error}") from None
        if not isinstance(raw, dict):
            raise SignatureError(f"{path}: the vendor catalogue must map vendor keys to entries")
        relations: list[OemRelation] = []
        for key, entry in raw.items():
            entry = entry or {}
            unknown = set(entry) - VENDOR_KEYS
            if unknown:
                raise SignatureError(f"{path}: {key} has unknown field(s) {sorted(unknown)}")
            for item in entry.get("oem_brands") or ():
                if not isinstance(item, dict) or set(item) - OEM_KEYS or not item.get("brand"):
                    raise SignatureError(f"{path}: {key}.oem_brands entries need brand and reference, got {item!r}")
                if not item.get("reference"):
                    raise SignatureError(f"{path}: {key} makes for {item['brand']} without a reference")
                relations.append(OemRelation(key, item["brand"], str(item["reference"]), item.get("lines")))
        whole_brand_maker: dict[str, str] = {}
        for relation in relations:
            if relation.brand not in raw:
                raise SignatureError(f"{path}: {relation.maker} makes for unknown vendor {relation.brand!r}")
            if relation.lines is None:
                if relation.brand in whole_brand_maker:
                    raise SignatureError(
                        f"{path}: {relation.brand} is wholly made by both {whole_brand_maker[relation.brand]} "
                        f"and {relation.maker}; give one of them `lines`"
                    )
                whole_brand_maker[relation.brand] = relation.maker
        vendors = {}
        for key, entry in raw.items():
            entry = entry or {}
            vendors[key] = Vendor(
                key=key,
                name=entry.get("name", key),
                company=str(entry.get("company") or ""),
                makes=tuple(entry.get("makes") or ()),
                default_device_type=entry.get("default_device_type"),
                manufactured_by=whole_brand_maker.get(key),
                parent=entry.get("parent"),
                ndaa_889=entry.get("ndaa_889"),
                ndaa_889_reference=str(entry.get("ndaa_889_reference") or ""),
                ieee_names=tuple(entry.get("ieee_names") or ()),
                reference=str(entry.get("reference", "")),
            )
        catalogue = cls(vendors, relations)
        for vendor in vendors.values():
            if vendor.ndaa_889 and not vendor.ndaa_889_reference:
                raise SignatureError(f"{path}: {vendor.key} is marked ndaa_889 without an ndaa_889_reference")
            owner = catalogue.covering_parent(vendor.key)
            if owner and vendor.ndaa_889 is False:
                raise SignatureError(f"{path}: {vendor.key} is owned by covered {owner} but marked ndaa_889: false")
        return catalogue

    def get(self, key: str | None) -> Vendor | None:
        return self.vendors.get(key) if key else None

    def manufacturer_of(self, key: str) -> str:
        vendor = self.vendors.get(key)
        return vendor.manufacturer if vendor else key

    def key_for_name(self, name: str) -> str | None:
        """The catalogue key of a company or brand name as free text spells it (any case,
        punctuation or corporate suffix), or None when the catalogue does not know it."""
        return self._by_name.get(company_name_key(name))

    def vendor_for_org(self, org: str) -> str | None:
        return self._by_org.get(normalise_org(org))

    def parents(self, key: str) -> list[Vendor]:
        """The chain of catalogued parent companies above a vendor, nearest first."""
        chain: list[Vendor] = []
        vendor = self.get(key)
        while vendor and (parent := self.get(vendor.parent)) and parent not in chain and parent.key != key:
            chain.append(parent)
            vendor = parent
        return chain

    def covering_parent(self, key: str) -> str | None:
        """The nearest catalogued parent company that s.889 covers, if any."""
        return next((parent.key for parent in self.parents(key) if parent.ndaa_889), None)

    def oem_relation(self, maker: str, brand: str) -> OemRelation | None:
        return self.oem.get((maker, brand))

    def brands_made_by(self, maker: str) -> list[OemRelation]:
        return [relation for (owner, _), relation in self.oem.items() if owner == maker]


def oui_organisation(mac: str) -> str | None:
    """The IEEE registrant of a MAC address's OUI (netaddr's bundled registry), or None."""
    try:
        return _registrant(int(EUI(mac)) >> 24)
    except (AddrFormatError, ValueError, TypeError):
        return None


def load_oui_registry() -> None:
    """Read netaddr's IEEE registry index now rather than at the first lookup (a tenth of a second)."""
    import netaddr.eui.ieee  # noqa: F401  (the module reads the index when imported)


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
