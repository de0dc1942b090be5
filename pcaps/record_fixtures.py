"""Regenerate the replay fixtures: one recorded camscan scan per lab device profile.

Run as root from the repository root:  python3 pcaps/record_fixtures.py [PROFILE ...]

Each profile gets a namespace lab of its own (one emulated host at 198.18.90.2 on
198.18.90.0/29, the scanner at .1, no route out), is scanned with ``camscan scan --record``
(multicast and mDNS included, since the whole link is in scope), and leaves two files:

- ``<profile>.pcapng``: the recording (frames plus the TLS keys of its HTTPS conversations);
- ``<profile>.json``: that live scan's exported inventory, timestamps removed, which
  ``tests/replay`` expects ``camscan scan --replay`` to reproduce exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from camscan.lab import NamespaceLab, build_hosts, load_profiles
from camscan.lab.score import without_timestamps

HERE = Path(__file__).resolve().parent
NETWORK = "198.18.90.0/29"
SCAN_OPTIONS = ("--timeout", "1", "--discovery-wait", "1", "--yes")


def record(profile: str) -> None:
    hosts = build_hosts([profile], NETWORK, seed=11)
    with NamespaceLab(hosts, prefix="fx", network=NETWORK) as lab, tempfile.TemporaryDirectory() as work:
        db = Path(work) / "fixture.db"
        pcap = HERE / f"{profile}.pcapng"
        scan = [sys.executable, "-m", "camscan", "scan", NETWORK, "--db", str(db), "--record", str(pcap), *SCAN_OPTIONS]
        result = lab.run(scan, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise SystemExit(f"{profile}: scan failed: {result.stderr}")
        exported = subprocess.run([sys.executable, "-m", "camscan", "export", "--db", str(db), "--format", "json"],
                                  capture_output=True, text=True, check=True)
        inventory = without_timestamps(json.loads(exported.stdout))
        (HERE / f"{profile}.json").write_text(json.dumps(inventory, indent=1, sort_keys=True) + "\n")
        print(f"{profile}: {pcap.stat().st_size} bytes, {len(inventory)} device(s)", flush=True)


def main() -> None:
    names = sys.argv[1:] or [profile.name for profile in load_profiles()]
    for name in names:
        record(name)


if __name__ == "__main__":
    main()
