"""Discovery that misses no device: multicast repeated against loss, mDNS asked directly where
multicast may not go."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from types import SimpleNamespace

import pytest
from zeroconf import DNSIncoming, DNSOutgoing, DNSPointer, DNSService, DNSText
from zeroconf.const import _CLASS_IN, _FLAGS_AA, _FLAGS_QR_RESPONSE, _TYPE_PTR, _TYPE_SRV, _TYPE_TXT

from camscan.scan_discovery import MULTICAST_ROUNDS, Discovery, DiscoverySettings, multicast_offsets
from camscan.probes.discovery_probes import discovery_probes
from camscan.protocols import mdns
from camscan.scope import Scope
from camscan.transport import Pacer
from camscan.transport import discovery_sockets as discovery_transport
from camscan.transport.guard import OutOfScopeError
from test_send_guard import DatagramSocket

CAMERA = "198.18.0.10"
LINK = {"lab0": ipaddress.IPv4Interface("198.18.0.1/24")}


class FakeNetwork:
    """Discovery sockets whose sockets are :class:`DatagramSocket`; mDNS browsing hears nothing."""

    def __init__(self) -> None:
        self.sockets = None
        self.echoes: list[tuple[list[str], bytes]] = []
        self.frames = None

    def link_listener(self, links, bpf, on_frame):
        self.frames = on_frame
        return SimpleNamespace(open=lambda: None, close=lambda: None, notices=[])

    async def echo_all_nodes(self, scope, links, pacer, payload):
        self.echoes.append((list(links), payload))

    def ipv6_neighbours(self, interface):
        return []

    def discovery_sockets(self, scope, pacer, probes, links, on_datagram, unicast_probes=()):
        self.sockets = discovery_transport.DiscoverySockets(scope, pacer, probes, links, on_datagram, unicast_probes)
        self.sockets.open = lambda: self.sockets._sockets.update(
            {probe.name: DatagramSocket() for probe in [*probes, *unicast_probes]})
        self.sockets.close = lambda: None
        return self.sockets

    async def browse_mdns(self, scope, links, wait, on_observations):
        return []

    def stopped_listening(self) -> None:
        pass

    def sent(self, name: str) -> list[tuple[bytes, tuple[str, int]]]:
        return self.sockets._sockets[name].sent


def discovery(scope: Scope, links: dict, network: FakeNetwork, **settings) -> Discovery:
    transport = SimpleNamespace(pacer=Pacer(100000))
    return Discovery(scope, DiscoverySettings(wait=0.3, **settings), transport, store=None, scan_id=1,
                     network=network, links=links, probes=discovery_probes(seed=1))


def test_multicast_rounds_spread_with_jitter_over_the_first_half_of_the_window():
    offsets = [multicast_offsets(1.5, random.Random(seed)) for seed in range(20)]
    assert all(len(each) == MULTICAST_ROUNDS == 3 and each[0] == 0.0 for each in offsets)
    assert all(each == sorted(each) and each[-1] <= 0.75 for each in offsets)
    assert len({tuple(each) for each in offsets}) == 20, "each scan's rounds are jittered afresh"


def test_every_multicast_probe_is_sent_three_times_within_the_window():
    network = FakeNetwork()

    async def run() -> None:
        running = discovery(Scope(["198.18.0.0/24"]), LINK, network)
        await running.start()
        await running.finish()

    asyncio.run(run())
    multicast = [probe for probe in network.sockets.probes if probe.group]  # XMEye, Bosch, SNMP: unicast only
    assert {"wsd", "sadp", "dhip", "ssdp", "ubnt"} <= {probe.name for probe in multicast}
    for probe in multicast:
        assert network.sent(probe.name) == [(request, (probe.group, probe.port))
                                            for request in probe.requests] * 3, probe.name
    assert network.sent("mdns") == [], "on a multicast link, mDNS is zeroconf's multicast browse"
    assert [links for links, _payload in network.echoes] == [["lab0"]] * 3, "the ICMPv6 echo to ff02::1 too"


def test_repeated_replies_merge_into_one_set_of_observations():
    network = FakeNetwork()
    running = discovery(Scope(["198.18.0.0/24"]), LINK, network)
    reply = answer([("_axis-video._tcp.local.", "AXIS M3045 - ACCC8E000001")])
    for _copy in range(3):
        running._on_datagram(running._mdns_probe, reply, CAMERA, 5353, 1.0)
    found = running.take(CAMERA)
    assert len(found) == len(set((seen.field, seen.value) for seen in found)) > 0


def answer(services: list[tuple[str, str]], offered: tuple[str, ...] = ()) -> bytes:
    """An mDNS response naming ``services`` (type, instance) with SRV and TXT, and ``offered`` types."""
    out = DNSOutgoing(_FLAGS_QR_RESPONSE | _FLAGS_AA)
    for service_type, instance in services:
        name = f"{instance}.{service_type}"
        out.add_answer_at_time(DNSPointer(service_type, _TYPE_PTR, _CLASS_IN, 10, name), 0)
        out.add_answer_at_time(DNSService(name, _TYPE_SRV, _CLASS_IN, 10, 0, 0, 80, "cam.local."), 0)
        out.add_answer_at_time(DNSText(name, _TYPE_TXT, _CLASS_IN, 10, b"\x15macaddress=ACCC8E000001"), 0)
    for service_type in offered:
        out.add_answer_at_time(DNSPointer(mdns.SERVICE_ENUMERATION, _TYPE_PTR, _CLASS_IN, 10, service_type), 0)
    return out.packets()[0]


def questions(payload: bytes) -> set[str]:
    return {question.name for question in DNSIncoming(payload).questions}


@pytest.mark.parametrize("multicast, links", [(False, LINK), (True, {})])
def test_without_multicast_each_host_is_asked_for_its_services_directly(multicast, links):
    """--no-multicast, or a host on no link wholly in scope: DNS-SD questions go to the host's
    UDP 5353 from the probe's own ephemeral socket (RFC 6762 §5.5, §6.7)."""
    network = FakeNetwork()

    async def run() -> None:
        running = discovery(Scope(["198.18.0.0/25"] if links else ["198.18.0.0/24"]), links, network,
                            multicast=multicast)
        await running.start()
        await running.probe_host(CAMERA)

    asyncio.run(run())
    [(payload, address)] = network.sent("mdns")
    assert address == (CAMERA, 5353)
    assert {mdns.SERVICE_ENUMERATION, "_axis-video._tcp.local.", "_onvif._tcp.local."} <= questions(payload)
    assert not DNSIncoming(payload).questions[0].unicast, "a legacy query: the answer comes to its source port"


