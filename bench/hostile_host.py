"""Benchmark: what one hostile device costs a scan (issue 12, part 5).

The hostile device (``camscan_lab/hostile_profiles.yaml``) has every default camera port
open and answers each in a costly way: 1-byte writes of a 4 MiB body, a body trickled a
byte a millisecond, headers that never end, a body that never ends, valid answers given
just under the timeout. Its twin has the same ports and sends the same replies, whole and
at once (``prompt``; the slow services answer at once). Two figures:

(a) CPU seconds of the camscan process per host: the hostile device scanned alone, against
    its twin scanned alone (and, for scale, a hikvision-ds2cd camera and the average host of
    a generated lab, each from a scan of many); each is the scan's CPU time (user + system,
    from ``wait4``) less that of a scan of one address where nothing listens (interpreter
    start, signatures, store), divided by the hosts scanned.
(b) A scan of a generated lab of normal hosts with and without the hostile device: when the
    normal hosts are finished, i.e. when the lab last served any of them (the last
    connection to a normal host ended), counted from the scan's start. These scans run at
    ``--rate 300`` (``--lab-rate``), so that the normal hosts are still being scanned while
    camscan reads from the hostile device (at the default rate they are all done in ~3 s,
    before the hostile device's slow services have let it be identified and checked).

Every scan runs with ``--no-discovery`` (so that a host is finished when its last TCP
conversation is, which the lab sees) and otherwise camscan's defaults. The hostile device
(or its twin) is served from a process of its own, so that its byte-at-a-time writes do not
slow the normal hosts' lab. Everything lives on 127.88.0.0/24 inside a network namespace of
its own that holds nothing but a loopback interface: nothing reaches, or collides with, any
other network. Needs root; run it under the lab lock:

    sudo flock /tmp/camscan-lab.lock .venv/bin/python bench/hostile_host.py

``--pythonpath DIR`` scans with the camscan found in DIR (for example an exported copy of
another revision's ``src``) to compare revisions on the same lab.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from camscan_lab import hostile
from camscan_lab.loopback import LoopbackLab
from camscan_lab.profiles import LabHost, build_hosts, generate_lab, load_profiles

NETWORK = "127.88.0.0/24"
HOSTILE_IP = "127.88.0.200"
HOSTILE_PROFILES = Path(hostile.__file__).with_name("hostile_profiles.yaml")
ISOLATED = "CAMSCAN_BENCH_ISOLATED"


CAMERAS = 10  # hikvision-ds2cd cameras scanned together for the per-camera figure


@dataclass
class Scan:
    cpu: float  # seconds of CPU (user + system) the camscan process used
    wall: float
    normal_done: float | None  # seconds from the start until the lab last served a normal host
    spread: str = ""  # normal_done of every run, when there were several


def hostile_host() -> LabHost:
    [profile] = load_profiles(HOSTILE_PROFILES)
    return LabHost(ip=HOSTILE_IP, mac="02:00:5e:88:00:c8", profile=profile.name, services=profile.services,
                   truth={**profile.truth, "profile": profile.name}, serial="HOSTILE00000001")


def twin(host: LabHost) -> LabHost:
    """The hostile device well behaved: the same ports and replies, each sent whole and at once."""
    services = {}
    for port, spec in host.services.items():
        mode = spec.get("hostile")
        well_behaved = {key: value for key, value in spec.items() if key != "hostile"}
        services[port] = well_behaved if mode in (None, "slow") else {**well_behaved, "hostile": "prompt"}
    return replace(host, profile=f"{host.profile}-twin", services=services)


def _serve_until_stopped(hosts: list[LabHost], ready, stop) -> None:
    with LoopbackLab(hosts):
        ready.set()
        stop.wait()


@contextmanager
def served_elsewhere(hosts: list[LabHost]):
    """Serve ``hosts`` from a process of its own for the length of the ``with`` block."""
    if not hosts:
        yield
        return
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    server = multiprocessing.Process(target=_serve_until_stopped, args=(hosts, ready, stop), daemon=True)
    server.start()
    try:
        if not ready.wait(60):
            raise SystemExit("the hostile device's lab did not start")
        yield
    finally:
        stop.set()
        server.join(30)


def scan(hosts: list[LabHost], apart: list[LabHost], targets: list[str], pythonpath: str | None,
         options: tuple[str, ...] = ()) -> Scan:
    """Serve ``hosts`` here and ``apart`` from another process, and scan ``targets`` with camscan."""
    env = dict(os.environ, PYTHONPATH=pythonpath) if pythonpath else None
    lab = LoopbackLab(hosts)
    with lab, served_elsewhere(apart), tempfile.TemporaryDirectory() as workdir:
        argv = [sys.executable, "-m", "camscan", "scan", *targets, "--db", os.path.join(workdir, "bench.db"),
                "--yes", "--json", "--no-discovery", *options]
        started = time.monotonic()
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"camscan scan failed: {process.stderr.read().decode(errors='replace')}")
        served = list(lab.runtime.last_served.values())
    return Scan(usage.ru_utime + usage.ru_stime, wall, max(served) - started if served else None)


def median_scan(repeat: int, hosts: list[LabHost], apart: list[LabHost], targets: list[str],
                pythonpath: str | None, options: tuple[str, ...] = ()) -> Scan:
    runs = [scan(hosts, apart, targets, pythonpath, options) for _ in range(repeat)]
    done = [run.normal_done for run in runs if run.normal_done is not None]
    return Scan(statistics.median(run.cpu for run in runs), statistics.median(run.wall for run in runs),
                statistics.median(done) if done else None, " ".join(f"{at:.2f}" for at in sorted(done)))


def isolate() -> None:
    """Run this benchmark again in a network namespace of its own with only loopback up."""
    if os.geteuid() != 0:
        raise SystemExit("the lab listens on ports below 1024 in a network namespace of its own: run it as root")
    if os.environ.get(ISOLATED):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    argv = ["unshare", "--net", "--", sys.executable, *sys.argv]
    raise SystemExit(subprocess.run(argv, env=dict(os.environ, **{ISOLATED: "1"})).returncode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100, help="normal hosts in the lab")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="scans of each kind; the median is reported")
    parser.add_argument("--pythonpath", help="scan with the camscan package found in this directory")
    parser.add_argument("--lab-rate", type=float, default=300.0,
                        help="--rate of the lab scans in (b): slow enough that the normal hosts are still being "
                             "scanned while camscan is busy with the hostile device")
    args = parser.parse_args()
    isolate()

    normal = generate_lab(args.hosts, NETWORK, args.seed)
    cameras = build_hosts(["hikvision-ds2cd"] * CAMERAS, NETWORK)
    hostile = hostile_host()
    everyone = [host.ip for host in normal] + [HOSTILE_IP]
    print(f"lab: {len(normal)} normal hosts on {NETWORK} (seed {args.seed}), the hostile device on {HOSTILE_IP} "
          f"({len(hostile.services)} ports open); median of {args.repeat} scans each", flush=True)

    def cpu_above(nothing: Scan, run: Scan, hosts: int = 1) -> float:
        return (run.cpu - nothing.cpu) / hosts

    nothing = median_scan(args.repeat, [], [], [HOSTILE_IP], args.pythonpath)
    print(f"scan of one address with nothing on it: {nothing.cpu:.2f} s CPU (subtracted below)", flush=True)
    attacked = median_scan(args.repeat, [], [hostile], [HOSTILE_IP], args.pythonpath)
    behaved = median_scan(args.repeat, [], [twin(hostile)], [HOSTILE_IP], args.pythonpath)
    alone = median_scan(args.repeat, cameras, [], [camera.ip for camera in cameras], args.pythonpath)
    per_hostile, per_twin = cpu_above(nothing, attacked), cpu_above(nothing, behaved)
    print(f"(a) CPU per host: hostile device {per_hostile:.3f} s (its scan {attacked.wall:.1f} s), "
          f"its well-behaved twin {per_twin:.3f} s (scan {behaved.wall:.1f} s): "
          f"{per_hostile / per_twin:.2f}x  (goal: at most 2x)")
    print(f"    for scale: a hikvision-ds2cd camera {cpu_above(nothing, alone, CAMERAS):.3f} s "
          f"(scan of {CAMERAS} {alone.wall:.1f} s)", flush=True)
    rate = ("--rate", str(args.lab_rate))
    lab_alone = median_scan(args.repeat, normal, [], everyone, args.pythonpath, rate)
    lab_attacked = median_scan(args.repeat, normal, [hostile], everyone, args.pythonpath, rate)
    print(f"    average host of the generated lab {cpu_above(nothing, lab_alone, len(normal)):.3f} s")
    print(f"(b) normal hosts finished after {lab_alone.normal_done:.2f} s alone, {lab_attacked.normal_done:.2f} s "
          f"with the hostile device: {lab_attacked.normal_done / lab_alone.normal_done - 1:+.1%}  (goal: at most +10%)")
    print(f"    every run: alone {lab_alone.spread}; with the hostile device {lab_attacked.spread}")
    print(f"    whole scan {lab_alone.wall:.1f} s alone, {lab_attacked.wall:.1f} s with the hostile device; "
          f"CPU {lab_alone.cpu:.2f} s and {lab_attacked.cpu:.2f} s")


if __name__ == "__main__":
    main()
