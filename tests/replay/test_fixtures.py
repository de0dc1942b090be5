"""Every recorded lab scan in pcaps/, replayed: the same inventory, and the same raw
observations, as the live scan that made it.

No root, no network: the replay answers each probe from the recording. A guard makes any
attempt to open a network socket fail the test, and every send the scan attempted (which the
replay network logs before its guard decides) must have been to an in-scope address, and
never data to a connect-only port.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from camscan.cli import main
from camscan_lab import get_profile, load_profiles
from camscan_lab.recorders import RECORDER_PROFILES, lab_credentials, recorder_lab
from camscan_lab.score import stored_observations, without_timestamps
from camscan.transport.replay import AttemptedSend, ReplayNetwork

PCAPS = Path(__file__).resolve().parents[2] / "pcaps"
NETWORK = "198.18.90.0/29"  # where pcaps/record_fixtures.py puts each profile's lab
SEED = 11  # the seed pcaps/record_fixtures.py builds each lab with
FIXTURES = sorted(PCAPS.glob("*.pcapng"))
# Written out, not imported from the guard, so that a change to the guard's list fails here.
CONNECT_ONLY_PORTS = {445, 34567, 37777, *range(9100, 9108)}
RECORDERS = {profile.name for profile in load_profiles(RECORDER_PROFILES)}


def forbidden_sends(networks: list[ReplayNetwork], in_scope: set[str]) -> list[AttemptedSend]:
    """The logged sends to an address outside ``in_scope`` (a multicast group aside), and any
    conversation with a connect-only port."""
    return [
        send for network in networks for send in network.attempted_sends
        if (send.address not in in_scope and not ipaddress.ip_address(send.address).is_multicast)
        or (send.kind == "conversation" and send.port in CONNECT_ONLY_PORTS)
    ]


def hosts_of(network: str) -> set[str]:
    return {str(ip) for ip in ipaddress.ip_network(network).hosts()}


def credentials_options(tmp_path: Path, recording: Path) -> list[str]:
    """``--credentials FILE`` for a recorder's fixture (recorded with the lab's credentials file), else nothing."""
    if recording.stem not in RECORDERS:
        return []
    entries = lab_credentials(recorder_lab(NETWORK, seed=SEED, names=[recording.stem]))
    if not entries:  # a recorder lab device with no account of its own was recorded without a file
        return []
    path = tmp_path / "credentials.yaml"
    path.write_text(yaml.safe_dump(entries))
    path.chmod(0o600)
    return ["--credentials", str(path)]


def replay_db(tmp_path: Path) -> Path:
    """The database :func:`replayed` scans into."""
    return tmp_path / "replay.db"


def replayed(tmp_path: Path, recording: Path, networks: list[ReplayNetwork], *options: str,
             in_scope: set[str] = hosts_of(NETWORK)) -> list[dict]:
    """The inventory of a replay of ``NETWORK``; every send it attempted was within ``in_scope``."""
    db = replay_db(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["scan", NETWORK, "--replay", str(recording), "--db", str(db), "--yes", "--json",
                                  *credentials_options(tmp_path, recording), *options])
    assert result.exit_code == 0, result.output
    assert networks and networks[-1].attempted_sends
    assert forbidden_sends(networks, in_scope) == []
    exported = runner.invoke(main, ["export", "--db", str(db), "--format", "json"])
    assert exported.exit_code == 0, exported.output
    return without_timestamps(json.loads(exported.output))


def comparable(inventory: list[dict]) -> list[dict]:
    """Devices without their row ids, in a fixed order (a channel has no address: by recorder and number)."""
    return sorted(({k: v for k, v in device.items() if k != "id"} for device in inventory),
                  key=lambda d: (d["ip"] or "", d.get("attached_to") or "", d.get("channel") or 0))


def test_there_is_a_fixture_for_every_lab_profile():
    assert {path.stem for path in FIXTURES} == {profile.name for profile in load_profiles()} | RECORDERS
    assert all(recording.with_suffix(".observations.json").is_file() for recording in FIXTURES)


def expected_observations(recording: Path) -> list[dict]:
    """The raw observations kept beside a recording (``pcaps/record_fixtures.py`` writes them)."""
    return json.loads(recording.with_suffix(".observations.json").read_text())


@pytest.mark.parametrize("recording", FIXTURES, ids=lambda path: path.stem)
def test_replay_gives_the_live_inventory_and_observations(recording, tmp_path, no_network, replay_networks):
    """The observations too: a parser that comes to observe something else fails here even when
    the inventory it feeds stays the same."""
    expected = json.loads(recording.with_suffix(".json").read_text())
    assert comparable(replayed(tmp_path, recording, replay_networks)) == comparable(expected)
    assert stored_observations(replay_db(tmp_path)) == expected_observations(recording)


@pytest.mark.parametrize("recording", FIXTURES, ids=lambda path: path.stem)
def test_a_replay_that_excludes_the_device_never_contacts_or_keeps_it(recording, tmp_path, no_network,
                                                                       replay_networks):
    """Excluded, the recorded devices leave the link partly out of scope, so nothing is
    multicast; their recorded replies are dropped, and nothing is sent to them or to what they
    name. (A recorder's recording holds the LAN cameras behind it too: every recorded address
    is excluded.)"""
    recorded = {device["ip"] for device in json.loads(recording.with_suffix(".json").read_text())} - {None}
    excluded = [option for address in sorted(recorded) for option in ("--exclude", address)]
    devices = replayed(tmp_path, recording, replay_networks, *excluded, in_scope=hosts_of(NETWORK) - recorded)
    assert not recorded & {found["ip"] for found in devices}


@pytest.mark.parametrize("target", ["0.0.0.1", "0.0.0.0/24", "255.255.255.255", "224.0.0.251", "ff02::1", "::"])
def test_a_replay_refuses_addresses_that_are_never_hosts(target, tmp_path, no_network, replay_networks):
    """Refused before the network opens (live, 0.0.0.1 would leave through the default route)."""
    result = CliRunner().invoke(main, ["scan", target, "--replay", str(FIXTURES[0]), "--db", str(tmp_path / "r.db"),
                                       "--yes", "--allow-public"])
    assert result.exit_code != 0
    assert "never a target" in result.output
    assert replay_networks == []


def _identifiable_camera(recording: Path) -> bool:
    if recording.stem in RECORDERS:  # a recorder's lab holds the cameras behind it too
        return False
    profile = get_profile(recording.stem)
    return profile.is_camera and profile.identifiable


@pytest.mark.parametrize("recording", [path for path in FIXTURES if _identifiable_camera(path)], ids=lambda path: path.stem)
def test_replayed_camera_or_recorder_has_the_profiles_device_type(recording, tmp_path, no_network, replay_networks):
    devices = replayed(tmp_path, recording, replay_networks)
    assert [device["device_type"] for device in devices] == [get_profile(recording.stem).truth["device_type"]]


def test_a_replay_of_part_of_the_recorded_link_multicasts_nothing_and_asks_mdns_directly(tmp_path, no_network,
                                                                                      replay_networks):
    """The recording's link is 198.18.90.0/29; a scope of one of its hosts does not hold it whole:
    as live, no multicast (nor ICMPv6 to all nodes, nor mDNS browsing), and the mDNS question
    goes to the host itself (RFC 6762 §5.5), logged like every other send."""
    camera = "198.18.90.2"
    result = CliRunner().invoke(main, ["scan", camera, "--replay", str(PCAPS / "hikvision-ds2cd.pcapng"),
                                       "--db", str(tmp_path / "replay.db"), "--yes"])
    assert result.exit_code == 0, result.output
    sends = replay_networks[-1].attempted_sends
    assert [send for send in sends if send.kind == "multicast"] == []
    assert AttemptedSend("unicast", camera, 5353) in sends
    assert forbidden_sends(replay_networks, {camera}) == []
