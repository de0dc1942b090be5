"""Benchmark: camscan's ARP sweep of a /22 namespace lab at a given --arp-rate.

Builds the namespace lab of bench/scan_lab.py (default 200 hosts in 198.18.0.0/22, no route
out), then runs the live transport's ARP sweep alone from the scanner's namespace and prints
how long its first pass over the /22's addresses took on the wire (tcpdump on the scanner's
interface; against addresses / rate), how many live hosts answered and when the last did,
and the whole sweep with its second pass to the silent addresses and the last wait. Needs root.
Usage: sudo .venv/bin/python bench/arp_sweep.py [--arp-rate 2000] [--hosts 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from camscan_lab.netns import NamespaceLab
from camscan_lab.profiles import generate_lab
from wire import packet_times, start_capture, stop_capture

# Run inside the scanner's namespace: the sweep, timed from its start.
_SWEEP = """
import asyncio, ipaddress, json, sys, time
from camscan.scope import Scope
from camscan.transport.live import LiveTransport

network, interface, rate, wait = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
scope = Scope([network])
targets = [str(ip) for ip in ipaddress.ip_network(network).hosts()]
replies = []

async def sweep():
    started = time.perf_counter()
    await LiveTransport(scope, 10000, 512, 2.0).arp_sweep(
        interface, targets, lambda seen: replies.append(time.perf_counter() - started), wait, rate)
    return time.perf_counter() - started

total = asyncio.run(sweep())
print(json.dumps({"targets": len(targets), "answered": len(replies), "last_reply": max(replies, default=0.0),
                  "total": total}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arp-rate", type=float, default=2000.0)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--network", default="198.18.0.0/22")
    parser.add_argument("--wait", type=float, default=0.5, help="seconds each request is given (camscan's default)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, NamespaceLab(
            generate_lab(args.hosts, args.network, args.seed), network=args.network) as lab:
        pcap = os.path.join(workdir, "requests.pcap")
        capture = start_capture(lab, pcap, f"arp[6:2] = 1 and ether src {lab.scanner_mac}")
        result = subprocess.run(lab.exec_argv([sys.executable, "-c", _SWEEP, args.network, lab.interface,
                                               f"{args.arp_rate:g}", f"{args.wait:g}"]),
                                capture_output=True, text=True, check=True)
        stop_capture(capture)
        sent = packet_times(pcap)
    figures = json.loads(result.stdout)
    asked = figures["targets"] - 1  # the scanner's own address is not asked
    first_pass = sent[asked - 1] - sent[0] if len(sent) >= asked else float("nan")
    print(f"ARP sweep of {args.network} ({asked} addresses, {args.hosts} live) at {args.arp_rate:g}/s:")
    print(f"  first pass: {first_pass:.3f} s on the wire ({asked / args.arp_rate:.3f} s due), "
          f"{(asked - 1) / first_pass:,.0f} requests/s; {figures['answered']} of {args.hosts} answered, "
          f"the last {figures['last_reply']:.2f} s after the start")
    print(f"  whole sweep, with the second pass to the {len(sent) - asked} silent and the last {args.wait:g} s wait: "
          f"{figures['total']:.2f} s; {len(sent)} requests in all")


if __name__ == "__main__":
    main()
