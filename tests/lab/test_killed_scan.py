"""A scan killed (SIGKILL) while a host stalls it: nothing found before is lost, the scan
reads as interrupted, and a second scan of the same database runs beside it and after it.

Loopback lab (127.x, real sockets, no ARP); the stalling host is a listener that completes
TCP handshakes in the kernel and never answers, so its conversations wait out --timeout.
"""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from camscan_lab.loopback import LoopbackLab
from camscan_lab.profiles import generate_lab

NETWORK = "127.79.3.0/29"
STALLING_HOST = "127.79.3.6"
STALL_SECONDS = 30  # --timeout: each conversation with the stalling host waits this long
KILL_AFTER_SECONDS = 8  # the other hosts answer in well under a second

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="lab devices listen on ports below 1024")


def camscan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "camscan", *args], capture_output=True, text=True, timeout=120)


def test_a_killed_scan_keeps_every_finished_host_and_a_second_scan_runs(tmp_path):
    hosts = [host for host in generate_lab(4, NETWORK, seed=5) if host.ip != STALLING_HOST]
    answering = {host.ip for host in hosts if host.ports}
    assert answering
    db = tmp_path / "killed.db"
    stalling = socket.create_server((STALLING_HOST, 80), backlog=64)  # accepted by the kernel, never read
    try:
        with LoopbackLab(hosts):
            killed = subprocess.Popen(
                [sys.executable, "-m", "camscan", "scan", NETWORK, "--db", str(db), "--timeout", str(STALL_SECONDS),
                 "--no-discovery", "--no-checks"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(KILL_AFTER_SECONDS / 2)
                # A second scan while the first is stalled: it waits its turn at each write, never "locked".
                beside = camscan("scan", *sorted(answering), "--db", str(db), "--no-discovery", "--no-checks",
                                 "--json")
                assert beside.returncode == 0, beside.stderr
                time.sleep(max(0.0, KILL_AFTER_SECONDS / 2 - 1))
                assert killed.poll() is None, killed.stderr.read()  # still stalled
                killed.send_signal(signal.SIGKILL)
                killed.wait()
            finally:
                if killed.poll() is None:
                    killed.kill()
                killed.stderr.close()

            with sqlite3.connect(db) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert conn.execute("SELECT status FROM scans WHERE id = 1").fetchone()[0] == "running"
                found_by_killed = {row[0] for row in conn.execute("SELECT ip FROM sightings WHERE scan_id = 1")}
            conn.close()
            assert answering <= found_by_killed

            scans = {scan["id"]: scan for scan in json.loads(camscan("scans", "--db", str(db), "--json").stdout)}
            assert (scans[1]["status"], scans[2]["status"]) == ("interrupted", "complete")
            devices = json.loads(camscan("devices", "--db", str(db), "--json").stdout)
            assert answering <= {device["ip"] for device in devices}

            after = camscan("scan", *sorted(answering), "--db", str(db), "--no-discovery", "--no-checks", "--json")
            assert after.returncode == 0, after.stderr
    finally:
        stalling.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id, status FROM scans ORDER BY id").fetchall() == [
            (1, "interrupted"), (2, "complete"), (3, "complete")]
    conn.close()