def test_a_host_on_a_multicast_link_is_not_asked_directly():
    network = FakeNetwork()

    async def run() -> None:
        running = discovery(Scope(["198.18.0.0/24"]), LINK, network)
        running.sockets.open()
        await running.probe_host(CAMERA)

    asyncio.run(run())
    assert network.sent("mdns") == []
    assert {address for _payload, address in network.sent("wsd")} == {(CAMERA, 3702)}


def test_no_mdns_means_no_direct_mdns_question_either():
    network = FakeNetwork()

    async def run() -> None:
        running = discovery(Scope(["198.18.0.0/24"]), {}, network, mdns=False)
        await running.start()
        await running.probe_host(CAMERA)

    asyncio.run(run())
    assert "mdns" not in network.sockets._sockets


def test_service_types_a_host_lists_are_asked_of_it_once_more():
    network = FakeNetwork()

    async def run() -> list:
        running = discovery(Scope(["198.18.0.0/24"]), {}, network)
        await running.start()
        await running.probe_host(CAMERA)
        offered = ("_axis-video._tcp.local.", "_axis-bwsd._tcp.local.", "_vapix-https._tcp.local.")
        for _copy in range(2):  # a repeated answer asks nothing new
            running._on_datagram(running._mdns_probe, answer([], offered), CAMERA, 5353, 1.0)
        await running.finish()
        return running.take(CAMERA)

    found = asyncio.run(run())
    first, follow_up = network.sent("mdns")
    assert follow_up[1] == (CAMERA, 5353)
    assert questions(follow_up[0]) == {"_axis-bwsd._tcp.local.", "_vapix-https._tcp.local."}
    assert ("mdns.service_type", "_axis-bwsd._tcp.local.") in {(seen.field, seen.value) for seen in found}


def test_a_direct_mdns_question_goes_only_into_scope():
    network = FakeNetwork()
    running = discovery(Scope([CAMERA]), {}, network)
    network.sockets.open()
    with pytest.raises(OutOfScopeError):
        asyncio.run(network.sockets.send_request("198.18.0.11", running._mdns_probe, b"query"))
    assert network.sent("mdns") == []


def test_the_all_nodes_echo_is_refused_on_a_link_not_wholly_in_scope(monkeypatch):
    from camscan.transport import linklisten

    import socket

    opened = []
    constants = {name: getattr(socket, name) for name in dir(socket) if name.isupper()}
    monkeypatch.setattr(linklisten, "socket", SimpleNamespace(
        **constants, if_nametoindex=lambda name: 2, socket=lambda *args: opened.append(args)))
    with pytest.raises(OutOfScopeError, match="multicast"):
        asyncio.run(linklisten.echo_all_nodes(Scope(["198.18.0.0/25"]), LINK, Pacer(1000), b"echo"))
    assert opened == []


def test_an_snmp_account_covering_an_ipv6_host_is_neither_sent_nor_counted_there():
    """The discovery sockets are IPv4: an IPv6 neighbour inside an SNMP account's targets gets
    no community (and the scan does not stop on an address its socket cannot take)."""
    from netaddr import IPSet

    from camscan.credentials import Account, Credentials

    account = Account(1, "snmp", ("2001:2::/120", "198.18.0.0/24"), IPSet(["2001:2::/120", "198.18.0.0/24"]),
                      community="s3cret-community")
    credentials = Credentials([account])
    network = FakeNetwork()

    async def run() -> None:
        running = discovery(Scope(["198.18.0.0/24", "2001:2::/120"]), {}, network, credentials=credentials)
        await running.start()
        await running.offer_snmp_account("2001:2::5")
        await running.offer_snmp_account("198.18.0.5")
        await running.finish()

    asyncio.run(run())
    assert [address for _payload, address in network.sent("snmp") if _payload.find(b"s3cret") >= 0] == [
        ("198.18.0.5", 161)]
    assert [(offered, count) for offered, count in credentials.offers()] == [(account, 1)]
