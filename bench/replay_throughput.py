"""Benchmark: replay throughput, live hosts per second after start-up, on a 1,000-host recording.

The recording is a real one: ``--make`` has bench/scan_lab.py build its 1,000-host namespace lab
(``--hosts 1000 --network 198.18.0.0/22``), scan it with ``--record`` and keep the recording
(root, under the lab lock: ``sudo flock /tmp/camscan-lab.lock python bench/replay_throughput.py
--make``); without it, ``--recording`` names one made that way earlier. Each run replays the whole
network in an empty network namespace (when root) and counts the devices found. Start-up is
bench/startup.py's "empty scan" (a scan finding nothing on the replay network); throughput is
live hosts / (replay wall time - start-up wall time), best of ``--runs``. Goal (issue 17): at
least 1,000 live hosts/s. Usage: python bench/replay_throughput.py [--recording PATH] [--make] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from startup import NOBODY, RECORDING as SMALL_RECORDING  # bench/ is the script's directory

BENCH = Path(__file__).resolve().parent
NETWORK = "198.18.0.0/22"
HOSTS = 1000


def timed(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system, children included) and standard output of a command."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(argv)}")
        out.seek(0)
        return seconds, usage.ru_utime + usage.ru_stime, out.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recording", default="/tmp/camscan-bench-1000.pcapng")
    parser.add_argument("--make", action="store_true", help="record the 1,000-host lab first (root)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.make:
        subprocess.run([sys.executable, str(BENCH / "scan_lab.py"), "--hosts", str(HOSTS), "--network", NETWORK,
                        "--no-nmap", "--replay", "--recording", args.recording], check=True)
    if not os.path.exists(args.recording):
        raise SystemExit(f"no recording at {args.recording}: make one with --make (root)")
    isolate = ["unshare", "--net"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory() as workdir:
        def scan(target: str, recording: str) -> list[str]:
            db = os.path.join(workdir, "replay.db")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(db + suffix):
                    os.unlink(db + suffix)
            return [*isolate, sys.executable, "-m", "camscan", "scan", target, "--replay", recording, "--db", db,
                    "--yes", "--json"]

        timed(scan(NOBODY, str(SMALL_RECORDING)))  # fills the data cache
        startup = min(timed(scan(NOBODY, str(SMALL_RECORDING)))[0] for _ in range(args.runs))
        runs = [timed(scan(NETWORK, args.recording)) for _ in range(args.runs)]
    wall, cpu, output = min(runs)
    live = sum(1 for device in json.loads(output) if device.get("ip"))
    print(f"recording {args.recording}: {os.path.getsize(args.recording) / 1e6:.1f} MB; {live} devices found")
    print(f"replay of {NETWORK}: best {wall:.2f} s wall ({', '.join(f'{run[0]:.2f}' for run in runs)}), {cpu:.2f} s CPU")
    print(f"start-up (empty scan): {startup:.2f} s")
    print(f"throughput after start-up: {live / max(wall - startup, 1e-9):,.0f} live hosts/s (goal: 1,000)")


if __name__ == "__main__":
    main()
