"""Benchmark: what every `camscan scan` pays before and around its probes (start-up).

Each figure is one fresh process, run ``--runs`` times; the bench prints the fastest and the
median wall time and the median CPU time (user + system, from ``wait4``; steadier than wall
time on a busy machine). No network: the scans run on the replay network (``--replay``, which
sends nothing) inside an empty network namespace when root.

* ``scan --help``: the command line alone (imports of the CLI).
* ``refused scope``: ``scan 0.0.0.1`` on the replay network, refused before any network opens.
* ``empty scan``: a scan of one address where the recording has nothing: the whole fixed cost of
  a scan (imports, data a scan needs whatever it finds, the store, the replay network), the
  start-up figure of issue 17 (goal: at most 0.3 s).
* ``to the sweep``: the empty scan's process from its start until the scan begins (the moment
  ``Scan.run`` is entered, where the first probe can leave): start-up without the scan itself,
  the results' storing and display and the interpreter's exit.
* ``one camera``: a scan of one recorded camera (pcaps/hikvision-ds2cd), identified, checked and
  stored: start-up plus everything identifying a first device loads (signatures, Recog, the maker
  catalogue, the ONVIF message layer).

``--no-cache`` runs with $CAMSCAN_NO_CACHE=1 (the compiled signature data built from the files
each time). Usage: python bench/startup.py [--runs N] [--no-cache]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECORDING = Path(__file__).resolve().parents[1] / "pcaps" / "hikvision-ds2cd.pcapng"
CAMERA = "198.18.90.2"  # the camera in that recording
NOBODY = "198.18.90.6"  # an address of the recording's lab where nothing answered


# Runs camscan's command line, ending the process (printing the time) as the scan begins.
UNTIL_THE_SWEEP = """
import os, sys, time
import camscan.scanner
from camscan.cli import main

async def begin(scan):
    os.write(1, f"sweep at {time.time()!r}".encode())
    os._exit(0)

camscan.scanner.Scan.run = begin
sys.argv[0] = "camscan"
main()
"""


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one command; with UNTIL_THE_SWEEP, wall time up to the sweep."""
    with tempfile.TemporaryFile() as out:
        started, started_at = time.perf_counter(), time.time()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _pid, _status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        said = out.read()
    if said.startswith(b"sweep at "):
        wall = float(said.removeprefix(b"sweep at ")) - started_at
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-cache", action="store_true", help="build the signature data from its files each time")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.no_cache:
        env["CAMSCAN_NO_CACHE"] = "1"
    isolate = ["unshare", "--net"] if os.geteuid() == 0 else []
    camscan = [sys.executable, "-m", "camscan"]
    with tempfile.TemporaryDirectory() as workdir:
        def scan(target: str, name: str) -> list[str]:
            return [*isolate, *camscan, "scan", target, "--replay", str(RECORDING), "--yes", "--json",
                    "--db", os.path.join(workdir, f"{name}.db")]

        figures = {
            "scan --help": [*camscan, "scan", "--help"],
            "refused scope": [*isolate, *camscan, "scan", "0.0.0.1", "--replay", str(RECORDING),
                              "--db", os.path.join(workdir, "refused.db")],
            "empty scan": scan(NOBODY, "empty"),
            "to the sweep": [*scan(NOBODY, "sweep")[:len(isolate)], sys.executable, "-c", UNTIL_THE_SWEEP,
                             *scan(NOBODY, "sweep")[len(isolate) + 3:]],
            "one camera": scan(CAMERA, "camera"),
        }
        run_once(figures["one camera"], env)  # fills the cache (a no-op with --no-cache)
        print(f"{'figure':<16}{'best wall s':>12}{'median wall s':>15}{'median CPU s':>14}   ({args.runs} runs"
              f"{', no cache' if args.no_cache else ''})")
        for name, argv in figures.items():
            walls, cpus = zip(*(run_once(argv, env) for _ in range(args.runs)))
            print(f"{name:<16}{min(walls):>12.3f}{statistics.median(walls):>15.3f}{statistics.median(cpus):>14.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
