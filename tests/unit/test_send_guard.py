"""The send guard as the transports apply it: connect-only ports, multicast links, out-of-scope
repliers, and every follow-up path that could carry data somewhere it must not go.

Nothing here reaches a network: live sockets are replaced by recorders, and the replay
network sends nothing by construction.
"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from camscan.capture.reader import ArpFrame, Datagram, Recording
from camscan.checks.runner import gateway_findings
from camscan.scan_discovery import Discovery, DiscoverySettings
from camscan.model import Device, Observation
from camscan.probes import flows
from camscan.probes.discovery_probes import discovery_probes
from camscan.protocols import snmp
from camscan.scope import Scope
from camscan.transport import Pacer
from camscan.transport import discovery_sockets as discovery_transport
from camscan.transport.guard import ConnectOnlyError, OutOfScopeError
from camscan.transport.live import LiveTransport
from camscan.transport.replay import AttemptedSend, ReplayNetwork

CAMERA = "198.18.0.10"
OUTSIDE = "198.18.1.10"
# Written out here rather than imported, so a change to the guard's own list fails these tests.
CONNECT_ONLY_PORTS = [445, 34567, 37777, 9100, 9101, 9102, 9103, 9104, 9105, 9106, 9107]
DATA_PORTS = [80, 444, 446, 9099, 9108, 34566, 34568, 37776, 37778]


class ConnectionRecorder:
    """Stands in for ``asyncio.open_connection``: notes each attempt and refuses it."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []

    async def __call__(self, host, port, **options):
        self.attempts.append((host, port))
        raise ConnectionRefusedError("no network in unit tests")


@pytest.fixture
def connections(monkeypatch) -> ConnectionRecorder:
    recorder = ConnectionRecorder()
    monkeypatch.setattr(asyncio, "open_connection", recorder)
    return recorder


def live_flow(port: int, tls: bool = False, ip: str = CAMERA, scope: Scope | None = None):
    async def run():
        transport = LiveTransport(scope or Scope([CAMERA]), 1000, 4, 0.5)
        return await transport.run_flow(ip, port, flows.http_flow(ip, port, tls=tls), tls=tls)

    return asyncio.run(run())


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("port", CONNECT_ONLY_PORTS)
def test_the_live_transport_never_opens_a_conversation_with_a_connect_only_port(port, tls, connections):
    with pytest.raises(ConnectOnlyError, match=f"{CAMERA}:{port}"):
        live_flow(port, tls)
    assert connections.attempts == []


@pytest.mark.parametrize("port", DATA_PORTS)
def test_ports_next_to_the_connect_only_ones_take_conversations(port, connections):
    assert not live_flow(port).connected
    assert connections.attempts == [(CAMERA, port)]


def test_the_live_transport_refuses_a_conversation_outside_scope(connections):
    with pytest.raises(OutOfScopeError):
        live_flow(80, ip=OUTSIDE)
    assert connections.attempts == []


def replay_network(*datagrams) -> ReplayNetwork:
    return ReplayNetwork(Recording(datagrams=list(datagrams)))


@pytest.mark.parametrize("port", CONNECT_ONLY_PORTS)
def test_the_replay_transport_refuses_conversations_with_connect_only_ports_but_not_connects(port):
    network = replay_network()
    transport = network.transport(Scope([CAMERA]), 1000, 4, 0.5)
    assert asyncio.run(transport.open_ports(CAMERA, [port])) == []
    with pytest.raises(ConnectOnlyError):
        asyncio.run(transport.run_flow(CAMERA, port, flows.banner_flow(CAMERA, port)))
    assert network.attempted_sends == [AttemptedSend("connect", CAMERA, port), AttemptedSend("conversation", CAMERA, port)]


def at(field: str, value: str, ip: str = CAMERA) -> Observation:
    return Observation(ip=ip, source="discovery", field=field, value=value, transport="udp")


def follow_up(found: list[Observation], scope: Scope | None = None) -> tuple[list[AttemptedSend], list[str]]:
    """The sends a discovery's follow-ups of ``found`` attempt (on the replay network), and its notices."""
    scope = scope or Scope([CAMERA])
    network = replay_network()

    async def run() -> None:
        transport = network.transport(scope, 1000, 4, 0.5)
        discovery = Discovery(scope, DiscoverySettings(wait=0.0, multicast=False), transport, None, 1, network, {})
        await discovery.follow_up(CAMERA, found)
        return discovery.notices

    notices = asyncio.run(run())
    return network.attempted_sends, notices


@pytest.mark.parametrize("port", CONNECT_ONLY_PORTS)
@pytest.mark.parametrize("field, url", [("wsd.xaddr", "http://{}:{}/onvif/device_service"),
                                        ("ssdp.location", "http://{}:{}/rootDesc.xml")], ids=["xaddr", "location"])
