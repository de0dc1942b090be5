"""tcpdump inside a lab's scanner namespace, for tests that check what a scan sent."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from camscan_lab import NamespaceLab


def start_capture(lab: NamespaceLab, pcap: Path) -> subprocess.Popen:
    """tcpdump on the scanner's interface, inside its namespace; returns once it listens."""
    argv = lab.exec_argv(["tcpdump", "-i", lab.interface, "-n", "-U", "-Z", "root", "-w", str(pcap)])
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    said = b""
    deadline = time.monotonic() + 10
    while b"listening on" not in said:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"tcpdump did not start: {said.decode(errors='replace')}")
        ready, _, _ = select.select([process.stderr], [], [], 0.2)
        if ready:
            said += os.read(process.stderr.fileno(), 4096)
    return process


def stop_capture(process: subprocess.Popen) -> str:
    time.sleep(0.3)  # let the last replies land in the capture
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err.decode(errors="replace")
