"""The vendor catalogue (signatures/vendors.yaml) and MAC OUI lookups in the IEEE registry."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import netaddr.eui
import yaml
from netaddr import EUI, OUI, AddrFormatError, NotRegisteredError

from camscan.fingerprint.signatures import SignatureError, load_yaml, signatures_dir
from camscan.model import CAMERA_DEVICE_TYPES


def normalise_org(name: str) -> str:
    """An IEEE organisation name folded so that spelling variants compare equal."""
    return re.sub(r"[^a-z0-9]+", " ", name.casefold()).strip()


# Words a company's legal or descriptive name adds to its brand ("Axis Communications AB",
# "Zhejiang Dahua Technology Co., Ltd.", "Bosch Security Systems, Inc."); dropped from the end
# of a name, and city or province names from its start, before it is looked up.
LEGAL_SUFFIXES = frozenset({
    "co", "ltd", "limited", "inc", "incorporated", "corp", "corporation", "company", "companies",
    "gmbh", "ag", "ab", "sa", "sas", "srl", "spa", "bv", "nv", "llc", "lp", "plc", "pty", "kg",
    "oy", "as", "asa", "kk", "pvt", "private", "sdn", "bhd",
})
CORPORATE_SUFFIXES = LEGAL_SUFFIXES | frozenset({
    "technology", "technologies", "tech", "electronics", "electronic", "electric", "digital", "group", "holdings", "holding",
    "international", "intl", "industries", "industry", "industrial", "systems", "system",
    "security", "communications", "communication", "solutions", "products", "enterprise",
    "enterprises", "intelligent", "intelligence", "science", "sciences", "network", "networks",
    "vision", "video", "the", "and", "of", "america", "usa", "us", "europe", "china", "korea",
    "japan", "taiwan", "hk", "shares", "stock", "software", "development", "manufacturing",
    "trading", "imaging", "innovation", "innovations", "info", "information", "optoelectronics",
})
PLACE_PREFIXES = frozenset({
    "shenzhen", "hangzhou", "zhejiang", "guangzhou", "guangdong", "beijing", "shanghai", "xiamen",
    "fujian", "wuhan", "tianjin", "jiangsu", "suzhou", "nanjing", "dongguan", "chongqing",
    "sichuan", "chengdu", "hefei", "ningbo", "qingdao", "shandong", "foshan", "zhuhai", "hong",
    "kong", "taipei", "taiwan", "seoul", "tokyo", "the",
})
# How a brand's name in free text counts: always; beside a word for video gear (a common word
# or short name); only where a device names itself in streaming or discovery replies (a
# component maker whose parts are named elsewhere, Sony sensors); or never (an SoC SDK).
FREE_TEXT_MODES = ("brand", "context", "discovery", "never")
# A brand this short is too often an abbreviation of something else to trust in free text alone.
SHORT_TOKEN = 4


def name_words(name: str) -> list[str]:
    """A company or brand name as lowercase alphanumeric words."""
    return re.findall(r"[a-z0-9]+", name.casefold().replace("&", " and "))


def legal_form(name: str) -> str:
    """A name's words run together without its legal-form suffixes ("Co., Ltd.", "GmbH")."""
    words = name_words(name)
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words = words[:-1]
    return "".join(words)


def name_forms(name: str) -> list[str]:
    """The lookup forms of a name, most literal first: all its words run together, then the
    same without corporate suffixes, then also without a leading place name."""
    words = name_words(name)
    forms = ["".join(words)]
    while len(words) > 1 and words[-1] in CORPORATE_SUFFIXES:
        words = words[:-1]
        forms.append("".join(words))
    while len(words) > 1 and words[0] in PLACE_PREFIXES:
        words = words[1:]
        forms.append("".join(words))
    while len(words) > 1 and words[-1] in CORPORATE_SUFFIXES:
        words = words[:-1]
        forms.append("".join(words))
    return [form for form in dict.fromkeys(forms) if form]


VENDOR_KEYS = frozenset({
    "name", "display", "company", "parent", "ieee_names", "aliases", "free_text", "models", "makes",
    "default_device_type", "ndaa_889", "ndaa_889_reference", "oem_brands", "reference",
})
OEM_KEYS = frozenset({"brand", "lines", "reference"})
MODEL_KEYS = frozenset({"family", "prefix", "pattern", "kind", "examples", "reference"})