def test_discovery_follow_ups_never_talk_to_connect_only_ports(field, url, port):
    sends, notices = follow_up([at(field, url.format(CAMERA, port))])
    assert sends == []
    assert any("connect-only" in notice for notice in notices)


@pytest.mark.parametrize("field, url", [("wsd.xaddr", "http://{}:{}/onvif/device_service"),
                                        ("ssdp.location", "http://{}:{}/rootDesc.xml")], ids=["xaddr", "location"])
def test_discovery_follow_ups_go_only_to_in_scope_data_ports(field, url):
    sends, notices = follow_up([at(field, url.format(OUTSIDE, 8080)), at(field, url.format(CAMERA, 9108))])
    assert sends == [AttemptedSend("conversation", CAMERA, 9108)]
    assert any(OUTSIDE in notice and "outside scope" in notice for notice in notices)


def gateway(location: str) -> Device:
    return Device(ip=CAMERA, observations=[at("ssdp.location", location)])


@pytest.mark.parametrize("port", CONNECT_ONLY_PORTS)
def test_the_port_forward_check_never_asks_a_connect_only_port(port):
    network = replay_network()
    transport = network.transport(Scope([CAMERA]), 1000, 4, 0.5)
    found, notices = asyncio.run(gateway_findings(transport, [gateway(f"http://{CAMERA}:{port}/rootDesc.xml")]))
    assert found == [] and network.attempted_sends == []
    assert notices == [f"UPnP description http://{CAMERA}:{port}/rootDesc.xml of {CAMERA} names a connect-only port: "
                       "not contacted"]


def test_the_port_forward_check_asks_a_data_port():
    network = replay_network()
    transport = network.transport(Scope([CAMERA]), 1000, 4, 0.5)
    asyncio.run(gateway_findings(transport, [gateway(f"http://{CAMERA}:9108/rootDesc.xml")]))
    assert network.attempted_sends == [AttemptedSend("conversation", CAMERA, 9108)]


class DatagramSocket:
    """Stands in for a discovery socket: keeps what is sent, hands out queued replies."""

    def __init__(self, replies=()) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.replies = list(replies)

    def setsockopt(self, *option) -> None:
        pass

    def sendto(self, payload: bytes, address: tuple[str, int]) -> None:
        self.sent.append((payload, address))

    def recvfrom(self, size: int):
        if not self.replies:
            raise BlockingIOError
        return self.replies.pop(0)


def discovery_sockets(scope: Scope, links: dict, replies=()):
    heard: list[str] = []
    probes = discovery_probes(seed=1)
    sockets = discovery_transport.DiscoverySockets(scope, Pacer(100000), probes, links,
                                                   lambda probe, data, ip, port, at: heard.append(ip))
    sockets._sockets = {probe.name: DatagramSocket(replies) for probe in probes}
    return sockets, heard


def sent(sockets) -> list[tuple[str, int]]:
    return [address for sock in sockets._sockets.values() for _payload, address in sock.sent]


@pytest.mark.parametrize("link", ["198.18.0.1/23", "198.18.0.1/31", "198.18.0.1/32", "198.18.1.1/24"])
def test_live_discovery_refuses_to_multicast_on_a_link_not_wholly_in_scope(link):
    sockets, _heard = discovery_sockets(Scope(["198.18.0.0/24"]), {"lab0": ipaddress.IPv4Interface(link)})
    with pytest.raises(OutOfScopeError, match="multicast"):
        asyncio.run(sockets.send_multicast())
    assert sent(sockets) == []


@pytest.mark.parametrize("link", ["198.18.0.1/24", "198.18.0.5/30"])
def test_live_discovery_multicasts_on_a_link_wholly_in_scope(link):
    sockets, _heard = discovery_sockets(Scope(["198.18.0.0/24"]), {"lab0": ipaddress.IPv4Interface(link)})
    asyncio.run(sockets.send_multicast())
    expected = {(probe.group, probe.port) for probe in sockets.probes if probe.group}
    assert {address for address in sent(sockets)} == expected
    # SNMP and the XMEye search have no group: they go to live hosts only.
    assert {port for _group, port in expected}.isdisjoint({161, 34569})


def test_multicast_links_are_the_links_of_at_most_a_30_wholly_in_scope(monkeypatch):
    links = {"p30": ["198.18.0.5/30"], "p31": ["198.18.0.8/31"], "half": ["198.18.0.129/24"]}
    monkeypatch.setattr(discovery_transport.socket, "if_nameindex", lambda: list(enumerate(links)))
    monkeypatch.setattr(discovery_transport, "interface_links",
                        lambda name: [ipaddress.IPv4Interface(a) for a in links[name]])
    assert set(discovery_transport.multicast_links(Scope(["198.18.0.0/25"]))) == {"p30"}
    assert discovery_transport.multicast_links(Scope(["198.18.0.0/25"]), only="p31") == {}


