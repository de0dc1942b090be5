"""Benchmark: reading a large capture with camscan (reader alone, and `camscan passive`) beside tshark.

Generates a capture (default 250,000 packets) of lab devices' real reply bytes: ARP, WS-Discovery,
SADP, DHIP and SSDP replies, HTTP page and snapshot downloads, RTSP OPTIONS/DESCRIBE. Each
conversation is built once with scapy, then repeated with a new client port and time, and
written with scapy's RawPcapWriter. Then times, each in its own process:

* ``reader``: camscan.capture.reader.iter_capture over the whole file (what replay and passive build on);
* ``camscan passive``: the CLI, reader + parsers + identification + SQLite store;
* ``tshark -r FILE -q -z io,stat,0`` when tshark is installed (skipped otherwise).

Prints packets/s, MB/s and peak resident memory for each. No network traffic, no root.
Usage: python bench/pcap_throughput.py [--packets N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

# Generation runs in a child process (--write-only): forked children report the parent's
# resident size as their own peak, so the measuring process stays small.
if "--write-only" in sys.argv:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import ARP, Ether
    from scapy.utils import RawPcapWriter

    from camscan_lab.discovery_replies import Site, answer
    from camscan_lab.profiles import generate_lab
    from camscan_lab.servers import http_response, rtsp_reply
    from camscan.protocols import dhip, sadp, ssdp, wsd

NETWORK = "198.18.80.0/24"
MONITOR, MONITOR_MAC = "198.18.80.1", "02:00:00:00:80:01"
SEGMENT = 1448
TCP_PORTS_AT = 34  # Ethernet (14) + IPv4 without options (20): TCP source and destination ports


@dataclass
class Template:
    """One conversation or datagram exchange as frames; ``client_port_at`` marks where its client port sits."""

    frames: list[tuple[bytes, int | None]]  # (frame, offset of the client's port or None)


def _tcp_template(host, port: int, request: bytes, response: bytes) -> Template:
    c = Ether(src=MONITOR_MAC, dst=host.mac) / IP(src=MONITOR, dst=host.ip)
    s = Ether(src=host.mac, dst=MONITOR_MAC) / IP(src=host.ip, dst=MONITOR)
    client_port, c_seq, s_seq = 40000, 1000, 50000
    frames = [(c / TCP(sport=client_port, dport=port, flags="S", seq=c_seq), 0),
              (s / TCP(sport=port, dport=client_port, flags="SA", seq=s_seq, ack=c_seq + 1), 2),
              (c / TCP(sport=client_port, dport=port, flags="PA", seq=c_seq + 1, ack=s_seq + 1) / request, 0)]
    for offset in range(0, len(response), SEGMENT):
        chunk = response[offset : offset + SEGMENT]
        frames.append((s / TCP(sport=port, dport=client_port, flags="PA", seq=s_seq + 1 + offset,
                               ack=c_seq + 1 + len(request)) / chunk, 2))
        if offset // SEGMENT % 2:
            frames.append((c / TCP(sport=client_port, dport=port, flags="A", seq=c_seq + 1 + len(request),
                                   ack=s_seq + 1 + offset + len(chunk)), 0))
    end = s_seq + 1 + len(response)
    frames += [(s / TCP(sport=port, dport=client_port, flags="FA", seq=end, ack=c_seq + 1 + len(request)), 2),
               (c / TCP(sport=client_port, dport=port, flags="FA", seq=c_seq + 1 + len(request), ack=end + 1), 0),
               (s / TCP(sport=port, dport=client_port, flags="A", seq=end + 1, ack=c_seq + 2 + len(request)), 2)]
    return Template([(bytes(frame), TCP_PORTS_AT + side) for frame, side in frames])


def templates(n_hosts: int, seed: int) -> list[Template]:
    """Every exchange the monitor could see with a generated lab of ``n_hosts`` devices."""
    hosts = generate_lab(n_hosts, NETWORK, seed)
    rng = random.Random(seed)
    site = Site(netmask="255.255.255.0")
    found = []
    probes = {wsd.PORT: wsd.build_probe("dn:NetworkVideoTransmitter", "uuid:0b8f5a52-3f0e-4c1a-9d7e-5f4b3a2c1d0e"),
              sadp.PORT: sadp.build_inquiry("5F4B3A2C-1D0E-4C1A-9D7E-0B8F5A523F0E"),
              dhip.PORT: dhip.build_search(9), ssdp.PORT: ssdp.build_msearch("ssdp:all", 1)}
    protocols = {wsd.PORT: "wsd", sadp.PORT: "sadp", dhip.PORT: "dhip", ssdp.PORT: "ssdp"}
    for host in hosts:
        found.append(Template([(bytes(Ether(src=host.mac, dst=MONITOR_MAC) / ARP(
            op=2, hwsrc=host.mac, psrc=host.ip, hwdst=MONITOR_MAC, pdst=MONITOR)), None)]))
        for port, probe in probes.items():
            for payload, _ in answer(protocols[port], probe, (MONITOR, 40000), host, site):
                found.append(Template([(bytes(Ether(src=host.mac, dst=MONITOR_MAC) / IP(src=host.ip, dst=MONITOR)
                                              / UDP(sport=port, dport=40000) / payload), None)]))
        for port, spec in sorted(host.services.items()):
            if spec.get("kind") == "http" and "/" in (spec.get("routes") or {}):
                page = http_response(spec, spec["routes"]["/"], host)
                found.append(_tcp_template(host, port, f"GET / HTTP/1.1\r\nHost: {host.ip}\r\n\r\n".encode(), page))
                snapshot = http_response(spec, {"status": 200, "content_type": "image/jpeg"}, host,
                                         content=rng.randbytes(200_000))
                found.append(_tcp_template(host, port, b"GET /snapshot.jpg HTTP/1.1\r\n\r\n", snapshot))
            elif spec.get("kind") == "rtsp":
                for cseq, method in enumerate(("OPTIONS", "DESCRIBE"), start=1):
                    url = f"rtsp://{host.ip}:{port}/"
                    request = f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\n\r\n".encode()
                    found.append(_tcp_template(host, port, request, rtsp_reply(method, url, str(cseq), spec, host)))
    return found


def write_capture(path: str, packets: int, seed: int) -> int:
    """Repeat the lab's exchanges, each time from a new client port, until ``packets`` frames; bytes written."""
    pool = templates(60, seed)
    rng = random.Random(seed)
    written, moment, client_port = 0, 1_700_000_000.0, 1024
    writer = RawPcapWriter(path, linktype=1)
    writer.write_header(None)
    try:
        while written < packets:
            template = rng.choice(pool)
            client_port = client_port + 1 if client_port < 65535 else 1024
            port_bytes = client_port.to_bytes(2, "big")
            for frame, port_at in template.frames:
                if port_at is not None:
                    frame = frame[:port_at] + port_bytes + frame[port_at + 2 :]
                moment += 0.00001
                writer.write_packet(frame, sec=int(moment), usec=int(moment % 1 * 1e6))
                written += 1
            moment += 0.001
    finally:
        writer.close()
    return written


