"""The district's rules without a broker: what a sensor refuses, what collect accepts, signatures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from camscan.checks import DEFAULT_CHECKS, DEFAULT_CREDENTIALS
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from inventory import Clock, device, scan, school

from camscan.district import keys
from camscan.district.ledger import Ledger
from camscan.district.queue import (
    Refused,
    SensorConfig,
    check_request,
    handle_envelope,
    scan_argv,
    scan_for,
    scan_request,
)
from camscan.portable import build_document
from camscan.store import Store


@pytest.fixture(scope="module")
def identities(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keys")
    return {name: keys.generate_identity(name, directory) for name in ("sensor-a", "sensor-b", "intruder")}


@pytest.fixture
def config(tmp_path, identities):
    scope = tmp_path / "scope.txt"
    scope.write_text("198.18.20.0/28\n198.18.21.5\n")
    key, certificate = identities["sensor-a"]
    return SensorConfig(name="sensor-a", site="School A", scope_file=str(scope), db_path=str(tmp_path / "a.db"),
                        key=str(key), certificate=str(certificate), central_certificate=str(certificate))


def envelope(identity, message: dict) -> dict:
    payload = json.dumps(message, sort_keys=True).encode()
    return {"sensor": message["sensor"], "payload": payload.decode(),
            "signature": keys.sign(keys.load_private_key(identity[0]), payload)}


def test_a_key_is_private_its_signature_verifies_and_nothing_else_does(identities):
    key, certificate = identities["sensor-a"]
    assert os.stat(key).st_mode & 0o777 == 0o600
    signature = keys.sign(keys.load_private_key(key), b"payload")
    assert keys.verify(certificate.read_text(), b"payload", signature)
    assert not keys.verify(certificate.read_text(), b"payload!", signature)
    assert not keys.verify(identities["sensor-b"][1].read_text(), b"payload", signature)
    with pytest.raises(keys.KeyFileError, match="never overwritten"):
        keys.generate_identity("sensor-a", key.parent)


def test_a_certificate_of_another_key_kind_verifies_nothing(identities):
    """Only RSA keys sign sensor messages; an EC certificate in the ledger (it takes any PEM)
    once made verify() raise TypeError, calling EC verify with RSA's padding."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sensor-ec")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    signature = keys.sign(keys.load_private_key(identities["sensor-a"][0]), b"payload")
    assert not keys.verify(pem, b"payload", signature)


def test_a_request_inside_the_scope_passes_and_becomes_the_scan(config):
    request = scan_request("School A", ["198.18.20.0/29", "198.18.21.5"], {"ports": "80,554", "checks": []})
    check_request(config, request)
    planned = scan_for(config, request)
    assert (planned.targets, planned.scope_file, planned.site, planned.scan_uuid, planned.db_path) == (
        ["198.18.20.0/29", "198.18.21.5"], config.scope_file, "School A", request["scan_uuid"], config.db_path)
    assert planned.ports == [80, 554] and planned.checks == frozenset() and not planned.credentials.accounts
    assert scan_argv(config) == [sys.executable, "-m", "camscan.district.scan_task"]
    netns_config = SensorConfig(**{**config.__dict__, "netns": "csda-scan"})
    assert scan_argv(netns_config)[:4] == ["ip", "netns", "exec", "csda-scan"]


def test_options_a_request_leaves_out_are_the_scans_defaults(config):
    planned = scan_for(config, scan_request("School A", ["198.18.20.0/29"], {}))
    assert (planned.ports, planned.timeout, planned.checks, planned.discovery, planned.snmp, planned.channels) == (
        None, None, None, None, None, True)


def test_a_dispatcher_may_narrow_a_scan_to_no_snmp_and_no_channel_inventory(config):
    request = scan_request("School A", ["198.18.20.0/29"], {"snmp": False, "channels": False})
    check_request(config, request)
    planned = scan_for(config, request)
    assert planned.snmp is False and planned.channels is False