def test_live_discovery_sends_a_secret_only_into_scope():
    concealed = []
    sockets, _heard = discovery_sockets(Scope([CAMERA]), {})
    sockets.conceal = lambda ip, port, secret: concealed.append((ip, port, secret))
    blank = snmp.blank_community("secret")
    with pytest.raises(OutOfScopeError):
        asyncio.run(sockets.send_secret("snmp", OUTSIDE, b"request", blank))
    assert sent(sockets) == [] and concealed == []
    asyncio.run(sockets.send_secret("snmp", CAMERA, b"request", blank))
    assert sent(sockets) == [(CAMERA, 161)]
    assert concealed == [(CAMERA, 161, blank)]


def test_live_discovery_sends_unicast_only_into_scope():
    sockets, _heard = discovery_sockets(Scope([CAMERA]), {})
    with pytest.raises(OutOfScopeError):
        asyncio.run(sockets.send_unicast(OUTSIDE))
    assert sent(sockets) == []
    asyncio.run(sockets.send_unicast(CAMERA))
    assert {ip for ip, _port in sent(sockets)} == {CAMERA}


def test_live_discovery_drops_replies_from_outside_scope():
    replies = [(b"reply", (OUTSIDE, 3702)), (b"reply", (CAMERA, 3702)), (b"reply", ("198.18.0.11", 3702))]
    sockets, heard = discovery_sockets(Scope([CAMERA]), {}, replies)
    probe = sockets.probes[0]
    sockets._read(probe, sockets._sockets[probe.name])
    assert heard == [CAMERA]
    assert sockets.dropped_out_of_scope == 2
    assert sent(sockets) == []


def replay_on_link(link: str, scope: Scope):
    """A replay network and its discovery sockets, multicasting on ``link``."""
    network = replay_network()
    links = {"replay": ipaddress.IPv4Interface(link)}
    sockets = network.discovery_sockets(scope, Pacer(100000), discovery_probes(seed=1), links, lambda *reply: None)
    return network, sockets, links


@pytest.mark.parametrize("link", ["198.18.0.1/23", "198.18.0.1/31", "198.18.0.1/32", "198.18.1.1/24"])
def test_replayed_discovery_refuses_to_multicast_on_a_link_not_wholly_in_scope(link):
    scope = Scope(["198.18.0.0/24"])
    network, sockets, links = replay_on_link(link, scope)
    with pytest.raises(OutOfScopeError, match="multicast"):
        asyncio.run(sockets.send_multicast())
    with pytest.raises(OutOfScopeError, match="multicast"):
        asyncio.run(network.echo_all_nodes(scope, links, Pacer(100000), b""))
    with pytest.raises(OutOfScopeError, match="multicast"):
        asyncio.run(network.browse_mdns(scope, links, 0.0, lambda ip, found: None))


def test_replayed_discovery_multicasts_on_a_link_wholly_in_scope():
    network, sockets, _links = replay_on_link("198.18.0.5/30", Scope(["198.18.0.0/24"]))
    asyncio.run(sockets.send_multicast())
    assert {(send.address, send.port) for send in network.attempted_sends} == {
        (probe.group, probe.port) for probe in discovery_probes(seed=1) if probe.group}


def scanner_recording(comment: str | None = None) -> Recording:
    """The scanner 198.18.0.1 multicasting, and ARP naming 198.18.0.9 (with a zero sender: an ARP probe)."""
    from scapy.layers.l2 import ARP, Ether

    frames = [Ether() / ARP(op=1, psrc="198.18.0.1", pdst="198.18.0.9"), Ether() / ARP(op=1, psrc="0.0.0.0", pdst="198.18.0.3")]
    return Recording(datagrams=[Datagram("198.18.0.1", 3702, "239.255.255.250", 3702, b"", 0.0)],
                     arp=[ArpFrame(bytes(frame), 0.0) for frame in frames], comments=[comment] if comment else [])


@pytest.mark.parametrize("comment, scope, multicast", [
    (None, "198.18.0.0/28", True),  # inferred: the narrowest network holding .1 and .9, a /28
    (None, "198.18.0.0/29", False),
    ('camscan scan options: {"multicast_links": ["198.18.0.1/23"]}', "198.18.0.0/24", False),  # as the recording names it
    ('camscan scan options: {"multicast_links": ["198.18.0.1/23"]}', "198.18.0.0/23", True),
    ('camscan scan options: {"multicast_links": ["no link"]}', "198.18.0.0/28", True),  # unreadable: inferred
])
def test_a_replay_multicasts_only_on_a_recorded_link_its_scope_holds_whole(comment, scope, multicast):
    links = ReplayNetwork(scanner_recording(comment)).multicast_links(Scope([scope]), None)
    assert bool(links) is multicast
