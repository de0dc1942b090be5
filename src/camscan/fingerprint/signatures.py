"""Loading and matching the rules in ``signatures/`` (one YAML file per observed field)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml

from camscan.errors import UserError

SETTABLE = frozenset({"vendor", "manufacturer", "device_type", "model", "firmware"})
CATALOGUE_FILES = frozenset({"vendors.yaml", "kinds.yaml"})
REQUIRED = ("id", "field", "pattern", "set", "weight", "examples", "reference")


class SignatureError(UserError, ValueError):
    """A signature file that cannot be used: says which file and rule, and what is wrong."""


# libyaml's parser when PyYAML was built with it: the signature files load several times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse trusted-format YAML data safely (no Python objects), as fast as PyYAML can."""
    return yaml.load(text, Loader=_YAML_LOADER)


def signatures_dir() -> Path:
    """Where the signature data lives: $CAMSCAN_SIGNATURES, the installed copy, or the source tree."""
    if override := os.environ.get("CAMSCAN_SIGNATURES"):
        return Path(override)
    installed = Path(__file__).resolve().parent.parent / "signatures"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[3] / "signatures"


@dataclass(frozen=True)
class Example:
    value: str
    expect: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """One fingerprint: a pattern on one field, what a match says, and how much.

    The regex is compiled on first use (and not pickled: camscan.datacache keeps rules without
    it), as a scan's values reach few of the rules."""

    id: str
    field: str
    pattern: str
    flags: int
    sets: dict[str, str]
    weight: float
    examples: tuple[Example, ...]
    reference: str
    description: str = ""
    source_file: str = ""

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, self.flags)

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "regex"}

    def match(self, value: str) -> dict[str, str] | None:
        """What a matching value says (fixed ``set`` plus captured groups), or None."""
        found = self.regex.search(value)
        if found is None:
            return None
        said = dict(self.sets)
        said.update({key: text.strip() for key, text in found.groupdict().items() if text and key in SETTABLE})
        return said


def _rule_from(entry: Any, source: Path, position: int) -> Rule:
    where = f"{source.name} rule #{position + 1}"
    if not isinstance(entry, dict):
        raise SignatureError(f"{where}: expected a mapping, got {type(entry).__name__}")
    where = f"{source.name} rule {entry.get('id', '#' + str(position + 1))!r}"
    missing = [key for key in REQUIRED if key not in entry]
    if missing:
        raise SignatureError(f"{where}: missing {', '.join(missing)}")
    sets = entry["set"] or {}
    unknown = set(sets) - SETTABLE
    if unknown:
        raise SignatureError(f"{where}: cannot set {', '.join(sorted(unknown))}")
    flags = 0 if entry.get("case_sensitive") else re.IGNORECASE
    try:
        regex = re.compile(entry["pattern"], flags)
    except re.error as error:
        raise SignatureError(f"{where}: bad pattern: {error}") from None
    unknown_groups = set(regex.groupindex) - SETTABLE
    if unknown_groups:
        raise SignatureError(f"{where}: named groups must be model/firmware/...: {sorted(unknown_groups)}")
    weight = float(entry["weight"])
    if not 0.0 < weight < 1.0:
        raise SignatureError(f"{where}: weight {weight} must lie between 0 and 1")
    examples = tuple(
        Example(str(item["value"]), {k: str(v) for k, v in (item.get("expect") or {}).items()})
        if isinstance(item, dict)
        else Example(str(item))
        for item in entry["examples"] or ()
    )
    if not examples:
        raise SignatureError(f"{where}: needs at least one example")
    return Rule(
        id=str(entry["id"]),
        field=str(entry["field"]),
        pattern=regex.pattern,
        flags=flags,
        sets={key: str(value) for key, value in sets.items()},
        weight=weight,
        examples=examples,
        reference=str(entry["reference"]),
        description=str(entry.get("description", "")),
        source_file=source.name,
    )


def load_rules(directory: Path) -> list[Rule]:
    """Every rule of every ``*.yaml`` file except the catalogue's (vendors.yaml, kinds.yaml)."""
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name in CATALOGUE_FILES:
            continue
        try:
            entries = load_yaml(path.read_text()) or []
        except yaml.YAMLError as error:
            raise SignatureError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(entries, list):
            raise SignatureError(f"{path}: expected a list of rules")
        for position, entry in enumerate(entries):
            rule = _rule_from(entry, path, position)
            if rule.id in seen:
                raise SignatureError(f"{path.name}: rule id {rule.id!r} already used in {seen[rule.id]}")
            seen[rule.id] = path.name
            rules.append(rule)
    return rules


def check_example(rule: Rule, example: Example) -> str | None:
    """Why an example fails its rule, or None when it passes."""
    said = rule.match(example.value)
    if said is None:
        return f"{rule.id}: example {example.value!r} does not match"
    wrong = {k: said.get(k) for k, v in example.expect.items() if said.get(k) != v}
    if wrong:
        return f"{rule.id}: example {example.value!r} gave {wrong}, expected {example.expect}"
    return None


@cache
def default_rules() -> tuple[Rule, ...]:
    from camscan.datacache import cached

    directory = signatures_dir()
    files = [path for path in directory.glob("*.yaml") if path.name not in CATALOGUE_FILES]
    return cached("rules", files, lambda: tuple(load_rules(directory)))