def test_the_scan_process_runs_a_task_through_the_scan_library(config, tmp_path):
    """The task as the sensor hands it over, run by the process the sensor starts (a target
    outside the scope file: refused before anything is sent, as a one-line error)."""
    request = scan_request("School A", ["198.18.20.0/29"], {})
    request["targets"] = ["198.18.30.1"]  # past check_request: the scan's own scope still refuses it
    task = json.dumps({"config": config.__dict__, "request": request})
    process = subprocess.run(scan_argv(config), input=task, capture_output=True, text=True, timeout=60)
    assert process.returncode == 1
    assert process.stderr.strip().splitlines()[-1].startswith("nothing to scan")


@pytest.mark.parametrize("targets, options, reason", [
    (["198.18.20.0/27"], {}, r"198\.18\.20\.16/28 outside this sensor's scope file"),
    (["198.18.22.1"], {}, "outside this sensor's scope"),
    (["198.18.20.1"], {"use_credentials": True}, "no credentials file"),
    (["198.18.20.1"], {"check_default_credentials": True}, "does not allow default-credential"),
    (["198.18.20.1"], {"allow_public": True}, "does not scan public"),
    (["198.18.20.1"], {"password": "x"}, "unknown option 'password'"),
    (["198.18.20.1"], {"timeout": True}, "must be float"),
    ([], {}, "no targets"),
])
def test_a_sensor_refuses_what_its_own_configuration_does_not_authorise(config, targets, options, reason):
    with pytest.raises(Refused, match=reason):
        check_request(config, scan_request("School A", targets, options))


def test_a_sensor_refuses_another_sites_task(config):
    with pytest.raises(Refused, match="this sensor scans 'School A'"):
        check_request(config, scan_request("School B", ["198.18.20.1"], {}))


def test_widening_options_pass_where_the_sensor_allows_them(config, tmp_path):
    credentials = tmp_path / "accounts.yaml"
    credentials.write_text("- service: onvif\n  username: inventory\n  password: x\n  targets: [198.18.20.0/28]\n")
    credentials.chmod(0o600)
    allowing = SensorConfig(**{**config.__dict__, "credentials_file": str(credentials),
                               "allow_default_credentials": True})
    request = scan_request("School A", ["198.18.20.1"], {"use_credentials": True, "check_default_credentials": True})
    check_request(allowing, request)
    planned = scan_for(allowing, request)
    assert [account.username for account in planned.credentials.accounts] == ["inventory"]
    assert planned.checks == DEFAULT_CHECKS | {DEFAULT_CREDENTIALS}


def site_result(tmp_path, site: str) -> dict:
    store, _, (first, _) = school(tmp_path / f"{site}.db", site=site)
    document = build_document(store, first)
    store.close()
    return document


def result_message(sensor: str, site: str, document: dict | None, kind: str = "result") -> dict:
    return {"kind": kind, "sensor": sensor, "site": site, "scan_uuid": document and document["scan_uuid"],
            "version": "0.1.0", "sent_at": "2026-12-03T10:00:00Z", "detail": "", "document": document}


def test_collect_stores_a_registered_sensors_result_once(tmp_path, identities):
    document = site_result(tmp_path, "School A")
    with Store(tmp_path / "district.db") as district:
        Ledger(district).register("sensor-a", "School A", identities["sensor-a"][1].read_text())
        message = envelope(identities["sensor-a"], result_message("sensor-a", "School A", document))
        assert handle_envelope(district, message) == "result"
        assert handle_envelope(district, message) == "result"  # delivered twice
        assert len(district.scans()) == 1 and len(district.devices()) == 5
        [sensor] = Ledger(district).sensors()
        assert sensor["last_scan_uuid"] == document["scan_uuid"] and sensor["camscan_version"] == "0.1.0"
        details = [event["detail"] for event in Ledger(district).events()]
        assert "1 scan(s) added" in details[0] and "0 scan(s) added" in details[1]


