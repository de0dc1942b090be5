"""Benchmark: camscan against nmap on a namespace lab of emulated cameras and other hosts.

Builds a lab (default 200 hosts in a /22 on 198.18.0.0/15, inside network namespaces with
no route out), then times `camscan scan`, `nmap -sS` and `nmap -sV` from the lab's scanner
namespace over the same addresses and ports, and prints wall time, peak memory and vendor
accuracy for each. Needs root. Usage: sudo .venv/bin/python bench/scan_lab.py [--hosts N]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import nmap

from camscan.fingerprint.vendors import default_catalogue
from camscan_lab.netns import NamespaceLab
from camscan_lab.profiles import generate_lab
from camscan_lab.score import score, without_timestamps
from camscan.probes.ports import DEFAULT_PORTS


@dataclass
class Run:
    name: str
    seconds: float
    peak_mb: float
    output: str


def timed(name: str, argv: list[str]) -> Run:
    """Run a command, returning its wall time, peak resident memory and standard output."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed (exit {os.waitstatus_to_exitcode(status)}): {' '.join(argv)}")
    return Run(name, seconds, usage.ru_maxrss / 1024, output)


def exported(db: str) -> list[dict]:
    """``camscan export`` of a database, timestamps and row ids removed."""
    out = subprocess.run([sys.executable, "-m", "camscan", "export", "--db", db, "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    devices = [{k: v for k, v in device.items() if k != "id"} for device in without_timestamps(json.loads(out))]
    return sorted(devices, key=lambda device: ipaddress.ip_address(device["ip"]))


def identifiable_cameras(hosts) -> list:
    return [host for host in hosts if host.is_camera and host.identifiable]


def nmap_accuracy(hosts, xml: str) -> float:
    """Share of identifiable cameras whose maker appears anywhere in nmap's view of the host."""
    catalogue = default_catalogue()
    scanner = nmap.PortScanner()
    result = scanner.analyse_nmap_xml_scan(xml)["scan"]
    cameras = identifiable_cameras(hosts)
    right = 0
    for host in cameras:
        seen = json.dumps(result.get(host.ip, {})).lower()
        keys = {host.truth.get("vendor"), host.truth.get("manufacturer")} - {None}
        names = keys | {vendor.name.lower() for key in keys if (vendor := catalogue.get(key))}
        if any(name in seen for name in names):
            right += 1
    return right / max(1, len(cameras))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--network", default="198.18.0.0/22")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-nmap", action="store_true", help="time camscan only")
    parser.add_argument("--no-version-scan", action="store_true", help="skip nmap -sV (slow)")
    parser.add_argument("--camscan-args", default="", help="extra options for camscan scan, e.g. '--rate 10000'")
    parser.add_argument("--explain", action="store_true", help="list camscan's misses and false cameras")
    parser.add_argument("--replay", action="store_true",
                        help="record camscan's scan (--record), replay it (--replay, in an empty network namespace) "
                             "and compare the two exported inventories")
    parser.add_argument("--recording", help="with --replay: keep the recording at this path (default: a temporary file)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the benchmark builds network namespaces: run it as root")

    hosts = generate_lab(args.hosts, args.network, args.seed)
    ports = ",".join(str(port) for port in sorted(DEFAULT_PORTS))
    runs: list[tuple[Run, str]] = []

    def report(run: Run, accuracy: str) -> None:
        runs.append((run, accuracy))
        print(f"{run.name:<14}{run.seconds:>9.2f}{run.peak_mb:>10.1f}  {accuracy}", flush=True)

    cameras = len(identifiable_cameras(hosts))
    print(f"lab: {len(hosts)} hosts in {args.network}, {cameras} identifiable cameras/recorders, "
          f"{sum(1 for h in hosts if not h.is_camera)} non-cameras; {len(DEFAULT_PORTS)} ports")
    print(f"{'tool':<14}{'wall s':>9}{'peak MB':>10}  vendor accuracy", flush=True)
    with NamespaceLab(hosts, network=args.network) as lab, tempfile.TemporaryDirectory() as workdir:
        db = os.path.join(workdir, "bench.db")
        recording = args.recording or os.path.join(workdir, "scan.pcapng")
        record = ["--record", recording] if args.replay else []
        scan = timed("camscan scan", lab.exec_argv([sys.executable, "-m", "camscan", "scan", args.network,
                                                    "--db", db, "--yes", "--json", *record,
                                                    *args.camscan_args.split()]))
        result = score(hosts, json.loads(scan.output))
        report(scan, f"{result.accuracy:.1%} of cameras' makers, {result.type_accuracy:.1%} of their kinds; "
                     f"{result.false_cameras} non-cameras called cameras, {result.wrong_makers} hosts another's maker; "
                     f"model from discovery for {result.model_accuracy:.1%} of {result.with_discovery_model} cameras")
        if args.explain:
            print("\n".join(result.problems))
        if args.replay:
            replayed_db = os.path.join(workdir, "replay.db")
            # An empty network namespace: the replay could not send anything even if it tried.
            replay = timed("camscan replay", ["unshare", "--net", sys.executable, "-m", "camscan", "scan", args.network,
                                              "--db", replayed_db, "--yes", "--json", "--replay", recording,
                                              *args.camscan_args.split()])
            live, replayed = exported(db), exported(replayed_db)
            same = live == replayed
            if not same and args.explain:
                for before, after in zip(live, replayed):
                    for key in before:
                        if before[key] != after.get(key):
                            print(f"replay differs at {before['ip']} {key}: {before[key]!r:.300} vs {after.get(key)!r:.300}")
            addresses = ipaddress.ip_network(args.network).num_addresses
            report(replay, f"{os.path.getsize(recording) / 1e6:.1f} MB recording; {replay.seconds * 1000 / addresses:.2f} s "
                           f"per 1,000 addresses, {replay.seconds * 1000 / max(1, len(live)):.1f} ms per device found; "
                           f"inventory {'identical to' if same else 'DIFFERENT from'} the live scan's")
        def report_import(nmap_run: Run, flag: str) -> None:
            """camscan's identification of nmap's own report (camscan import-nmap), scored like the rest."""
            xml = os.path.join(workdir, f"nmap{flag}.xml")
            with open(xml, "w") as handle:
                handle.write(nmap_run.output)
            imported = timed(f"import {flag}", [sys.executable, "-m", "camscan", "import-nmap", xml,
                                                "--db", os.path.join(workdir, f"nmap{flag}.db"), "--json"])
            judged = score(hosts, json.loads(imported.output))
            report(imported, f"{judged.accuracy:.1%} of cameras' makers from nmap {flag}'s report; "
                             f"{judged.false_cameras} non-cameras called cameras")

        if not args.no_nmap and shutil.which("nmap"):
            base = ["nmap", "-n", "-T4", "-p", ports, "-oX", "-"]
            syn = timed("nmap -sS", lab.exec_argv(base + ["-sS", args.network]))
            report(syn, f"{nmap_accuracy(hosts, syn.output):.1%} (MAC vendor only)")
            report_import(syn, "-sS")
            if not args.no_version_scan:
                version = timed("nmap -sV", lab.exec_argv(base + ["-sV", args.network]))
                report(version, f"{nmap_accuracy(hosts, version.output):.1%} (MAC vendor + service info)")
                report_import(version, "-sV")

    syn_runs = [run for run, _ in runs if run.name == "nmap -sS"]
    if syn_runs:
        print(f"camscan / nmap -sS wall-time ratio: {runs[0][0].seconds / syn_runs[0].seconds:.2f}")


if __name__ == "__main__":
    main()
