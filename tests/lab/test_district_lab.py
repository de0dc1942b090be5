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

from camscan_lab.profiles import generate_lab

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


@pytest.fixture
def stalling_listener():
    """A listener whose connections the kernel accepts and nobody answers: each probe waits out --timeout."""
    listener = socket.create_server((STALLING, 80), backlog=64)
    yield STALLING
    listener.close()


STALLING_SCAN = ("--ports", "80", "--no-discovery", "--no-checks", "--timeout", str(STALL_SECONDS))


def loopback_sensor(district: District, name: str = "sensor-l", **kwargs) -> Path:
    return district.add_sensor(name, "Loopback", ["127.80.1.0/29"], **kwargs)


def test_unsigned_and_foreign_signed_tasks_never_run(district):
    db = loopback_sensor(district)
    assert camscan("keygen", "intruder", "--dir", str(district.directory / "keys")).returncode == 0
    unsigned = {"scan_uuid": "6f1c1e4e-0000-4000-8000-000000000001", "site": "Loopback", "targets": ["127.80.1.2"],
                "options": {"ports": "80", "discovery": False, "checks": []}}
    foreign = {**unsigned, "scan_uuid": "6f1c1e4e-0000-4000-8000-000000000002"}
    code = ("import json, sys\n"
            "from celery import Celery\n"
            "app = Celery('plain', broker=sys.argv[1], set_as_current=False)\n"
            "request = json.loads(sys.argv[2])\n"
            "app.send_task('camscan.scan', args=[request], queue='camscan.site.Loopback',\n"
            "              task_id=request['scan_uuid'])\n")
    subprocess.run([sys.executable, "-c", code, district.redis.url, json.dumps(unsigned)], check=True, timeout=60)
    send_again(district, foreign, key="intruder")
    [signed] = district.dispatch("--site", "Loopback", "--ports", "80", "--no-discovery", "--no-checks",
                                 "--timeout", "0.5", "127.80.1.2")
    district.collect_until(lambda: len(district.scans()) == 1)
    assert [uuid for uuid, _ in scans_of(db)] == [signed["scan_uuid"]]  # the other two never ran
    log = district.log("sensor-l")
    assert "Refusing to deserialize untrusted content of type json" in log, log[-3000:]
    assert "Unknown certificate: b'intruder" in log, log[-3000:]
    assert district.sensors["sensor-l"].poll() is None  # refused them and went on

    [broken] = district.dispatch("--site", "Loopback", "--ports", "70000", "127.80.1.2")  # the scan cannot start
    district.collect_until(lambda: events(district, "failed"))
    [failed] = events(district, "failed")
    assert failed["scan_uuid"] == broken["scan_uuid"] and "the scan exited with 1" in failed["detail"], failed


def test_a_sensor_killed_mid_scan_gets_its_task_again_and_the_scan_is_stored_once(district, stalling_listener):
    db = loopback_sensor(district, visibility_timeout=8)
    [request] = district.dispatch("--site", "Loopback", *STALLING_SCAN, "127.80.1.2", STALLING)
    wait_for(lambda: (request["scan_uuid"], "running") in scans_of(db), 60, "the scan to start")
    district.kill_sensor("sensor-l")
    loopback_sensor(district, visibility_timeout=8)  # the sensor comes back; the broker delivers the task again
    district.collect_until(lambda: any(scan["uuid"] == request["scan_uuid"] for scan in district.scans()), limit=90)
    [stored] = district.scans()
    assert (stored["uuid"], stored["status"]) == (request["scan_uuid"], "complete")
    assert scans_of(db) == [(request["scan_uuid"], "complete")]  # resumed under its own id, not a second scan
    assert district.log("sensor-l").count(f"Task camscan.scan[{request['scan_uuid']}] received") == 2


def test_redis_restarted_mid_run_loses_nothing_and_duplicates_nothing(district, stalling_listener):
    loopback_sensor(district, visibility_timeout=8)
    requests = [district.dispatch("--site", "Loopback", *STALLING_SCAN, target)[0]
                for target in (STALLING, "127.80.1.3")]
    collector = subprocess.Popen([sys.executable, "-m", "camscan", "collect", "--db", str(district.db),
                                  "--until-idle", "25"], env={**os.environ, **district.env},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # the first scan is running, the second waits in the queue
        district.redis.restart()
        wait_for(lambda: {scan["uuid"] for scan in district.scans()} == {r["scan_uuid"] for r in requests}, 120,
                 "both scans in the district inventory")
    finally:
        collector.terminate()
        collector.wait(timeout=30)
    assert sorted(scan["uuid"] for scan in district.scans()) == sorted(r["scan_uuid"] for r in requests)


def test_the_broker_over_tls_with_a_password(tmp_path):
    import redis as redis_client

    server = Redis(tmp_path, tls=True)
    server.start()
    central = District(tmp_path, server)
    try:
        with pytest.raises(redis_client.exceptions.ConnectionError):
            redis_client.Redis(port=server.port, password="district-test-password", socket_timeout=2).ping()
        loopback_sensor(central)
        [request] = central.dispatch("--site", "Loopback", "--ports", "80", "--no-discovery", "--no-checks",
                                     "--timeout", "0.5", "127.80.1.2")
        central.collect_until(lambda: len(central.scans()) == 1)
        assert central.scans()[0]["uuid"] == request["scan_uuid"]
    finally:
        central.stop()
        server.stop()


def test_a_recurring_scan_runs_each_time_as_a_new_scan(district):
    loopback_sensor(district)
    scheduled = camscan("dispatch", *district.central, "--db", str(district.db), "--site", "Loopback",
                        "--schedule", "3", "--ports", "80", "--no-discovery", "--no-checks", "--timeout", "0.5",
                        "127.80.1.2", env=district.env)
    assert scheduled.returncode == 0 and "schedule 1: Loopback" in scheduled.stdout, scheduled.stderr
    beat = subprocess.Popen([sys.executable, "-m", "camscan", "beat", "--db", str(district.db), *district.central],
                            env={**os.environ, **district.env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        district.collect_until(lambda: len(district.scans()) >= 2, idle=1, limit=60)
    finally:
        beat.terminate()
        beat.wait(timeout=30)
    scans = district.scans()
    assert len({scan["uuid"] for scan in scans}) == len(scans) >= 2
    assert all(scan["site"] == "Loopback" and scan["targets"] == ["127.80.1.2"] for scan in scans)


def test_a_sites_scan_split_in_shards_is_shared_by_its_sensors(district):
    stalling = [socket.create_server((address, 80), backlog=64) for address in ("127.80.1.5", "127.80.1.6")]
    try:
        databases = [loopback_sensor(district, name) for name in ("sensor-l", "sensor-m")]
        wait_for(lambda: all("ready." in district.log(name) for name in ("sensor-l", "sensor-m")), 60,
                 "both sensors to be ready")
        requests = district.dispatch("--site", "Loopback", "--shards", "2", *STALLING_SCAN, "127.80.1.5-6")
        assert [r["targets"] for r in requests] == [["127.80.1.5"], ["127.80.1.6"]]
        district.collect_until(lambda: len(district.scans()) == 2)
    finally:
        for listener in stalling:
            listener.close()
    # each sensor, busy with one shard for STALL_SECONDS, left the other to the other sensor
    assert sorted(uuid for db in databases for uuid, _ in scans_of(db)) == sorted(r["scan_uuid"] for r in requests)
    assert all(len(scans_of(db)) == 1 for db in databases)
