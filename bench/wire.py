"""What the benchmarks see on the wire: tcpdump on a lab scanner's interface, and when each packet left."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from typing import Protocol


class Lab(Protocol):
    interface: str

    def exec_argv(self, argv: Sequence[str]) -> list[str]: ...


def start_capture(lab: Lab, pcap: str, expression: str) -> subprocess.Popen:
    """tcpdump of the packets ``expression`` chooses on the scanner's interface, returned once it listens."""
    capture = subprocess.Popen(lab.exec_argv(["tcpdump", "-i", lab.interface, "-n", "-B", "65536", "--immediate-mode",
                                              "-U", "-w", pcap, expression]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert capture.stderr is not None
    while "listening on" not in capture.stderr.readline():
        if capture.poll() is not None:
            raise SystemExit("tcpdump did not start")
    return capture


def stop_capture(capture: subprocess.Popen) -> None:
    """Stop tcpdump once the last packets have reached the file."""
    time.sleep(0.5)
    capture.send_signal(signal.SIGINT)
    capture.wait(timeout=30)


def packet_times(pcap: str) -> list[float]:
    """When each captured packet left, read back with tcpdump."""
    listing = subprocess.run(["tcpdump", "-r", pcap, "-n", "-tt", "-q"], capture_output=True, text=True).stdout
    return [float(line.split(" ", 1)[0]) for line in listing.splitlines() if line[:1].isdigit()]
