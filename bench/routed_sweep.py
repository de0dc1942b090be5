"""Benchmark: a large routed sweep, camscan's stateless SYN sweep beside nmap -sS, in one run.

Builds a routed lab (camscan_lab.routed): a /16 of 198.18.0.0/15 behind a router namespace
that drops every address but 20 live hosts (no ARP, no route out), two ports, some open
on each live host. Then, from the scanner namespace, times `camscan scan --rate R
--no-discovery --no-checks`, `nmap -sS --min-rate R` and the same with -Pn (no host
discovery) over the same block and ports,
and prints for each: wall time, peak memory, the SYNs of its sweep (counted by tcpdump on
the scanner's interface, up to its first pause of a second) and the rate they left at, and whether it found the 20 live hosts.
Needs root. Usage: sudo .venv/bin/python bench/routed_sweep.py [--rate 10000] [--no-nmap]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import nmap

from camscan_lab.routed import SCANNER_ADDRESS, RoutedLab
from wire import packet_times, start_capture, stop_capture

BLOCK = "198.19.0.0/16"
PORTS = (80, 554)
LIVE_HOSTS = 20


@dataclass
class Run:
    name: str
    seconds: float
    peak_mb: float
    syns: int
    burst_syns: int
    burst_seconds: float
    found: set[str]


def live_hosts(seed: int) -> dict[str, list[int]]:
    """20 addresses spread over the block, each with one or both of the two ports open."""
    chooser = random.Random(seed)
    addresses = chooser.sample(list(ipaddress.ip_network(BLOCK).hosts()), LIVE_HOSTS)
    return {str(ip): sorted(chooser.choice([[80], [554], [80, 554]])) for ip in addresses}


def measured(lab: RoutedLab, name: str, argv: list[str], workdir: str, found_in) -> Run:
    """Run ``argv`` in the scanner's namespace while tcpdump counts its SYNs; wall time and peak memory."""
    pcap = os.path.join(workdir, f"{name.split()[0]}.pcap")
    capture = start_capture(lab, pcap, f"src host {SCANNER_ADDRESS} and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn")
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(lab.exec_argv(argv), stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    stop_capture(capture)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed (exit {os.waitstatus_to_exitcode(status)}): {' '.join(argv)}")
    times = packet_times(pcap)
    burst = first_burst(times)
    return Run(name, seconds, usage.ru_maxrss / 1024, len(times), len(burst), burst[-1] - burst[0] if burst else 0.0,
               found_in(output))


def first_burst(times: list[float], gap: float = 1.0) -> list[float]:
    """The SYNs of the sweep itself: those before the first pause of ``gap`` seconds (after
    it come the connections to the open ports, or a scanner's late retransmissions)."""
    for index in range(1, len(times)):
        if times[index] - times[index - 1] > gap:
            return times[:index]
    return times


def camscan_found(output: str) -> set[str]:
    return {device["ip"] for device in json.loads(output) if device["services"]}


def nmap_found(output: str) -> set[str]:
    result = nmap.PortScanner().analyse_nmap_xml_scan(output)["scan"]
    return {ip for ip, host in result.items()
            if any(state["state"] == "open" for state in host.get("tcp", {}).values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10000.0, help="probes per second for both (default 10000)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--no-nmap", action="store_true", help="time camscan only")
    args = parser.parse_args()
    truth = live_hosts(args.seed)
    ports = ",".join(map(str, PORTS))
    probes = len(list(ipaddress.ip_network(BLOCK).hosts())) * len(PORTS)  # the network and broadcast addresses are not swept
    print(f"{BLOCK} behind a router, {LIVE_HOSTS} live hosts, ports {ports}: {probes:,} probes; "
          f"at {args.rate:g}/s the bound is {probes / args.rate:.1f} s")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as workdir, RoutedLab(BLOCK, truth, prefix="csbench") as lab:
        runs.append(measured(lab, "camscan scan", [
            sys.executable, "-m", "camscan", "scan", BLOCK, "--ports", ports, "--rate", f"{args.rate:g}",
            "--no-discovery", "--no-checks", "--yes", "--json", "--db", os.path.join(workdir, "camscan.db")],
            workdir, camscan_found))
        if not args.no_nmap and shutil.which("nmap"):
            nmap_argv = ["nmap", "-sS", "-n", "--min-rate", f"{args.rate:g}", "-p", ports, "-oX", "-", BLOCK]
            runs.append(measured(lab, "nmap -sS", nmap_argv, workdir, nmap_found))
            # Without host discovery nmap, like camscan, sends every port its SYN at once.
            runs.append(measured(lab, "nmap -sS -Pn", [*nmap_argv, "-Pn"], workdir, nmap_found))
    print(f"{'':<14}{'wall s':>8}{'peak MB':>9}{'all SYNs':>10}{'1st burst':>10}{'SYNs/s':>9}{'of rate':>9}"
          "  live hosts found")
    for run in runs:
        rate = (run.burst_syns - 1) / run.burst_seconds if run.burst_seconds else 0.0
        verdict = "all 20" if run.found == set(truth) else f"{len(run.found & set(truth))} of 20, {len(run.found - set(truth))} wrong"
        print(f"{run.name:<14}{run.seconds:>8.1f}{run.peak_mb:>9.0f}{run.syns:>10,}{run.burst_syns:>10,}{rate:>9,.0f}"
              f"{rate / args.rate:>9.0%}  {verdict}")
    print("(1st burst: the SYNs up to the first pause of a second; camscan's is its whole sweep, "
          "nmap's without -Pn its host discovery)")
    for nmap_run in runs[1:]:
        print(f"camscan / {nmap_run.name} wall-time ratio: {runs[0].seconds / nmap_run.seconds:.2f}")


if __name__ == "__main__":
    main()
