"""NDAA s.889 attribution: whether a device's real maker is a covered company, and why.

Coverage follows the maker, never the label: a Dahua camera sold as Lorex or Amcrest is
covered because Dahua made it. The basis names the evidence that decided the maker, the
catalogue fact that makes that maker covered (named in s.889(f)(3), or a subsidiary of a
named company) and, for a rebadged unit, the reference for the OEM relationship.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from camscan.fingerprint.vendors import Catalogue
from camscan.model import Evidence, Identification

EVIDENCE_SHOWN = 3
VALUE_SHOWN = 60


@dataclass(frozen=True)
class Attribution:
    ndaa_889: bool | None
    basis: str


def _short(value: str) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= VALUE_SHOWN else value[: VALUE_SHOWN - 1] + "…"


def maker_evidence(manufacturer: str, evidence: Iterable[Evidence], catalogue: Catalogue) -> list[Evidence]:
    """The evidence items that point at ``manufacturer``, strongest first."""
    pointing = []
    for item in evidence:
        said = dict(item.sets)
        maker = said.get("manufacturer") or (catalogue.manufacturer_of(said["vendor"]) if "vendor" in said else None)
        if maker == manufacturer:
            pointing.append(item)
    return sorted(pointing, key=lambda item: -item.weight)


def _describe(items: list[Evidence]) -> str:
    shown = [f"{item.field} '{_short(item.value)}' via signature {item.signature}" for item in items[:EVIDENCE_SHOWN]]
    if len(items) > EVIDENCE_SHOWN:
        shown.append(f"{len(items) - EVIDENCE_SHOWN} more")
    return "; ".join(shown) if shown else "no matching evidence kept"


def attribute(
    vendor: str | None, manufacturer: str | None, evidence: Iterable[Evidence], catalogue: Catalogue
) -> Attribution:
    """Whether s.889 covers the device whose brand is ``vendor`` and maker ``manufacturer``."""
    if not manufacturer:
        return Attribution(None, "maker unknown: no evidence names who made this device")
    maker = catalogue.get(manufacturer)
    if maker is None:
        return Attribution(None, f"maker '{manufacturer}' is not in the vendor catalogue, so its coverage is unknown")
    parts = [f"manufacturer {maker.key} ({_describe(maker_evidence(maker.key, evidence, catalogue))})"]
    brand = catalogue.get(vendor)
    if brand and brand.key != maker.key:
        relation = catalogue.oem_relation(maker.key, brand.key)
        if relation and relation.lines:
            parts.append(f"{brand.name} sells {maker.name}-made {relation.lines}: {relation.reference}")
        elif relation:
            parts.append(f"{brand.name} is a {maker.name} OEM brand: {relation.reference}")
        else:
            parts.append(f"sold as {brand.name}")
    owner = catalogue.covering_parent(maker.key)
    if maker.ndaa_889:
        parts.append(f"{maker.name}: {maker.ndaa_889_reference}")
        covered: bool | None = True
    elif owner:
        parent = catalogue.vendors[owner]
        parts.append(f"{maker.name} is owned by {parent.name}: {parent.ndaa_889_reference}")
        covered = True
    elif maker.ndaa_889 is None:
        parts.append(f"s.889 coverage of {maker.name} is not recorded in the catalogue")
        covered = None
    else:
        parts.append(f"{maker.name} is not Huawei, ZTE, Hytera, Hikvision, Dahua or one of their subsidiaries")
        covered = False
    return Attribution(covered, "; ".join(parts))


BEHIND_COVERED_RECORDER = "behind a covered recorder"


def behind_recorder(recorder: Identification) -> tuple[bool | None, str]:
    """The s.889 status of a camera of unknown make that a recorder records: unknown, and when
    the recorder is covered, a basis that says the camera is behind a covered recorder (never
    "not covered": an analogue camera's make is invisible to the network)."""
    if recorder.ndaa_889:
        return None, (f"maker unknown (its recorder does not report it); {BEHIND_COVERED_RECORDER} "
                      f"made by {recorder.manufacturer}: {recorder.ndaa_basis}")
    return None, "maker unknown: its recorder does not report it"
