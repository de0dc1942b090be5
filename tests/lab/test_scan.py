"""The real ``camscan scan`` CLI against emulated devices in network namespaces.

Every scan runs as a subprocess inside the lab's scanner namespace (``lab.exec_argv``),
which has no route out: all traffic stays on the lab bridge on 198.18.0.0/15. Commands
that only read a database (export, devices, show) run here in the test process's own
namespace; they send nothing. Root and iproute2 are needed; the module skips otherwise.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from camscan_lab import LabHost, NamespaceLab, build_hosts, generate_lab
from camscan_lab.score import score
from camscan.probes.ports import DEFAULT_PORTS
from capture import start_capture, stop_capture
from labs import torn_down_lab

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="namespace labs need root and iproute2"
)

LAB_NETWORK = ipaddress.ip_network("198.18.0.0/15")
FULL_NET = "198.18.8.0/22"  # 60 generated hosts (on 198.18.8.x)
SCOPE_NET = "198.18.12.0/22"  # scope-guard lab: hosts spread over all four /24s
SILENT_NET = "198.18.16.0/24"  # silent and hostile hosts
FULL_SEED = 3
CAMSCAN = [sys.executable, "-m", "camscan"]


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module", autouse=True)
def one_run_at_a_time():
    """Serialise concurrent runs of this module on one machine (e.g. two pytest runs in one
    work tree): each would otherwise delete the other's namespaces, which share prefixes."""
    with open(os.path.join(tempfile.gettempdir(), "camscan-test_scan.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def scan_argv(*args: str) -> list[str]:
    return [*CAMSCAN, "scan", *args]


def run_scan(lab: NamespaceLab, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``camscan scan ARGS`` inside the lab's scanner namespace (the only place a scan may run)."""
    for arg in args:
        if arg[:1].isdigit() and "/" in arg:
            net = ipaddress.ip_network(arg, strict=False)
            assert net.subnet_of(LAB_NETWORK), f"refusing to scan {arg} outside the lab block"
    result = lab.run(scan_argv(*args), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return result


def local_cli(*args: str) -> subprocess.CompletedProcess:
    """A camscan command that only reads or writes a database file (no network)."""
    assert args[0] in ("export", "devices", "show"), args
    return subprocess.run([*CAMSCAN, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def export(db: Path) -> list[dict]:
    result = local_cli("export", "--db", str(db), "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stored_devices(db: Path) -> int:
    """Devices in a database another process is writing (0 while it is not there yet)."""
    if not db.exists():
        return 0
    try:
        return query(db, "SELECT count(*) FROM devices")[0][0]
    except sqlite3.Error:
        return 0


def local_mac(index: int) -> str:
    """A unicast, locally administered MAC unique to this module's custom hosts."""
    return f"02:c5:11:00:{index >> 8:02x}:{index & 0xFF:02x}"


def custom_host(ip: str, index: int, services: dict, name: str, device_type: str = "server") -> LabHost:
    truth = {"vendor": None, "manufacturer": None, "device_type": device_type, "model": None, "firmware": None,
             "identifiable": False, "profile": name}
    return LabHost(ip=ip, mac=local_mac(index), profile=name, services=services, truth=truth)


def placed(profile: str, ip: str, seed: int) -> LabHost:
    """A host of a named profile moved to *ip*."""
    host = build_hosts([profile], "198.18.0.0/24", seed=seed)[0]
    host.ip = ip
    return host


# --------------------------------------------------------------------------- the 60-host lab


@pytest.fixture(scope="module")
def full_lab():
    with torn_down_lab(generate_lab(60, FULL_NET, FULL_SEED), "cslia", FULL_NET) as lab:
        yield lab


@pytest.fixture(scope="module")
def full_scan(full_lab, tmp_path_factory):
    """One complete scan of the whole lab network: (db path, CLI result, seconds)."""
    db = tmp_path_factory.mktemp("full") / "full.db"
    started = time.monotonic()
    result = run_scan(full_lab, FULL_NET, "--db", str(db), "--yes")
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    return db, result, seconds


def test_full_lab_scan_identifies_cameras_and_exports_evidence(full_lab, full_scan):
    db, result, _ = full_scan
    devices = export(db)
    by_ip = {d["ip"]: d for d in devices}
    truth = {h.ip: h for h in full_lab.hosts}
    problems: list[str] = []

    assert set(by_ip) == set(truth), f"missing {sorted(set(truth) - set(by_ip))}, extra {sorted(set(by_ip) - set(truth))}"

    judged = score(full_lab.hosts, devices)
    if judged.accuracy < 0.9 or judged.type_accuracy < 0.9:
        problems.append(f"maker named for {judged.named}, kind for {judged.typed} of {judged.identifiable} "
                        "identifiable cameras: " + "; ".join(judged.problems))

    for host in full_lab.hosts:
        device = by_ip[host.ip]
        if not host.is_camera and device["is_camera"]:
            problems.append(f"{host.ip} {host.profile} (a {host.truth['device_type']}) exported as a camera "
                            f"({device['device_type']}, evidence {[e['signature'] for e in device['evidence']]})")
        if device["mac"] != host.mac.lower():
            problems.append(f"{host.ip}: mac {device['mac']} != lab MAC {host.mac}")
        want_ports = sorted(set(host.ports) & set(DEFAULT_PORTS))
        got_ports = sorted(s["port"] for s in device["services"])
        if got_ports != want_ports:
            problems.append(f"{host.ip} {host.profile}: open ports {got_ports}, lab has {want_ports}")
        if not 0.0 <= device["confidence"] <= 1.0:
            problems.append(f"{host.ip}: confidence {device['confidence']} outside 0..1")
        for service in device["services"]:
            # protocol None: the port said nothing recognisable (never a placeholder such as "unknown")
            if service["transport"] != "tcp" or "protocol" not in service or service["protocol"] in ("", "unknown"):
                problems.append(f"{host.ip}: service {service} lacks its transport, or has a placeholder protocol")
        for item in device["evidence"]:
            if not all(item.get(key) for key in ("source", "field", "value", "signature")):
                problems.append(f"{host.ip}: incomplete evidence {item}")
        if host.is_camera and host.identifiable and not device["evidence"]:
            problems.append(f"{host.ip} {host.profile}: identifiable camera with no evidence")
    assert not problems, "\n".join(problems)
    # the summary line counts what was found
    assert f"{len(devices)} device(s)" in result.stderr


def test_two_scans_make_no_duplicates(full_lab, full_scan, tmp_path):
    first_db, _, _ = full_scan
    db = tmp_path / "twice.db"
    source = sqlite3.connect(first_db)
    target = sqlite3.connect(db)
    source.backup(target)  # the first scan, copied whole (WAL included)
    source.close()
    target.close()
    before = {d["ip"]: d for d in export(db)}
    time.sleep(1.1)  # timestamps have one-second resolution

    result = run_scan(full_lab, FULL_NET, "--db", str(db), "--yes")
    assert result.returncode == 0, result.stderr

    listed = subprocess.run([*CAMSCAN, "devices", "--db", str(db), "--json"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    devices = json.loads(listed.stdout)
    assert len(devices) == len(full_lab.hosts) == len(before)
    assert len({d["ip"] for d in devices}) == len(devices)
    assert len({d["mac"] for d in devices}) == len(devices)
    for device in devices:
        old = before[device["ip"]]
        assert device["id"] == old["id"]
        assert device["first_seen"] == old["first_seen"], device["ip"]
        assert device["last_seen"] >= device["first_seen"]
        assert device["last_seen"] > old["last_seen"], device["ip"]
        assert [s["port"] for s in device["services"]] == [s["port"] for s in old["services"]]

    scans = query(db, "SELECT id, status, device_count FROM scans ORDER BY id")
    assert [(status, count) for _, status, count in scans] == [("complete", 60), ("complete", 60)]
    per_device = query(db, "SELECT device_id, count(*) FROM sightings GROUP BY device_id")
    assert len(per_device) == 60 and {count for _, count in per_device} == {2}
    assert query(db, "SELECT count(*) FROM devices")[0][0] == 60


def test_interrupted_scan_keeps_what_it_found(full_lab, tmp_path):
    db = tmp_path / "interrupted.db"
    process = subprocess.Popen(
        full_lab.exec_argv(scan_argv(FULL_NET, "--db", str(db), "--yes", "--timeout", "5")),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # interrupt once the scan has stored something (about 1.5 s in), while the hosts
        # with silent ports still hold it up for the 5 s timeout
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline and not stored_devices(db):
            time.sleep(0.1)
        time.sleep(0.3)
        assert process.poll() is None, "the scan ended before it could be interrupted"
        process.send_signal(signal.SIGINT)  # `ip netns exec` execs: this is camscan's own pid
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "Interrupted" in stderr and "Traceback" not in stderr, stderr

    assert query(db, "SELECT status, finished_at IS NOT NULL FROM scans") == [("interrupted", 1)]
    observations = query(db, "SELECT count(*), count(DISTINCT ip) FROM observations")[0]
    devices = query(db, "SELECT count(*) FROM devices")[0][0]
    assert observations[0] > 0 or devices > 0
    open_ports = sum(len(host.services) for host in full_lab.hosts)
    stored_services = query(db, "SELECT count(*) FROM services")[0][0]
    assert stored_services < open_ports, "every probe finished: the interrupt came too late to test anything"
    lab_ips = {h.ip for h in full_lab.hosts}
    assert {ip for (ip,) in query(db, "SELECT DISTINCT ip FROM observations")} <= lab_ips

    listed = subprocess.run([*CAMSCAN, "devices", "--db", str(db), "--json"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert len(found) == devices
    truth = {h.ip: h for h in full_lab.hosts}
    for device in found:
        assert device["mac"] == truth[device["ip"]].mac.lower()


# --------------------------------------------------------------------------- scope guard


REDIRECTOR_IP = "198.18.13.30"
EXCLUDED_IP = "198.18.13.20"
REDIRECT_TARGET_IP = "198.18.14.5"
REDIRECT_LOCATION = f"http://{REDIRECT_TARGET_IP}/doc/page/login.asp"
SCOPE_TARGET = "198.18.13.0/24"


@pytest.fixture(scope="module")
def scope_lab():
    redirector = custom_host(REDIRECTOR_IP, 1, {
        80: {
            "kind": "http",
            "server": "lighttpd/1.4.59",
            "routes": {"/": {"status": 302, "headers": {"Location": REDIRECT_LOCATION}}},
        },
    }, "redirector", device_type="router")
    hosts = [
        # inside the scanned /24
        placed("hikvision-ds2cd", "198.18.13.10", seed=21),
        placed("dahua-ipc", "198.18.13.11", seed=22),
        placed("linux-nginx", "198.18.13.12", seed=23),
        placed("axis-p3245", EXCLUDED_IP, seed=24),  # live, but excluded
        redirector,
        # outside it: the scanner's own /24 and the others
        placed("hikvision-nvr", "198.18.12.50", seed=25),
        placed("hikvision-ds2cd", REDIRECT_TARGET_IP, seed=26),  # where the redirect points
        placed("synology-ds", "198.18.14.6", seed=27),
        placed("reolink-rlc", "198.18.15.7", seed=28),
        placed("hp-laserjet", "198.18.15.254", seed=29),
    ]
    with NamespaceLab(hosts, prefix="cslib", network=SCOPE_NET) as lab:
        yield lab


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump")
def test_scan_stays_in_scope_and_never_follows_redirects(scope_lab, tmp_path):
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP
    from scapy.utils import rdpcap

    lab = scope_lab
    db = tmp_path / "scope.db"
    pcap = tmp_path / "scan.pcap"
    scope = ipaddress.ip_network(SCOPE_TARGET)
    capture = start_capture(lab, pcap)
    try:
        result = run_scan(lab, SCOPE_TARGET, "--exclude", EXCLUDED_IP, "--db", str(db), "--json")
    finally:
        tcpdump_said = stop_capture(capture)
    assert result.returncode == 0, result.stderr

    def allowed(ip: str) -> bool:
        return ipaddress.ip_address(ip) in scope and ip != EXCLUDED_IP

    packets = rdpcap(str(pcap))
    assert len(packets) > 0, f"empty capture: {tcpdump_said}"
    sent_ip = [p for p in packets if IP in p and p[IP].src == lab.scanner_ip]
    arp_from_scanner = [p for p in packets if ARP in p and p[ARP].psrc == lab.scanner_ip]
    assert sent_ip and arp_from_scanner, "the capture shows no scan traffic"
    stray = sorted({p[IP].dst for p in sent_ip if not allowed(p[IP].dst)})
    assert not stray, f"scanner sent IP packets out of scope to {stray}"
    stray_arp = sorted({p[ARP].pdst for p in arp_from_scanner if p[ARP].op == 1 and not allowed(p[ARP].pdst)})
    assert not stray_arp, f"scanner ARP-requested out-of-scope addresses {stray_arp}"
    assert all(allowed(p[ARP].pdst) for p in arp_from_scanner)
    touched = [p.summary() for p in packets
               if (IP in p and p[IP].dst in (REDIRECT_TARGET_IP, EXCLUDED_IP))
               or (ARP in p and p[ARP].pdst in (REDIRECT_TARGET_IP, EXCLUDED_IP))]
    assert not touched, f"out-of-scope or excluded hosts were sent packets: {touched[:5]}"
    # the scan did reach every in-scope live host on its open ports
    reached = {(p[IP].dst, p[IP].dport) for p in sent_ip if p.haslayer("TCP")}
    for host in lab.hosts:
        if allowed(host.ip):
            for port in set(host.ports) & set(DEFAULT_PORTS):
                assert (host.ip, port) in reached, f"{host.ip}:{port} never probed"

    found = json.loads(result.stdout)
    assert sorted(d["ip"] for d in found) == sorted(h.ip for h in lab.hosts if allowed(h.ip))

    shown = local_cli("show", REDIRECTOR_IP, "--db", str(db), "--json")
    assert shown.returncode == 0, shown.stderr
    observations = json.loads(shown.stdout)["observations"]
    locations = [o["value"] for o in observations if o["field"] == "http.location"]
    assert locations == [REDIRECT_LOCATION], observations
    assert "302 /" in [o["value"] for o in observations if o["field"] == "http.status"]


# --------------------------------------------------------------------------- silent and hostile hosts


SILENT = {"kind": "silent"}
GARBAGE = "\x00\xff\xfe" + "\x1b[2J" * 4 + "garbage\x07"  # latin-1 chars go out as raw bytes


@pytest.fixture(scope="module")
def hostile_lab():
    hosts = [
        custom_host("198.18.16.10", 10, {80: SILENT, 554: SILENT, 23: SILENT}, "silent-a"),
        custom_host("198.18.16.11", 11, {80: SILENT, 554: SILENT, 23: SILENT}, "silent-b"),
        custom_host("198.18.16.12", 12, {80: SILENT, 554: SILENT, 23: SILENT, 8000: SILENT, 443: SILENT}, "silent-c"),
        # answers every port with the wrong thing: binary junk, a banner that never ends, a huge page
        custom_host("198.18.16.13", 13, {
            80: {"kind": "banner", "banner": GARBAGE},
            554: {"kind": "banner", "banner": "RTSP/1.0 " + "A" * 70000},
            23: {"kind": "banner", "banner": "\xff\xfb\x01" * 200},
            8080: {"kind": "http", "server": "x" * 8000, "routes": {"/": {"status": 200, "body": "<title>" + "B" * 3_000_000}}},
            443: {"kind": "http", "server": "plain-http-on-443"},
        }, "hostile"),
        placed("hikvision-ds2cd", "198.18.16.20", seed=31),  # a real camera among them
    ]
    with NamespaceLab(hosts, prefix="cslic", network=SILENT_NET) as lab:
        yield lab


def test_silent_and_hostile_hosts_do_not_stall_the_scan(hostile_lab, tmp_path):
    lab = hostile_lab
    db = tmp_path / "silent.db"
    started = time.monotonic()
    result = run_scan(lab, SILENT_NET, "--db", str(db), "--timeout", "1", "--json", timeout=90)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert seconds < 15, f"scan took {seconds:.1f}s with --timeout 1"
    found = {d["ip"]: d for d in json.loads(result.stdout)}
    assert set(found) == {h.ip for h in lab.hosts}
    for host in lab.hosts:
        device = found[host.ip]
        assert sorted(s["port"] for s in device["services"]) == sorted(set(host.ports) & set(DEFAULT_PORTS)), host.ip
        assert device["mac"] == host.mac
        if host.profile.startswith("silent") or host.profile == "hostile":
            assert not device["is_camera"], device
    assert found["198.18.16.20"]["vendor"] == "hikvision"


# --------------------------------------------------------------------------- CLI errors


def test_public_target_is_refused_before_anything_starts(scope_lab, tmp_path):
    db = tmp_path / "public.db"
    result = scope_lab.run(scan_argv("8.8.8.8", "--db", str(db)), capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert "--allow-public" in result.stderr
    assert "Traceback" not in result.stderr
    assert "will touch" not in result.stderr  # refused before the scan announced anything
    assert not db.exists()


@pytest.mark.parametrize("header", [b"", b"SQLite format 3\x00"], ids=["random-bytes", "damaged-sqlite"])
def test_devices_on_a_file_that_is_not_a_database(tmp_path, header):
    path = tmp_path / "not-a.db"
    content = header + random.Random(7).randbytes(8192)
    path.write_bytes(content)
    result = local_cli("devices", "--db", str(path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: ") and str(path) in result.stderr, result.stderr
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a.db"]  # no -wal / -shm left behind
