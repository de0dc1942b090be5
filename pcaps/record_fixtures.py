"""Regenerate the replay fixtures: one recorded camscan scan per lab device profile.

Run as root from the repository root:  python3 pcaps/record_fixtures.py [PROFILE ...]

Each profile gets a namespace lab of its own (one emulated host at 198.18.90.2 on
198.18.90.0/29, the scanner at .1, no route out), is scanned with ``camscan scan --record``
(multicast and mDNS included, since the whole link is in scope), and leaves three files:

- ``<profile>.pcapng``: the recording (frames plus the TLS keys of its HTTPS conversations);
- ``<profile>.json``: that live scan's exported inventory, timestamps removed, which
  ``tests/replay`` expects ``camscan scan --replay`` to reproduce exactly;
- ``<profile>.observations.json``: the raw observations that live scan stored
  (:func:`camscan_lab.score.stored_observations`), which the replay must store too, so that a
  parser observing something else fails even when the inventory stays the same.

``python3 pcaps/record_fixtures.py --observations-from-replay [PROFILE ...]`` (no root, no
network) rewrites only ``<profile>.observations.json``, from a replay of the existing recording:
for a recording made before its observations were kept.

A recorder profile (``lab/src/camscan_lab/recorder_profiles.yaml``) is recorded with the LAN
cameras its channels point at beside it (from 198.18.90.3) and with the lab's credentials
file (:func:`camscan_lab.recorders.lab_credentials`), which the replay is given again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from camscan_lab import NamespaceLab, build_hosts, load_profiles
from camscan_lab.recorders import RECORDER_PROFILES, lab_credentials, recorder_lab
from camscan_lab.score import stored_observations, without_timestamps

HERE = Path(__file__).resolve().parent
NETWORK = "198.18.90.0/29"
SEED = 11
SCAN_OPTIONS = ("--timeout", "1", "--discovery-wait", "1", "--yes")
RECORDERS = tuple(profile.name for profile in load_profiles(RECORDER_PROFILES))


def fixture_hosts(profile: str):
    """The lab of one profile's fixture: the device alone, or a recorder with the LAN cameras behind it."""
    if profile in RECORDERS:
        return recorder_lab(NETWORK, seed=SEED, names=[profile])
    return build_hosts([profile], NETWORK, seed=SEED)


def write_credentials(hosts, path: Path) -> Path:
    """The credentials file a recorder fixture is recorded (and replayed) with, private as camscan wants it."""
    path.write_text(yaml.safe_dump(lab_credentials(hosts), sort_keys=False))
    path.chmod(0o600)
    return path


def record(profile: str) -> None:
    hosts = fixture_hosts(profile)
    with NamespaceLab(hosts, prefix="fx", network=NETWORK) as lab, tempfile.TemporaryDirectory() as work:
        db = Path(work) / "fixture.db"
        pcap = HERE / f"{profile}.pcapng"
        scan = [sys.executable, "-m", "camscan", "scan", NETWORK, "--db", str(db), "--record", str(pcap), *SCAN_OPTIONS,
                *credentials_options(profile, hosts, Path(work))]
        if profile in RECORDERS and lab_credentials(hosts):
            # The lab's own accounts, and the lab cameras' logins a Dahua recorder lists, are kept in
            # the recording so its replay reads what the live scan read (a user's recording keeps
            # neither unless asked to).
            scan.append("--record-credentials")
        result = lab.run(scan, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise SystemExit(f"{profile}: scan failed: {result.stderr}")
        exported = subprocess.run([sys.executable, "-m", "camscan", "export", "--db", str(db), "--format", "json"],
                                  capture_output=True, text=True, check=True)
        inventory = without_timestamps(json.loads(exported.stdout))
        (HERE / f"{profile}.json").write_text(json.dumps(inventory, indent=1, sort_keys=True) + "\n")
        write_observations(profile, db)
        print(f"{profile}: {pcap.stat().st_size} bytes, {len(inventory)} device(s)", flush=True)


def credentials_options(profile: str, hosts, work: Path) -> list[str]:
    """``--credentials FILE`` for a recorder profile whose lab has accounts (a file without
    accounts is refused), else nothing."""
    if profile in RECORDERS and lab_credentials(hosts):
        return ["--credentials", str(write_credentials(hosts, work / "credentials.yaml"))]
    return []


def write_observations(profile: str, db: Path) -> None:
    observations = stored_observations(db)
    (HERE / f"{profile}.observations.json").write_text(json.dumps(observations, indent=1, sort_keys=True) + "\n")
    print(f"{profile}: {len(observations)} observation(s)", flush=True)


def observations_from_replay(profile: str) -> None:
    """Rewrite a profile's observations from a replay of its recording, as ``tests/replay`` replays it."""
    with tempfile.TemporaryDirectory() as work:
        db = Path(work) / "replay.db"
        scan = [sys.executable, "-m", "camscan", "scan", NETWORK, "--replay", str(HERE / f"{profile}.pcapng"),
                "--db", str(db), "--yes", *credentials_options(profile, fixture_hosts(profile), Path(work))]
        result = subprocess.run(scan, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise SystemExit(f"{profile}: replay failed: {result.stderr}")
        write_observations(profile, db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations-from-replay", action="store_true",
                        help="rewrite only the observations files, from replays of the existing recordings")
    parser.add_argument("profiles", nargs="*", metavar="PROFILE", help="the profiles to record (default: all)")
    arguments = parser.parse_args()
    names = arguments.profiles or [profile.name for profile in load_profiles()] + list(RECORDERS)
    for name in names:
        (observations_from_replay if arguments.observations_from_replay else record)(name)


if __name__ == "__main__":
    main()
