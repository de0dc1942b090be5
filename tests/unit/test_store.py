"""The store: schema, identity across scans, interrupted scans, and refusing bad files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timezone

import pytest

from camscan.model import Device, Evidence, Identification, Observation, Service
from camscan.store import SCHEMA_VERSION, STALE_SECONDS, Store, StoreError
from inventory import Clock

HIK_IP = "198.18.0.10"
HIK_MAC = "44:19:b6:01:02:03"
T0 = datetime(2026, 11, 29, 5, 45, 31, tzinfo=timezone.utc)


def hik_observations(ip: str = HIK_IP) -> list[Observation]:
    at = T0.timestamp()
    return [
        Observation(ip, "http", "http.server", "App-webs/", 80, observed_at=at),
        Observation(ip, "http", "http.www_authenticate", 'Digest realm="IP Camera(C6532)"', 80, observed_at=at),
        Observation(ip, "rtsp", "rtsp.server", "Hikvision RTSP Server", 554, observed_at=at + 1),
        Observation(ip, "arp", "mac.address", HIK_MAC, None, transport="l2", observed_at=at + 2),
    ]


def hikvision(ip: str = HIK_IP, mac: str | None = HIK_MAC, model: str | None = "DS-2CD2043G2-I",
              mac_seen: bool = True) -> Device:
    """The camera; its MAC from ARP (``mac_seen``) or, without, as it claims it (SADP)."""
    return Device(
        ip=ip,
        mac=mac,
        mac_seen=mac_seen,
        services=[
            Service(ip, 554, "rtsp", banner="Hikvision RTSP Server"),
            Service(ip, 80, "http", banner="App-webs/"),
        ],
        observations=hik_observations(ip),
        identification=Identification(
            vendor="hikvision",
            manufacturer="hikvision",
            model=model,
            firmware="V5.7.3",
            device_type="ip-camera",
            confidence=0.9361,
            ndaa_889=True,
            ndaa_basis="manufacturer hikvision (http.server 'App-webs/' via signature hikvision-webs)",
            evidence=[
                Evidence("http", "http.server", "App-webs/", "hikvision-webs", 0.8, 80,
                         (("manufacturer", "hikvision"),)),
                Evidence("rtsp", "rtsp.server", "Hikvision RTSP Server", "hikvision-rtsp", 0.7, 554,
                         (("manufacturer", "hikvision"), ("device_type", "ip-camera"))),
            ],
        ),
    )


def dahua_nvr(ip: str = "198.18.0.2") -> Device:
    return Device(
        ip=ip,
        mac="3c:ef:8c:aa:bb:cc",
        services=[Service(ip, 37777, "dhip"), Service(ip, 554, "rtsp", banner="Dahua Rtsp Server")],
        identification=Identification(
            vendor="dahua", manufacturer="dahua", device_type="nvr", confidence=0.85,
            evidence=[Evidence("rtsp", "rtsp.server", "Dahua Rtsp Server", "dahua-rtsp", 0.8, 554)],
        ),
    )


def printer(ip: str = "198.18.0.200") -> Device:
    return Device(
        ip=ip,
        services=[Service(ip, 631, "ipp")],
        identification=Identification(vendor="hp", manufacturer="hp", device_type="printer", confidence=0.6),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(tmp_path, clock):
    with Store(tmp_path / "camscan.db", clock=clock) as opened:
        yield opened


def raw_status(path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT status FROM scans").fetchone()[0]


def count(path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# --- recording and reading back --------------------------------------------------------


def test_record_and_read_back_export_shape(store):
    scan = store.start_scan(["198.18.0.0/24"], {"ports": [80, 554], "rate": 100})
    store.record_observations(scan, hik_observations())
    device_id = store.record_device(scan, hikvision())
    store.finish_scan(scan)

    [device] = store.devices()
    assert device == {
        "id": device_id,
        "ip": HIK_IP,
        "mac": HIK_MAC,
        "vendor": "hikvision",
        "manufacturer": "hikvision",
        "model": "DS-2CD2043G2-I",
        "firmware": "V5.7.3",
        "device_type": "ip-camera",
        "is_camera": True,
        "confidence": 0.94,
        "ndaa_889": True,
        "ndaa_basis": "manufacturer hikvision (http.server 'App-webs/' via signature hikvision-webs)",
        "site": None,
        "first_seen": "2026-11-29T05:45:31Z",
        "last_seen": "2026-11-29T05:45:31Z",
        "attached_to": None, "channel": None, "connection": None, "video": None, "reported_ip": None,
        "channels": None, "channel_count": None,
        "services": [
            {"port": 80, "protocol": "http", "transport": "tcp", "banner": "App-webs/"},
            {"port": 554, "protocol": "rtsp", "transport": "tcp", "banner": "Hikvision RTSP Server"},
        ],
        "evidence": [
            {"source": "http", "field": "http.server", "value": "App-webs/",
             "signature": "hikvision-webs", "weight": 0.8, "port": 80},
            {"source": "rtsp", "field": "rtsp.server", "value": "Hikvision RTSP Server",
             "signature": "hikvision-rtsp", "weight": 0.7, "port": 554},
        ],
        "findings": [],
    }

    [row] = store.scans()
    assert row["status"] == "complete"
    assert row["targets"] == ["198.18.0.0/24"]
    assert row["parameters"] == {"ports": [80, 554], "rate": 100}
    assert row["started_at"] == row["finished_at"] == "2026-11-29T05:45:31Z"
    assert (row["host_count"], row["device_count"]) == (1, 1)


def test_schema_is_versioned_in_wal_mode_with_readable_tables(tmp_path):
    path = tmp_path / "camscan.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        meta = dict(conn.execute("SELECT key, value FROM camscan_meta"))
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        device_columns = [row[1] for row in conn.execute("PRAGMA table_info(devices)")]
    assert meta["application"] == "camscan" and meta["schema_version"] == str(SCHEMA_VERSION)
    assert {"scans", "devices", "services", "observations", "evidence", "sightings", "findings"} <= tables
    assert {"ip", "mac", "manufacturer", "model", "is_camera", "first_seen", "last_scan_id"} <= set(device_columns)


def test_sets_of_evidence_stored_as_json(store, tmp_path):
    scan = store.start_scan([HIK_IP], {})
    store.record_device(scan, hikvision())
    with sqlite3.connect(tmp_path / "camscan.db") as conn:
        sets = [row[0] for row in conn.execute("SELECT sets FROM evidence ORDER BY id")]
    assert sets == ['{"manufacturer": "hikvision"}', '{"device_type": "ip-camera", "manufacturer": "hikvision"}']


# --- identity across scans -------------------------------------------------------------


def test_second_scan_moves_last_seen_and_duplicates_nothing(store, clock, tmp_path):
    first = store.start_scan(["198.18.0.0/24"], {})
    store.record_observations(first, hik_observations())
    first_id = store.record_device(first, hikvision())
    store.finish_scan(first)

    clock.advance(days=1)
    second = store.start_scan(["198.18.0.0/24"], {})
    store.record_observations(second, hik_observations())
    store.record_observations(second, hik_observations())  # a probe repeating itself
    second_id = store.record_device(second, hikvision())
    store.record_device(second, hikvision())  # recorded twice in one scan
    store.finish_scan(second)

    assert first_id == second_id
    [device] = store.devices()
    assert device["first_seen"] == "2026-11-29T05:45:31Z"
    assert device["last_seen"] == "2026-11-30T05:45:31Z"
    path = tmp_path / "camscan.db"
    assert count(path, "devices") == 1
    assert count(path, "services") == 2
    assert count(path, "observations") == 2 * len(hik_observations())  # once per scan
    assert count(path, "evidence") == 2
    assert count(path, "sightings") == 2
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT DISTINCT first_seen, last_scan_id FROM services").fetchall() == [
            ("2026-11-29T05:45:31Z", second)
        ]


def test_device_that_moved_ip_is_updated_by_mac(store, clock):
    first = store.start_scan([HIK_IP], {})
    device_id = store.record_device(first, hikvision())
    clock.advance(hours=2)
    second = store.start_scan(["198.18.0.0/24"], {})
    moved = hikvision(ip="198.18.0.77", mac="44-19-B6-01-02-03")  # another spelling of the MAC
    assert store.record_device(second, moved) == device_id

    [device] = store.devices()
    assert (device["ip"], device["mac"]) == ("198.18.0.77", HIK_MAC)
    assert store.device(HIK_IP) is None
    assert store.device("44:19:B6:01:02:03")["id"] == device_id


def test_a_mac_a_routed_device_claims_does_not_move_the_device_arp_saw_with_it(store, clock):
    first = store.start_scan(["198.18.0.0/24"], {})
    camera = store.record_device(first, hikvision())
    store.finish_scan(first)
    clock.advance(hours=1)
    second = store.start_scan(["198.18.0.0/24", "198.18.9.0/24"], {})
    impostor = store.record_device(second, hikvision("198.18.9.9", mac_seen=False))  # routed: no ARP
    assert store.record_device(second, hikvision()) == camera != impostor
    store.finish_scan(second)
    assert {d["ip"]: d["mac"] for d in store.devices()} == {HIK_IP: HIK_MAC, "198.18.9.9": None}
    diff = store.diff(first, second)
    assert (diff["moved"], [d["ip"] for d in diff["new"]], diff["gone"]) == ([], ["198.18.9.9"], [])


def test_arp_takes_a_mac_from_the_address_that_only_claimed_it_in_the_same_scan(store):
    scan = store.start_scan(["198.18.0.0/24", "198.18.9.0/24"], {})
    impostor = store.record_device(scan, hikvision("198.18.9.9", mac_seen=False))
    camera = store.record_device(scan, hikvision())
    assert camera != impostor
    assert {d["ip"]: d["mac"] for d in store.devices()} == {HIK_IP: HIK_MAC, "198.18.9.9": None}
    assert store.record_device(scan, hikvision("198.18.9.9", mac_seen=False)) == impostor  # stored again: the same


def test_two_addresses_claiming_one_mac_stay_two_devices_scan_after_scan(store, clock):
    ids = []
    for _ in range(2):
        scan = store.start_scan(["198.18.9.0/24"], {})
        ids.append([store.record_device(scan, hikvision(ip, mac_seen=False)) for ip in ("198.18.9.9", "198.18.9.10")])
        store.finish_scan(scan)
        clock.advance(hours=1)
    assert ids[0] == ids[1] and len(set(ids[0])) == 2
    assert store.diff(1, 2)["moved"] == []


def test_a_device_claiming_its_mac_is_followed_to_its_new_address_in_a_later_scan(store, clock):
    first = store.start_scan(["198.18.9.0/24"], {})
    device_id = store.record_device(first, hikvision("198.18.9.9", mac_seen=False))
    clock.advance(hours=1)
    second = store.start_scan(["198.18.9.0/24"], {})
    assert store.record_device(second, hikvision("198.18.9.50", mac_seen=False)) == device_id
    third = store.start_scan(["198.18.0.0/24"], {})
    assert store.record_device(third, hikvision()) == device_id  # then ARP vouches for it at another
    assert [(d["ip"], d["mac"]) for d in store.devices()] == [(HIK_IP, HIK_MAC)]


def test_device_without_mac_matched_by_ip(store, clock):
    first = store.start_scan(["198.18.0.0/24"], {})
    printer_id = store.record_device(first, printer())
    clock.advance(minutes=30)
    second = store.start_scan(["198.18.0.0/24"], {})
    assert store.record_device(second, printer()) == printer_id
    # a different MAC-less address is a different device
    assert store.record_device(second, printer("198.18.0.201")) != printer_id
    assert [d["ip"] for d in store.devices()] == ["198.18.0.200", "198.18.0.201"]


def test_mac_learned_later_adopts_the_record_at_that_ip(store):
    scan = store.start_scan([HIK_IP], {})
    without_mac = store.record_device(scan, hikvision(mac=None))
    assert store.record_device(scan, hikvision()) == without_mac
    assert store.device(HIK_IP)["mac"] == HIK_MAC


def test_scan_without_mac_keeps_device_known_by_mac(store):
    # e.g. a routed scan after one on the same LAN: no ARP, same camera
    first = store.start_scan([HIK_IP], {})
    device_id = store.record_device(first, hikvision())
    second = store.start_scan([HIK_IP], {})
    assert store.record_device(second, hikvision(mac=None)) == device_id
    assert [d["mac"] for d in store.devices()] == [HIK_MAC]


def test_port_only_rescan_keeps_identification(store):
    first = store.start_scan([HIK_IP], {})
    store.record_device(first, hikvision())
    second = store.start_scan([HIK_IP], {})
    store.record_device(second, Device(HIK_IP, HIK_MAC, services=[Service(HIK_IP, 443, "https")]))
    device = store.device(HIK_IP)
    assert (device["model"], device["confidence"], len(device["evidence"])) == ("DS-2CD2043G2-I", 0.94, 2)
    assert [s["port"] for s in device["services"]] == [443]  # what is open now


def test_new_identification_replaces_evidence(store):
    first = store.start_scan([HIK_IP], {})
    store.record_device(first, hikvision())
    second = store.start_scan([HIK_IP], {})
    newer = hikvision(model="DS-2CD2387G2-LU")
    newer.identification.evidence = newer.identification.evidence[:1]
    store.record_device(second, newer)
    device = store.device(HIK_MAC)
    assert device["model"] == "DS-2CD2387G2-LU"
    assert [e["signature"] for e in device["evidence"]] == ["hikvision-webs"]


# --- interrupted scans -----------------------------------------------------------------


def test_interrupted_scan_keeps_its_observations(tmp_path):
    path = tmp_path / "camscan.db"
    killed = Store(path)
    scan = killed.start_scan(["198.18.0.0/24"], {"ports": [80]})
    killed.record_observations(scan, hik_observations())
    # the process dies here: no finish_scan, no close

    with Store(path) as reopened:
        [row] = reopened.scans()
        assert (row["id"], row["status"], row["finished_at"]) == (scan, "running", None)
        assert count(path, "observations") == len(hik_observations())
        reopened.finish_scan(scan, "interrupted")
        [row] = reopened.scans()
        assert (row["status"], row["host_count"], row["device_count"]) == ("interrupted", 1, 0)
    killed.close()


def test_a_running_scan_whose_heartbeat_stopped_reads_as_interrupted_and_the_next_writer_records_it(tmp_path, clock):
    path = tmp_path / "camscan.db"
    with Store(path, clock=clock) as killed:
        scan = killed.start_scan([HIK_IP], {})
        killed.record_device(scan, hikvision())
        clock.advance(seconds=STALE_SECONDS - 1)
        killed.heartbeat(scan)
    clock.advance(seconds=STALE_SECONDS - 1)
    with Store(path, clock=clock, read_only=True) as reader:
        assert [row["status"] for row in reader.scans()] == ["running"]  # heard from 4 s ago: alive
    clock.advance(seconds=2)
    with Store(path, clock=clock, read_only=True) as reader:
        [row] = reader.scans()
        assert (row["status"], row["finished_at"]) == ("interrupted", "2026-11-29T05:45:35Z")
        assert reader.diff(scan, scan)["scan_a"]["status"] == "interrupted"
    assert raw_status(path) == "running"  # a read recorded nothing
    with Store(path, clock=clock) as writer:
        assert writer.record_abandoned_scans() == [scan]
        [row] = writer.scans()
    assert raw_status(path) == "interrupted"
    assert (row["finished_at"], row["host_count"], row["device_count"]) == ("2026-11-29T05:45:35Z", 1, 1)


def test_a_scan_whose_process_on_this_machine_is_gone_is_interrupted_at_once(store):
    scan = store.start_scan([HIK_IP], {})
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    store.db.execute("UPDATE scans SET pid = ? WHERE id = ?", [child.pid, scan])
    assert [row["status"] for row in store.scans()] == ["interrupted"]


def test_a_heartbeat_brings_back_a_scan_recorded_as_interrupted_while_it_was_stalled(store, clock):
    scan = store.start_scan([HIK_IP], {})
    clock.advance(seconds=STALE_SECONDS + 1)
    assert store.record_abandoned_scans() == [scan]
    store.heartbeat(scan)
    [row] = store.scans()
    assert (row["status"], row["finished_at"]) == ("running", None)


def test_a_read_only_store_cannot_write(store):
    scan = store.start_scan([HIK_IP], {})
    with Store(store.path, read_only=True) as reader:
        with pytest.raises(StoreError, match="readonly"):
            reader.record_device(scan, hikvision())


def test_two_writers_take_turns_instead_of_failing_as_locked(tmp_path):
    path = tmp_path / "camscan.db"
    Store(path).close()
    failures = []

    def scan_subnet(subnet: int) -> None:
        try:
            with Store(path) as writer:
                scan = writer.start_scan([f"198.18.{subnet}.0/24"], {})
                for host in range(1, 101):
                    writer.record_device(scan, printer(f"198.18.{subnet}.{host}"))
                writer.finish_scan(scan)
        except StoreError as error:
            failures.append(error)

    writers = [threading.Thread(target=scan_subnet, args=(subnet,)) for subnet in (1, 2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == []
    assert count(path, "devices") == 200


def test_grouped_commits_write_together_and_keep_everything_done_when_left(store):
    scan = store.start_scan([HIK_IP], {})
    with store.grouped_commits(interval=3600):
        store.record_device(scan, hikvision())
        assert count(store.path, "devices") == 0  # not committed yet: another reader sees nothing
        store.record_device(scan, dahua_nvr())
    assert count(store.path, "devices") == 2


def test_grouped_commits_commit_when_the_interval_has_passed(store):
    scan = store.start_scan([HIK_IP], {})
    with store.grouped_commits(interval=0):
        store.record_device(scan, hikvision())
        assert count(store.path, "devices") == 1


def test_a_failed_call_in_a_group_undoes_only_itself_and_an_interrupt_keeps_the_rest(store):
    scan = store.start_scan([HIK_IP], {})
    with pytest.raises(KeyboardInterrupt), store.grouped_commits(interval=3600):
        store.record_device(scan, hikvision())
        with pytest.raises(StoreError, match="no scan 99"):
            store.record_device(99, dahua_nvr())
        store.record_observations(scan, hik_observations("198.18.0.11"))
        raise KeyboardInterrupt
    assert count(store.path, "devices") == 1
    assert count(store.path, "observations") == 2 * len(hik_observations())
    store.finish_scan(scan, "interrupted")
    assert [row["status"] for row in store.scans()] == ["interrupted"]


def test_observations_arriving_after_their_device_are_linked(store):
    scan = store.start_scan([HIK_IP], {})
    device_id = store.record_device(scan, Device(HIK_IP, HIK_MAC))
    store.record_observations(scan, [Observation(HIK_IP, "tls", "tls.subject", "CN=IPC", 443)])
    store.record_observations(scan, [Observation("198.18.0.11", "http", "http.server", "nginx", 80)])
    observations = store.device(HIK_IP)["observations"]
    assert [o["field"] for o in observations] == ["tls.subject"]
    assert store.device("198.18.0.11") is None
    assert device_id == store.device(HIK_MAC)["id"]


def test_finish_scan_rejects_unknown_status_and_unknown_scan(store):
    scan = store.start_scan([HIK_IP], {})
    with pytest.raises(ValueError):
        store.finish_scan(scan, "done")
    with pytest.raises(StoreError, match="no scan 999"):
        store.finish_scan(999)
    with pytest.raises(StoreError, match="no scan 999"):
        store.record_observations(999, hik_observations())


# --- reading ----------------------------------------------------------------------------


def test_device_returns_observations_latest_scan_first(store, clock):
    first = store.start_scan([HIK_IP], {})
    store.record_observations(first, hik_observations())
    store.record_device(first, hikvision())
    clock.advance(days=1)
    second = store.start_scan([HIK_IP], {})
    store.record_device(second, hikvision())  # its own observations come with it

    device = store.device(HIK_IP)
    assert device["services"][0]["port"] == 80
    observations = device["observations"]
    assert len(observations) == 2 * len(hik_observations())
    assert [o["scan_id"] for o in observations] == [second] * 4 + [first] * 4
    assert observations[0] == {
        "scan_id": second, "ip": HIK_IP, "source": "http", "field": "http.server", "value": "App-webs/",
        "port": 80, "transport": "tcp", "observed_at": "2026-11-29T05:45:31Z",
    }
    assert observations[3]["port"] is None and observations[3]["transport"] == "l2"
    assert store.device("198.18.0.99") is None
    assert store.device("00:11:22:33:44:55") is None


def test_devices_filters_and_orders_by_ip_numerically(store):
    scan = store.start_scan(["198.18.0.0/24"], {})
    store.record_device(scan, printer("198.18.0.200"))
    store.record_device(scan, hikvision())  # .10
    store.record_device(scan, dahua_nvr("198.18.0.2"))
    store.record_device(scan, Device("198.18.0.9", identification=Identification(
        vendor="annke", manufacturer="hikvision", device_type="dvr", confidence=0.7)))

    assert [d["ip"] for d in store.devices()] == ["198.18.0.2", "198.18.0.9", "198.18.0.10", "198.18.0.200"]
    assert [d["ip"] for d in store.devices(cameras_only=True)] == ["198.18.0.2", "198.18.0.9", "198.18.0.10"]
    assert [d["ip"] for d in store.devices(vendor="hikvision")] == ["198.18.0.9", "198.18.0.10"]
    assert [d["ip"] for d in store.devices(vendor="Annke")] == ["198.18.0.9"]
    assert [d["ip"] for d in store.devices(device_type="nvr")] == ["198.18.0.2"]
    assert store.devices(vendor="dahua", device_type="ip-camera") == []
    assert store.devices(device_type="printer")[0]["is_camera"] is False


# --- bad files ----------------------------------------------------------------------------


def assert_refused(path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreError, match=match) as raised:
        Store(path)
    assert str(path) in str(raised.value)
    assert "--db" in str(raised.value) or "upgrade" in str(raised.value)
    assert path.read_bytes() == before


def test_random_bytes_are_refused_untouched(tmp_path):
    path = tmp_path / "scan.db"
    path.write_bytes(os.urandom(8192))
    assert_refused(path, "not a camscan database")


def test_text_file_is_refused_untouched(tmp_path):
    path = tmp_path / "targets.txt"
    path.write_text("198.18.0.0/24\n198.18.1.0/24\n")
    assert_refused(path, "not a camscan database")


def test_damaged_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "camscan.db"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    assert_refused(path, "damaged")


def test_corrupted_camscan_database_is_refused_untouched(tmp_path):
    path = tmp_path / "camscan.db"
    with Store(path) as store:
        store.start_scan([HIK_IP], {})
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(3996)  # the schema page
    path.write_bytes(bytes(data))
    assert_refused(path, "damaged")


def test_foreign_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "photos.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO photos (name) VALUES ('cat.jpg')")
    conn.close()
    assert_refused(path, "another application")


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "camscan.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    assert_refused(path, "newer camscan")


def test_directory_is_refused(tmp_path):
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)


def test_creates_parent_directory_and_accepts_empty_file(tmp_path):
    Store(tmp_path / "new" / "dir" / "camscan.db").close()
    assert (tmp_path / "new" / "dir" / "camscan.db").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    with Store(empty) as store:
        assert store.scans() == []


def test_reopening_keeps_data_and_schema(tmp_path):
    path = tmp_path / "camscan.db"
    with Store(path) as store:
        scan = store.start_scan([HIK_IP], {"rate": 50}, site="warehouse")
        store.record_device(scan, hikvision())
        store.finish_scan(scan)
    with Store(path) as store:
        assert store.scans()[0]["site"] == "warehouse"
        assert store.device(HIK_MAC)["ip"] == HIK_IP


def test_export_lists_only_services_open_at_the_latest_scan(store, clock):
    first = store.start_scan(["198.18.0.0/24"], {})
    store.record_device(first, hikvision())
    store.finish_scan(first)
    clock.advance(days=1)
    second = store.start_scan(["198.18.0.0/24"], {})
    closed_rtsp = hikvision()
    closed_rtsp.services = [service for service in closed_rtsp.services if service.port != 554]
    store.record_device(second, closed_rtsp)
    store.finish_scan(second)
    [device] = store.devices()
    assert [service["port"] for service in device["services"]] == [80]


def test_a_database_that_lost_its_id_says_so_instead_of_stamping_scans_none(store):
    """A scan's origin is ``database id:scan id``; without the id it was "None:1", which two such
    databases would share, so a merge would take one's scan for the other's."""
    store.db.execute("DELETE FROM camscan_meta WHERE key = 'database_id'")
    with pytest.raises(StoreError, match="lost the database id"):
        store.start_scan(["198.18.0.0/24"], {})
