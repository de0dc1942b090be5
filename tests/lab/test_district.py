"""The district end to end with the real parts: redis-server (password, AOF, 127.0.0.1), `camscan
sensor` Celery workers as subprocesses, `camscan dispatch` and `camscan collect`.

Two sensors each scan their own namespace lab (198.18.212.0/28, 198.18.213.0/28); faults:
a target outside a sensor's scope (refused, reported, nothing sent: tcpdump in its namespace),
unsigned and foreign-signed tasks (never run), a sensor killed mid-scan (its task delivered
again after the visibility timeout), Redis restarted mid-run, a result delivered twice, and
the broker over TLS. The loopback tests scan 127.80.x addresses with a listener that stalls
each conversation for the scan's --timeout, so a scan is reliably still running when struck.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capture import start_capture, stop_capture
from district import District, Redis, camscan
from labs import torn_down_lab

from camscan.lab.profiles import generate_lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespace labs and lab listeners need root")

SITE_A, SITE_B = "School A", "School B"
NETWORK_A, NETWORK_B = "198.18.212.0/28", "198.18.213.0/28"
OUTSIDE_A = "198.18.212.12"  # in lab A's network, outside sensor A's scope (198.18.212.0/29)
STALLING = "127.80.1.5"  # a loopback listener that accepts and never answers
STALL_SECONDS = 5


@pytest.fixture
def redis(tmp_path):
    server = Redis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def district(tmp_path, redis):
    central = District(tmp_path, redis)
    yield central
    central.stop()


def scans_of(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT uuid, status FROM scans ORDER BY id").fetchall()
    conn.close()
    return rows


def wait_for(condition, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def events(district: District, kind: str) -> list[dict]:
    return [event for event in district.state()["events"] if event["kind"] == kind]


def test_two_sites_sensors_make_one_inventory_and_refuse_what_their_scope_does_not_hold(district, tmp_path):
    hosts_a, hosts_b = generate_lab(3, NETWORK_A, seed=11), generate_lab(3, NETWORK_B, seed=12)
    assert not {h.mac for h in hosts_a} & {h.mac for h in hosts_b}
    with torn_down_lab(hosts_a, "csda", NETWORK_A) as lab_a, torn_down_lab(hosts_b, "csdb", NETWORK_B) as lab_b:
        db_a = district.add_sensor("sensor-a", SITE_A, ["198.18.212.0/29"], netns=lab_a.scanner_netns)
        district.add_sensor("sensor-b", SITE_B, [NETWORK_B], netns=lab_b.scanner_netns)
        scan_options = ("--ports", "80,554,8000", "--no-checks", "--timeout", "1")
        [scan_a] = district.dispatch("--site", SITE_A, *scan_options, "198.18.212.0/29")
        [scan_b] = district.dispatch("--site", SITE_B, *scan_options, NETWORK_B)
        assert scan_a["scan_uuid"] != scan_b["scan_uuid"]

        pcap = tmp_path / "sensor-a.pcap"
        capture = start_capture(lab_a, pcap)
        try:
            [outside] = district.dispatch("--site", SITE_A, *scan_options, OUTSIDE_A)
            district.collect_until(lambda: len(district.scans()) == 2 and events(district, "refused"))
        finally:
            stop_capture(capture)
        sent = subprocess.run(["tcpdump", "-n", "-r", str(pcap), f"host {OUTSIDE_A}"],
                              capture_output=True, text=True, check=True).stdout
        assert sent == "", sent  # the refused target got not one packet (no ARP for it either)
        [refused] = events(district, "refused")
        assert (refused["scan_uuid"], refused["site"]) == (outside["scan_uuid"], SITE_A)
        assert "outside this sensor's scope" in refused["detail"]
        assert outside["scan_uuid"] not in {uuid for uuid, _ in scans_of(db_a)}

        inventory = district.inventory()
        assert sorted((device["site"], device["ip"]) for device in inventory) == sorted(
            [(SITE_A, h.ip) for h in hosts_a] + [(SITE_B, h.ip) for h in hosts_b])  # each device exactly once
        assert {device["mac"] for device in inventory} == {h.mac.lower() for h in hosts_a + hosts_b}
        sensors = {row["name"]: row for row in district.state()["sensors"]}
        assert sensors["sensor-a"]["last_scan_uuid"] == scan_a["scan_uuid"] and sensors["sensor-b"]["last_heartbeat"]

        # The same task delivered again (its scan UUID): the sensor publishes its result again, collect adds nothing.
        send_again(district, scan_a)
        district.collect_until(lambda: len([e for e in events(district, "result")
                                            if e["scan_uuid"] == scan_a["scan_uuid"]]) == 2)
        assert len(district.scans()) == 2 and len(district.inventory()) == len(inventory)
        assert [uuid for uuid, _ in scans_of(db_a)].count(scan_a["scan_uuid"]) == 1
        again = [e for e in events(district, "result") if e["scan_uuid"] == scan_a["scan_uuid"]][-1]
        assert again["detail"].startswith("delivered again 0 scan(s) added")


def send_again(district: District, request: dict, key: str = "central") -> None:
    """Send ``request`` as it is (its scan UUID too) to its site's queue, signed with ``key``'s key."""
    code = (
        "import json, sys\n"
        "from camscan.district.queue import Broker, celery_app, dispatch\n"
        "app = celery_app(Broker(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[3])\n"
        "dispatch(app, [json.loads(sys.argv[4])])\n"
    )
    keys = district.directory / "keys"
    subprocess.run([sys.executable, "-c", code, district.redis.url, str(keys / f"{key}.key"),
                    str(keys / f"{key}.pem"), json.dumps(request)], check=True, timeout=60)
