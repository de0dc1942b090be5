"""`camscan scan --shard I/N` on a recording: the shards' connects are the unsharded scan's, each once,
and only shard 1 sends discovery."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from camscan.cli import main
from camscan.transport.replay import ReplayNetwork

RECORDING = Path(__file__).resolve().parents[2] / "pcaps" / "hikvision-ds2cd.pcapng"  # 80, 554 and 8000 answer
NETWORK = "198.18.90.0/29"  # where pcaps/record_fixtures.py puts each profile's lab
DISCOVERY = {"unicast", "multicast"}


def scanned(tmp_path: Path, networks: list[ReplayNetwork], *options: str) -> tuple[Counter, set[str], list[int]]:
    """The connects a replay attempted, the kinds of its other sends, and the open ports it found."""
    result = CliRunner().invoke(main, ["scan", NETWORK, "--replay", str(RECORDING), "--db", str(tmp_path / "r.db"),
                                       "--yes", "--json", "--no-checks", *options])
    assert result.exit_code == 0, result.output
    sends = networks[-1].attempted_sends
    ports = sorted(service["port"] for device in json.loads(result.stdout) for service in device["services"])
    return (Counter((send.address, send.port) for send in sends if send.kind == "connect"),
            {send.kind for send in sends}, ports)


def test_the_shards_connect_to_each_address_and_port_once_between_them(tmp_path, replay_networks):
    whole, kinds, open_ports = scanned(tmp_path, replay_networks)
    assert DISCOVERY <= kinds and open_ports == [80, 554, 8000]
    together: Counter = Counter()
    found = []
    for index in (1, 2, 3):
        connects, kinds, ports = scanned(tmp_path, replay_networks, "--shard", f"{index}/3")
        assert connects and max(connects.values()) == 1
        assert (DISCOVERY <= kinds) == (index == 1)
        together += connects
        found += ports
    assert together == whole and max(whole.values()) == 1
    assert sorted(found) == open_ports


def test_a_shard_outside_one_to_n_is_refused(tmp_path, replay_networks):
    result = CliRunner().invoke(main, ["scan", NETWORK, "--replay", str(RECORDING), "--db", str(tmp_path / "r.db"),
                                       "--yes", "--shard", "4/3"])
    assert result.exit_code == 2 and "I must lie between 1 and N" in result.output
    assert replay_networks == []