@dataclass(frozen=True)
class ModelFamily:
    """A product line's model numbers: the literal ``prefixes`` every model starts with, the
    ``pattern`` of a whole model number (starting at a prefix), and the kind of device."""

    vendor: str
    family: str
    prefixes: tuple[str, ...]
    pattern: re.Pattern[str]
    kind: str
    examples: tuple[str, ...]
    reference: str


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
    display: str = ""
    aliases: tuple[str, ...] = ()
    free_text: str = "brand"
    models: tuple[ModelFamily, ...] = ()

    @property
    def display_name(self) -> str:
        """The name a person reads in tables and reports (``TP-Link``, ``Motorola Solutions``)."""
        return self.display or self.name

    @property
    def all_names(self) -> tuple[str, ...]:
        """Every name the catalogue knows this vendor by, key and legal names included."""
        return (self.key, self.display_name, self.name, self.company, *self.ieee_names, *self.aliases)

    @property
    def brand_names(self) -> tuple[str, ...]:
        """The names this brand goes by in free text: its name and its aliases."""
        return tuple(dict.fromkeys((self.display_name, self.name, *self.aliases)))

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
        self._by_name = self._name_index(vendors)
        self._by_legal_form = {
            form: vendor.key for vendor in reversed(vendors.values()) for name in vendor.all_names if (form := legal_form(name))
        }

    @staticmethod
    def _name_index(vendors: dict[str, Vendor]) -> dict[str, str]:
        """Every lookup form of every name of every vendor; a literal form beats a shortened one,
        and the first vendor to claim a form keeps it (the catalogue test refuses real clashes)."""
        literal_index: dict[str, str] = {}
        shortened: dict[str, str] = {}
        for vendor in vendors.values():
            for name in vendor.all_names:
                literal, *rest = name_forms(name) or [""]
                if literal:
                    literal_index.setdefault(literal, vendor.key)
                for form in rest:
                    shortened.setdefault(form, vendor.key)
        return {**shortened, **literal_index}

    def key_for_name(self, name: str) -> str | None:
        """The catalogue key for a company or brand name as devices write it ("HIKVISION",
        "Zhejiang Dahua Technology Co., Ltd.", "Axis Communications AB", "TP-LINK"), or None."""
        return next((self._by_name[form] for form in name_forms(name) if form in self._by_name), None)

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
            free_text = entry.get("free_text", "brand")
            if free_text not in FREE_TEXT_MODES:
                raise SignatureError(f"{path}: {key}.free_text must be one of {FREE_TEXT_MODES}, got {free_text!r}")
            models = tuple(_model_family(path, key, item) for item in entry.get("models") or ())
            makes = tuple(dict.fromkeys([*(entry.get("makes") or ()), *(family.kind for family in models)]))
            default_device_type = entry.get("default_device_type")
            if default_device_type and not _one_side_of_camera_line(default_device_type, makes):
                raise SignatureError(
                    f"{path}: {key} makes {', '.join(makes)}: a MAC prefix of it cannot tell a camera from the rest, "
                    f"so it takes no default_device_type"
                )
            vendors[key] = Vendor(
                key=key,
                name=str(entry.get("name") or key),
                company=str(entry.get("company") or ""),
                makes=makes,
                default_device_type=default_device_type,
                manufactured_by=whole_brand_maker.get(key),
                parent=entry.get("parent"),
                ndaa_889=entry.get("ndaa_889"),
                ndaa_889_reference=str(entry.get("ndaa_889_reference") or ""),
                ieee_names=tuple(entry.get("ieee_names") or ()),
                reference=str(entry.get("reference", "")),
                display=str(entry.get("display") or ""),
                aliases=tuple(str(alias) for alias in entry.get("aliases") or ()),
                free_text=free_text,
                models=models,
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

    def vendor_for_org(self, org: str) -> str | None:
        """The vendor an IEEE registrant names: a listed registry name, else a catalogued name
        written the same but for its legal form. Descriptive words are not dropped here, as they
        are for names devices write: the registry holds thousands of companies, and "B-Link
        Electronic Limited" is not Blink nor "Canary Communications" Canary."""
        return self._by_org.get(normalise_org(org)) or self._by_legal_form.get(legal_form(org))

    def display_name(self, key: str | None) -> str | None:
        """The name a person reads for a vendor key; an uncatalogued key reads as itself."""
        vendor = self.get(key)
        return vendor.display_name if vendor else key

    def display_fields(self, vendor: str | None, manufacturer: str | None) -> dict[str, str | None]:
        """The names a person reads for a device's brand, its maker and the maker's parent
        company (a catalogued parent's display name, else the catalogue's text), beside the keys."""
        owner = self.get(manufacturer) or self.get(vendor)
        parent = None
        if owner and owner.parent:
            parent = self.display_name(owner.parent) if owner.parent in self.vendors else owner.parent
        return {
            "vendor_name": self.display_name(vendor),
            "manufacturer_name": self.display_name(manufacturer),
            "parent_name": parent,
        }

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



def _one_side_of_camera_line(default_device_type: str, makes: Iterable[str]) -> bool:
    """Whether everything a maker makes is a camera or recorder exactly when its default kind is
    one: only then does a MAC prefix of that maker alone say which side of the line a device is on."""
    return all((kind in CAMERA_DEVICE_TYPES) == (default_device_type in CAMERA_DEVICE_TYPES) for kind in makes)

def _model_family(path: Path, key: str, item: object) -> ModelFamily:
    """One entry of a vendor's ``models``, checked: its pattern compiles, and every example starts
    with one of its prefixes and is a whole model number of the family."""
    where = f"{path}: {key}.models"
    if not isinstance(item, dict) or set(item) - MODEL_KEYS:
        raise SignatureError(f"{where}: entries take {sorted(MODEL_KEYS)}, got {item!r}")
    missing = [field for field in ("family", "prefix", "pattern", "kind", "examples", "reference") if not item.get(field)]
    if missing:
        raise SignatureError(f"{where}: {item.get('family')!r} needs {', '.join(missing)}")
    prefixes = (item["prefix"],) if isinstance(item["prefix"], str) else tuple(item["prefix"])
    try:
        pattern = re.compile(str(item["pattern"]), re.IGNORECASE)
    except re.error as error:
        raise SignatureError(f"{where}: {item['family']!r} has a bad pattern: {error}") from None
    examples = tuple(str(example) for example in item["examples"])
    for example in examples:
        starts = any(example.casefold().startswith(prefix.casefold()) for prefix in prefixes)
        if not starts or not pattern.fullmatch(example):
            raise SignatureError(f"{where}: {item['family']!r} example {example!r} is not one of its model numbers")
    return ModelFamily(key, str(item["family"]), prefixes, pattern, str(item["kind"]), examples, str(item["reference"]))


def oui_organisation(mac: str) -> str | None:
    """The IEEE registrant of a MAC address's OUI (netaddr's bundled registry), or None."""
    try:
        return oui_registry().get(int(EUI(mac)) >> 24)
    except (AddrFormatError, ValueError, TypeError):
        return None


@cache
def oui_registry() -> dict[int, str]:
    """Each OUI's registrant, as netaddr's bundled IEEE registry names it (its first, for the two
    OUIs registered twice). netaddr reads an index of its registry file at the first lookup (80 ms)
    and the file at every lookup; the table, built once through netaddr, is read back from the
    per-user cache (camscan.datacache) in a fifth of that."""
    from camscan.datacache import cached

    return cached("oui", [Path(netaddr.eui.__file__).parent / "oui.txt"], _read_oui_registry)


def _read_oui_registry() -> dict[int, str]:
    from netaddr.eui import ieee

    registrants = {}
    for oui in ieee.OUI_INDEX:
        try:
            registrants[oui] = str(OUI(oui).registration()["org"])
        except (NotRegisteredError, IndexError):
            continue
    return registrants


@cache
def default_catalogue() -> Catalogue:
    from camscan.datacache import cached

    path = signatures_dir() / "vendors.yaml"
    return cached("catalogue", [path], lambda: Catalogue.load(path))
