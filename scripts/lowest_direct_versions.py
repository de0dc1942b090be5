"""Prints pip requirements pinning each direct dependency of pyproject.toml (and the extras
named on the command line) to the lowest version it declares, so CI can prove the declared
minimums true.

Every requirement must be of the form ``name>=version`` (optionally with ``[extras]``): a
minimum nobody can install is a false promise, so anything else is refused.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*>=\s*(?P<version>[0-9][^,;\s]*)\s*$")


def lowest_pins(pyproject: dict, extras: list[str]) -> list[str]:
    """``name[extras]==version`` for every direct requirement of the project and of ``extras``."""
    project = pyproject["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = []
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        if not match:
            raise SystemExit(f"cannot pin {requirement!r}: declare it as name>=minimum")
        pins.append(f"{match['name']}{match['extras'] or ''}=={match['version']}")
    return pins


def main() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    print("\n".join(lowest_pins(pyproject, sys.argv[1:])))


if __name__ == "__main__":
    main()