READER = "import sys\nfrom camscan.capture.reader import iter_capture\nfor _ in iter_capture(sys.argv[1]): pass\n"


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({process.returncode}): {error[-500:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep", help="Write the capture here and keep it (default: a temporary directory).")
    parser.add_argument("--write-only", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_only:
        print(write_capture(args.write_only, args.packets, args.seed))
        return
    directory = args.keep or tempfile.mkdtemp(prefix="camscan-bench-")
    os.makedirs(directory, exist_ok=True)
    try:
        path = os.path.join(directory, "generated.pcap")
        started = time.perf_counter()
        count = int(subprocess.run([sys.executable, __file__, "--write-only", path, "--packets", str(args.packets),
                                    "--seed", str(args.seed)], check=True, capture_output=True, text=True).stdout)
        size_mb = os.path.getsize(path) / 1e6
        print(f"capture: {count} packets, {size_mb:.1f} MB, generated in {time.perf_counter() - started:.1f} s ({path})")
        runs = {
            "camscan reader (iter_capture)": [sys.executable, "-c", READER, path],
            "camscan passive (CLI, to SQLite)": [sys.executable, "-m", "camscan", "passive", path,
                                                 "--db", os.path.join(directory, "passive.db"), "--json"],
        }
        if shutil.which("tshark"):
            runs["tshark -r -q -z io,stat,0"] = ["tshark", "-r", path, "-q", "-z", "io,stat,0"]
        else:
            print("tshark not installed: skipped")
        print(f"{'reader':36} {'seconds':>8} {'packets/s':>11} {'MB/s':>7} {'peak MB':>8}")
        for name, argv in runs.items():
            seconds, peak = measure(argv)
            print(f"{name:36} {seconds:8.2f} {count / seconds:11,.0f} {size_mb / seconds:7.1f} {peak:8.1f}")
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