def test_collect_keeps_a_result_whose_message_names_no_kind_as_of_unknown_kind(tmp_path, identities):
    """The ledger's event kind may not be empty: such a message once failed the insert after its
    document was imported, so the sensor's result was stored but its event was lost."""
    document = site_result(tmp_path, "School A")
    with Store(tmp_path / "district.db") as district:
        Ledger(district).register("sensor-a", "School A", identities["sensor-a"][1].read_text())
        message = {**result_message("sensor-a", "School A", document), "kind": None}
        assert handle_envelope(district, envelope(identities["sensor-a"], message)) == "unknown"
        [event] = Ledger(district).events()
        assert event["kind"] == "unknown" and "1 scan(s) added" in event["detail"]


def test_collect_rejects_unregistered_forged_and_other_site_messages(tmp_path, identities):
    document = site_result(tmp_path, "School A")
    with Store(tmp_path / "district.db") as district:
        ledger = Ledger(district)
        ledger.register("sensor-a", "School A", identities["sensor-a"][1].read_text())
        ledger.register("sensor-b", "School B", identities["sensor-b"][1].read_text())
        forged = envelope(identities["intruder"], result_message("sensor-a", "School A", document))
        unregistered = envelope(identities["intruder"], result_message("intruder", "School A", document))
        other_site = envelope(identities["sensor-b"], result_message("sensor-b", "School A", document))
        mislabelled = envelope(identities["sensor-b"], result_message("sensor-b", "School B", document))
        for message in (forged, unregistered, other_site, mislabelled, {"payload": 1}):
            assert handle_envelope(district, message) == "rejected"
        assert district.scans() == [] and district.devices() == []
        assert [event["kind"] for event in ledger.events()] == ["rejected"] * 5
        assert "not the sensor's" in ledger.events()[0]["detail"]
        assert "unregistered" in ledger.events()[1]["detail"]


def test_a_refusal_is_recorded_centrally(tmp_path, identities):
    with Store(tmp_path / "district.db") as district:
        Ledger(district).register("sensor-a", "School A", identities["sensor-a"][1].read_text())
        refusal = {**result_message("sensor-a", "School A", None, kind="refused"), "scan_uuid": "u-1",
                   "detail": "198.18.99.1/32 outside this sensor's scope file; nothing was sent"}
        assert handle_envelope(district, envelope(identities["sensor-a"], refusal)) == "refused"
        [event] = Ledger(district).events()
        assert (event["kind"], event["scan_uuid"], event["site"]) == ("refused", "u-1", "School A")


def district_of_two_sites(tmp_path, identities) -> Store:
    """A district inventory with two registered sensors' results and one refusal."""
    district = Store(tmp_path / "district.db")
    clock = Clock()
    for index, (name, site) in enumerate((("sensor-a", "School A"), ("sensor-b", "School B"))):
        Ledger(district).register(name, site, identities[name][1].read_text())
        with Store(tmp_path / f"{name}.db", clock=clock) as sensor:
            scan_id = scan(sensor, clock, [device("lorex-nvr", "198.18.0.10", mac=f"00:1f:54:00:00:0{index}"),
                                           device("hikvision-cam", "198.18.0.11", mac=f"44:19:b6:00:00:0{index}"),
                                           device("printer", "198.18.0.13", mac=f"9c:7b:ef:00:00:0{index}")],
                           site=site)
            document = build_document(sensor, scan_id)
        assert handle_envelope(district, envelope(identities[name], result_message(name, site, document))) == "result"
    refusal = {**result_message("sensor-b", "School B", None, kind="refused"), "scan_uuid": "u-9",
               "detail": "198.18.99.1/32 outside this sensor's scope file; nothing was sent"}
    handle_envelope(district, envelope(identities["sensor-b"], refusal))
    return district


