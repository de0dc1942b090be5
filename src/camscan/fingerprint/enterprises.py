"""IANA Private Enterprise Numbers: whose subtree an SNMP sysObjectID lies in.

An agent's sysObjectID is "the vendor's authoritative identification of the network
management subsystem" (RFC 3418, SNMPv2-MIB), allocated under the maker's enterprise
number, 1.3.6.1.4.1.N (RFC 2578 §2, ``enterprises``). The numbers' owners come from the
packaged registry copy, signatures/iana_enterprise_numbers.tsv (origin and date in its header).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from camscan.fingerprint.signatures import signatures_dir

ENTERPRISES = "1.3.6.1.4.1"
REGISTRY_FILE = "iana_enterprise_numbers.tsv"
_UNDER_ENTERPRISES = re.compile(r"^\.?1\.3\.6\.1\.4\.1\.(\d{1,10})(?:\.|$)")


def enterprise_number(oid: str) -> int | None:
    """The enterprise number an OID lies under, or None outside 1.3.6.1.4.1."""
    match = _UNDER_ENTERPRISES.match(oid.strip())
    return int(match.group(1)) if match else None


@cache
def registry() -> dict[int, str]:
    """Every assigned enterprise number and its organisation, from the packaged registry copy."""
    from camscan.datacache import cached

    path = signatures_dir() / REGISTRY_FILE
    return cached("enterprises", [path], lambda: read_registry(path))


def read_registry(path: Path) -> dict[int, str]:
    """The enterprise numbers and organisations of a registry copy (number, tab, organisation)."""
    numbers: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        number, organisation = line.split("\t", 1)
        numbers[int(number)] = organisation.strip()
    return numbers


def enterprise_organisation(oid: str) -> tuple[int, str] | None:
    """The enterprise number of an OID and the organisation it is assigned to, if registered."""
    number = enterprise_number(oid)
    if number is None or number not in registry():
        return None
    return number, registry()[number]
