"""The SNMPv3 exchange discovery runs for an account of the credentials file, on a replayed
network (nothing leaves): engine discovery, the GET, and an agent's refusal noted, not retried.

The agent's answers are the lab's SNMPv3 agent's (built on pysnmp, apart from camscan)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from netaddr import IPSet

from camscan.capture.reader import Datagram, Recording
from camscan.credentials import Account, Credentials
from camscan.scan_discovery import Discovery, DiscoverySettings
from camscan_lab.discovery_replies import _snmp_v3
from camscan.protocols import snmpv3
from camscan.scope import Scope
from camscan.transport.replay import AttemptedSend, ReplayNetwork

SCANNER, CAMERA, OTHER = "198.18.0.1", "198.18.0.5", "198.18.0.6"
USER = snmpv3.UsmUser("inventory", "sha", "maplesyrup-auth")
AGENT = SimpleNamespace(ip=CAMERA, render=lambda text: text, discovery={"snmp": {
    "users": [{"name": "inventory", "auth_protocol": "sha", "auth_password": "maplesyrup-auth"}],
    "sys_descr": "AXIS Q1615 Mk III Network Camera", "sys_object_id": "1.3.6.1.4.1.368.4", "sys_name": "dock-cam"}})


def agent_answers(user: snmpv3.UsmUser) -> list[bytes]:
    """What the lab agent answers ``user``'s engine discovery and GET."""
    report = _snmp_v3(snmpv3.build_discovery(1, 1), AGENT)
    engine = snmpv3.parse_message(report, CAMERA, 161, 0.0, None, None).engine
    request = snmpv3.build_get(user, snmpv3.localized_keys(user, engine.engine_id), engine, 2, 2, 3)
    return [report, _snmp_v3(request, AGENT)]


def exchange(user: snmpv3.UsmUser, answers: list[bytes], snmp: bool = True, targets: str = CAMERA):
    """Offer ``user``'s account to the camera on a network whose recording holds ``answers``:
    (what the camera said, the sends attempted to UDP 161, the notices)."""
    datagrams = [Datagram(SCANNER, 3702, "239.255.255.250", 3702, b"", 0.0)]  # names the scanner
    datagrams += [Datagram(CAMERA, 161, SCANNER, 40000, answer, 0.0) for answer in answers]
    network = ReplayNetwork(Recording(datagrams=datagrams))
    account = Account(1, "snmp", (targets,), IPSet([targets]), username=user.name, usm=user)
    scope = Scope([f"{CAMERA}/31"])

    async def run():
        transport = network.transport(scope, 1000, 4, 0.5)
        settings = DiscoverySettings(wait=0.0, multicast=False, snmp=snmp, credentials=Credentials([account]))
        discovery = Discovery(scope, settings, transport, None, 1, network, {})
        discovery.sockets.open()
        await discovery.offer_snmp_account(CAMERA)
        await discovery.finish()
        return discovery.take(CAMERA), discovery.notices

    said, notices = asyncio.run(run())
    return said, [send for send in network.attempted_sends if send.port == 161], notices


def test_the_account_gets_the_system_group_after_engine_discovery():
    said, sends, notices = exchange(USER, agent_answers(USER))
    assert [(seen.field, seen.value) for seen in said] == [
        ("snmp.sys_descr", "AXIS Q1615 Mk III Network Camera"), ("snmp.sys_object_id", "1.3.6.1.4.1.368.4"),
        ("snmp.sys_name", "dock-cam")]
    assert sends == [AttemptedSend("unicast", CAMERA, 161)] * 2, "engine discovery, then the GET"
    assert notices == []


@pytest.mark.parametrize("user, report", [
    (snmpv3.UsmUser("inventory", "sha", "not-the-password"), "usmStatsWrongDigests"),
    (snmpv3.UsmUser("nobody", "sha", "maplesyrup-auth"), "usmStatsUnknownUserNames"),
    (snmpv3.UsmUser("inventory"), "usmStatsUnsupportedSecLevels"),
])
def test_a_refusal_is_a_note_for_the_host_and_never_retried(user, report):
    said, sends, notices = exchange(user, agent_answers(user))
    assert said == []
    assert sends == [AttemptedSend("unicast", CAMERA, 161)] * 2, "no GET after the refusal"
    assert len(notices) == 1 and CAMERA in notices[0] and report in notices[0] and "not retried" in notices[0]
    assert "not-the-password" not in notices[0] and "maplesyrup" not in notices[0]


def test_a_response_that_fails_authentication_is_not_believed():
    forged = agent_answers(USER)
    forged[1] = forged[1][:-1] + bytes([forged[1][-1] ^ 1])
    said, _sends, _notices = exchange(USER, forged)
    assert said == []


def test_no_snmp_and_an_account_for_other_targets_send_nothing():
    assert exchange(USER, agent_answers(USER), snmp=False)[1] == []
    assert exchange(USER, agent_answers(USER), targets=OTHER)[1] == []


def test_a_missed_time_window_gets_one_more_get_and_no_more():
    """RFC 3414 §3.2 7b: the agent's Report carries its clock; camscan asks once more with it."""
    report, _ = agent_answers(USER)
    unknown_user = agent_answers(snmpv3.UsmUser("nobody"))[1]
    usm_stats = bytes.fromhex("2b060106030f0101")  # 1.3.6.1.6.3.15.1.1: usmStatsUnknownUserNames is .3.0
    late = unknown_user.replace(usm_stats + b"\x03\x00", usm_stats + b"\x02\x00")  # usmStatsNotInTimeWindows
    assert late != unknown_user
    said, sends, notices = exchange(USER, [report, late])
    assert said == [] and notices == []
    assert sends == [AttemptedSend("unicast", CAMERA, 161)] * 3, "engine discovery, the GET, the GET again"
    _said, sends, notices = exchange(USER, [report, late, late])
    assert len(sends) == 3 and len(notices) == 1 and "usmStatsNotInTimeWindows" in notices[0]