def test_the_report_shows_the_district_by_site_with_its_sensors_and_refusals(tmp_path, identities):
    from camscan.report import gather, render_html

    with district_of_two_sites(tmp_path, identities) as district:
        page = render_html(gather(district))
    section = page[page.index('<section id="district">'):page.index('<section id="scope">')]
    assert "2 site(s)" in section
    for site, sensor in (("School A", "sensor-a"), ("School B", "sensor-b")):
        assert f"<td>{site}</td><td>{sensor}</td><td>0.1.0</td><td>2026-12-03T10:00:00Z</td>" in section
    assert section.count("<td>3</td><td>2</td><td>2</td>") == 2  # each school's devices, cameras, covered
    assert "outside this sensor&#x27;s scope file" in section


def test_datasette_shows_the_district_inventory_by_site(tmp_path, identities):
    import asyncio

    from datasette.app import Datasette

    from camscan.report.datasette import datasette_metadata

    district_of_two_sites(tmp_path, identities).close()
    datasette = Datasette([str(tmp_path / "district.db")], metadata=datasette_metadata("district"))

    async def rows(name: str) -> list[dict]:
        response = await datasette.client.get(f"/district/{name}.json?_shape=array")
        assert response.status_code == 200, response.text[:500]
        return response.json()

    sites = asyncio.run(rows("district_sites"))
    assert [(r["site"], r["sensors"], r["devices"], r["cameras_and_recorders"], r["covered"]) for r in sites] == [
        ("School A", "sensor-a", 3, 2, 2), ("School B", "sensor-b", 3, 2, 2)]
    [refusal] = asyncio.run(rows("district_refusals"))
    assert (refusal["kind"], refusal["site"], refusal["scan_uuid"]) == ("refused", "School B", "u-9")


def test_a_schedule_is_seconds_or_a_cron_line():
    from celery.schedules import crontab

    from camscan.district.queue import DistrictError, parse_schedule

    assert parse_schedule("3600") == 3600.0
    assert parse_schedule("30 2 * * 1-5") == crontab(minute="30", hour="2", day_of_week="1-5")
    for wrong in ("0", "every day", "61 2 * * *", "1 2 3"):
        with pytest.raises(DistrictError):
            parse_schedule(wrong)


def test_sensors_lists_dispatched_scans_not_stored_with_what_became_of_them(tmp_path, identities):
    from click.testing import CliRunner

    from camscan.cli import main

    with district_of_two_sites(tmp_path, identities) as district:
        ledger = Ledger(district)
        stored = district.scans()[0]["uuid"]
        for scan_uuid in (stored, "u-9", "u-10"):
            ledger.dispatched(scan_uuid, "School B", ["198.18.0.0/24"], {})
    result = CliRunner().invoke(main, ["sensors", "--db", str(tmp_path / "district.db")])
    assert result.exit_code == 0, result.output
    assert "scan u-9 not stored yet; refused: 198.18.99.1/32 outside" in result.output
    assert "scan u-10 not stored yet\n" in result.output and f"scan {stored}" not in result.output


@pytest.mark.parametrize("targets, shards, sizes", [
    (["198.18.40.0/24"], 4, [64, 64, 64, 62]),  # hosts only: not the block's network and broadcast addresses
    (["198.18.40.0/30", "198.18.41.7", "198.18.42.1-9"], 3, [4, 4, 4]),
    (["198.18.40.1"], 2, [1]),
])
def test_a_scan_split_into_shards_covers_every_address_once(targets, shards, sizes):
    from camscan.district.queue import split_targets
    from camscan.scope import parse_target

    parts = split_targets(targets, shards)
    sets = [parse_target(part[0]) for part in parts]
    for index, part in enumerate(parts):
        for spec in part[1:]:
            sets[index] |= parse_target(spec)
    assert [piece.size for piece in sets] == sizes
    union = sets[0]
    for piece in sets[1:]:
        assert not union & piece
        union |= piece
    wanted = parse_target(targets[0], hosts_only=True)
    for target in targets[1:]:
        wanted |= parse_target(target, hosts_only=True)
    assert union == wanted
