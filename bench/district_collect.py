"""Benchmark: a district's results collected into one inventory through the real queue.

Simulates --sites sensors with --devices devices each (lab device profiles: maker, model,
firmware, kind, services, MAC, a banner observation and evidence per device), each site's
scan recorded in its own sensor database and published as a signed portable result to a
redis-server started here (127.0.0.1, a password, AOF), exactly as `camscan sensor` does.
Then times `camscan collect` storing them all in one district database and `camscan
report` over it, each in its own process (wall time and peak resident memory), and checks
the inventory holds every site's devices once. Sends nothing anywhere but 127.0.0.1.

Usage: python bench/district_collect.py [--sites 50] [--devices 200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "lab"))

from district import Redis  # noqa: E402  (the tests' redis-server fixture)

from camscan.district.keys import generate_identity  # noqa: E402
from camscan.district.ledger import Ledger  # noqa: E402
from camscan.district.queue import Broker, Sensor, SensorConfig  # noqa: E402
from camscan_lab.profiles import generate_lab  # noqa: E402
from camscan.model import Device, Evidence, Identification, Observation, Service  # noqa: E402
from camscan.portable import build_document  # noqa: E402
from camscan.store import Store  # noqa: E402


def site_network(index: int) -> str:
    """Site ``index``'s /24 inside 198.18.0.0/15 (the benchmark sends nothing to it)."""
    return str(ipaddress.ip_network("198.18.0.0/15").network_address + 256 * (index + 2)) + "/24"


def simulated_devices(index: int, count: int) -> list[Device]:
    devices = []
    for host in generate_lab(count, site_network(index), seed=index):
        truth = host.truth
        banner = f"{truth.get('manufacturer') or 'unknown'} {truth.get('model') or ''}".strip()
        observations = [Observation(host.ip, "arp", "mac.address", host.mac, None, "l2"),
                        Observation(host.ip, "http", "http.server", banner, host.ports[0] if host.ports else 80)]
        evidence = [Evidence("http", "http.server", banner, "simulated", 0.8, 80,
                             (("manufacturer", str(truth.get("manufacturer"))),))]
        identification = Identification(vendor=truth.get("vendor") or truth.get("manufacturer"),
                                         manufacturer=truth.get("manufacturer"), model=truth.get("model"),
                                         firmware=truth.get("firmware"), device_type=truth.get("device_type"),
                                         confidence=0.8, evidence=evidence, ndaa_889=truth.get("ndaa_889"),
                                         ndaa_basis="simulated")
        services = [Service(host.ip, port, "http") for port in host.ports]
        devices.append(Device(host.ip, host.mac, services, observations, identification, mac_seen=True))
    return devices


def run_measured(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB and standard error of a child process."""
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{argv[3]} failed: {err}")
    return time.monotonic() - started, usage.ru_maxrss / 1024, err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--keep", help="Keep the databases and report in this directory.")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="camscan-district-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    redis = Redis(work)
    redis.start()
    try:
        broker = Broker(redis.url)
        district_db = work / "district.db"
        started = time.monotonic()
        with Store(district_db) as district:
            ledger = Ledger(district)
            for index in range(args.sites):
                site, name = f"School {index + 1:02d}", f"sensor-{index + 1:02d}"
                key, certificate = generate_identity(name, work / "keys")
                ledger.register(name, site, certificate.read_text())
                sensor_db = work / f"{name}.db"
                with Store(sensor_db) as store:
                    scan_id, _ = store.record_found_devices([site_network(index)], {"mode": "benchmark"},
                                                            simulated_devices(index, args.devices), site=site)
                    document = build_document(store, scan_id)
                config = SensorConfig(name=name, site=site, scope_file="", db_path=str(sensor_db), key=str(key),
                                      certificate=str(certificate), central_certificate=str(certificate))
                Sensor(config, broker).publish("result", document["scan_uuid"], "", document)
        print(f"{args.sites} sites x {args.devices} devices simulated and published in "
              f"{time.monotonic() - started:.1f} s", file=sys.stderr)

        camscan = [sys.executable, "-m", "camscan"]
        env_url = ["--broker", redis.url]
        idle = 1.0
        collect_s, collect_mb, said = run_measured([*camscan, "collect", "--db", str(district_db), *env_url,
                                                    "--until-idle", str(idle)])
        report_s, report_mb, _ = run_measured([*camscan, "report", "--db", str(district_db),
                                               "-o", str(work / "district.html")])
        with sqlite3.connect(district_db) as conn:
            devices, sites = conn.execute("SELECT count(*), count(DISTINCT site) FROM devices").fetchone()
            scans = conn.execute("SELECT count(*) FROM scans").fetchone()[0]
        conn.close()
        expected = args.sites * args.devices
        print(json.dumps({
            "sites": args.sites, "devices_per_site": args.devices,
            "collect_seconds_including_idle_wait": round(collect_s, 2), "idle_wait_seconds": idle,
            "collect_peak_mb": round(collect_mb), "report_seconds": round(report_s, 2),
            "report_peak_mb": round(report_mb), "report_kb": (work / "district.html").stat().st_size // 1024,
            "district_devices": devices, "district_sites": sites, "district_scans": scans,
            "database_mb": round(district_db.stat().st_size / 2**20, 1),
        }, indent=1))
        if (devices, sites, scans) != (expected, args.sites, args.sites):
            raise SystemExit(f"the district inventory holds {devices} devices of {sites} sites in {scans} scans, "
                             f"not {expected} of {args.sites}: {said[-2000:]}")
    finally:
        redis.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
