"""Developers' tool: rewrite signatures/iana_enterprise_numbers.tsv from IANA's current registry.

Fetches https://www.iana.org/assignments/enterprise-numbers.txt (not run in CI: it needs the
Internet) and writes one "number<TAB>organisation" line per assignment, under a header that
names the source and the date. Review the diff, then check signatures/snmp_enterprise.yaml
still agrees with it (tests/unit/test_snmp.py does).
"""

from __future__ import annotations

import datetime
import re
import sys
import urllib.request
from pathlib import Path

SOURCE = "https://www.iana.org/assignments/enterprise-numbers.txt"
TARGET = Path(__file__).resolve().parent.parent / "signatures" / "iana_enterprise_numbers.tsv"


def assignments(text: str) -> list[tuple[int, str]]:
    """(number, organisation) for each entry: a line holding only the number, then the
    organisation on the next indented line (the registry's plain-text layout)."""
    found = []
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if re.fullmatch(r"\d+", line.strip()) and lines[index + 1].startswith(" "):
            organisation = lines[index + 1].strip()
            if organisation:
                found.append((int(line), organisation))
    return found


def main() -> None:
    with urllib.request.urlopen(SOURCE, timeout=60) as response:
        text = response.read().decode("utf-8", "replace")
    entries = assignments(text)
    if len(entries) < 50000:
        sys.exit(f"only {len(entries)} entries read from {SOURCE}: the layout may have changed; nothing written")
    today = datetime.date.today().isoformat()
    header = [
        f'# IANA Private Enterprise Numbers ({SOURCE}), one "number<TAB>organisation" a line.',
        f"# Fetched {today} by scripts/refresh_iana_pen.py.",
        "# IANA's protocol registries are public (https://www.iana.org/help/licensing-terms).",
    ]
    body = [f"{number}\t{organisation}" for number, organisation in entries]
    TARGET.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    print(f"{len(entries)} enterprise numbers written to {TARGET}")


if __name__ == "__main__":
    main()
