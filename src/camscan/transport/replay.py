"""Replaying a recorded scan: the unchanged probing core, answered from a pcap instead of the network.

Every probe is answered the way the recording says the device answered it: ARP replies,
reassembled TCP conversations matched by address, port and request (HTTPS ones decrypted
with the TLS keys the recording carries), UDP discovery replies and mDNS announcements.
A probe the recording has no answer for behaves like a host that did not answer.
Nothing is sent, so no privileges and no network are needed; the send guard still
checks every probe, exactly as live, and the network logs each send the scan attempted
(:attr:`ReplayNetwork.attempted_sends`) so that tests can check where it would have gone.

The replayed link is the one the recording names (``multicast_links`` among its scan
options), else the narrowest network holding the scanner and every address its ARP frames
name: multicast is replayed only when the scope holds that link whole, as live.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from camscan.capture.reader import Datagram, Recording, TcpConversation
from camscan.model import Observation
from camscan.protocols import Conversation, FlowReturn, ProtocolError, arp, icmpv6, mdns, tls_handshake
from camscan.protocols.tlsdecrypt import TlsDecryptError, decrypt_session, parse_keylog
from camscan.protocols.spec import DiscoveryProbe
from camscan.scope import Scope
from camscan.transport import Pacer
from camscan.transport.guard import guard, guard_conversation, guard_multicast, multicast_allowed
from camscan.transport.record import scan_options_from
from camscan.transport.discovery_sockets import Datagram as DatagramHandler
from camscan.transport.linklisten import Frame
from camscan.transport.live import FlowResult
from camscan.transport.synsweep import SweepReport

REPLAY_LINK = "replay"
ARP_ADDRESSES = ((28, 32), (38, 42))  # an Ethernet ARP frame's sender and target IPv4 addresses (RFC 826)


@dataclass(frozen=True)
class AttemptedSend:
    """A send the scan attempted, logged before the guard decided on it.

    ``kind`` is ``connect`` (the port sweep's bare connect), ``syn`` (the SYN sweep's probe), ``conversation`` (a flow's
    requests), ``arp`` (a who-has), ``unicast`` (a discovery probe) or ``multicast`` (to
    ``address``, a group, on the replayed link).
    """

    kind: str
    address: str
    port: int | None = None
_SOAP_OPERATION = re.compile(rb"<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)")


def request_key(payload: bytes) -> tuple[bytes, bytes, bool]:
    """What identifies a request when its bytes carry fresh ids (a SOAP MessageID, a WS-Security
    nonce): its request line, the SOAP operation it calls and whether it is signed."""
    line = payload.split(b"\r\n", 1)[0]
    operation = _SOAP_OPERATION.search(payload)
    return line, operation.group(1) if operation else b"", b"UsernameToken" in payload


def _is_tls(data: bytes) -> bool:
    return len(data) > 2 and data[0] == 0x16 and data[1] == 0x03


def _cleartext_certificate(server: bytes) -> bytes | None:
    """The leaf certificate of a TLS 1.0-1.2 handshake, readable without any key."""
    try:
        chain = tls_handshake.server_certificates(server)
    except ProtocolError:
        return None
    return chain[0] if chain else None


class _Conversation:
    """One recorded connection as the replay uses it: its turns in plaintext, and the server certificate.

    A TLS conversation is decrypted when a flow first asks for it, not when the recording is read.
    """

    def __init__(self, recorded: TcpConversation, keylog: dict, timeout: float) -> None:
        self.recorded = recorded
        self.timeout = timeout
        self.is_tls = _is_tls(next((data for side, data in recorded.turns if side == "c"), b""))
        self.used = False
        self._keylog = keylog
        self.certificate: bytes | None = None
        self.problem: str | None = None
        self._decrypted = not self.is_tls
        # The live scan's connect-only probe of the port (reset at once, nothing said) answered
        # no flow: a banner it happened to catch belongs to the flow's own connection.
        self.connect_probe = recorded.client_reset and not any(side == "c" for side, _ in recorded.turns)
        self.turns = recorded.turns
        self.turn_times = recorded.turn_times

    def prepare(self) -> None:
        """Decrypt a TLS conversation's turns (once), learning its ``certificate`` or ``problem``."""
        if not self._decrypted:
            self._decrypted = True
            self._decrypt()

    def _decrypt(self) -> None:
        turns = self.recorded.turns
        client = b"".join(data for side, data in turns if side == "c")
        server = b"".join(data for side, data in turns if side == "s")
        try:
            session = decrypt_session(client, server, self._keylog)
        except TlsDecryptError as error:
            self.problem = str(error)
            self.turns = []
            self.certificate = _cleartext_certificate(server)
        else:
            self.certificate = session.certificate
            self.turns = [("c", session.client_data)] if session.client_data else []
            self.turns += [("s", session.server_data)] if session.server_data else []
        self.turn_times = []  # decrypted turns lose their capture times

    def greeting(self) -> bytes:
        """What the server said before the client said anything (a banner)."""
        return b"".join(data for side, data in self._until_client(0))

    def _until_client(self, start: int):
        for side, data in self.turns[start:]:
            if side == "c":
                return
            yield side, data

    def answer(self, request: bytes, exact: bool) -> bytes | None:
        """The server's reply to the client turn that matches ``request``, or None."""
        wanted = request if exact else request_key(request)
        for index, (side, data) in enumerate(self.turns):
            if side == "c" and (data == wanted if exact else request_key(data) == wanted):
                if self._too_late(index):
                    return b""  # the live scan had stopped waiting: to it, the device said nothing
                return b"".join(reply for _, reply in self._until_client(index + 1))
        return None

    def _too_late(self, request: int) -> bool:
        """Whether the reply to turn ``request`` came after the scan's timeout."""
        times = self.turn_times
        return request + 1 < len(times) and times[request + 1] - times[request] > self.timeout


class ReplayTransport:
    """The live transport's interface, answered from recorded conversations."""

    def __init__(self, recording: Recording, scope: Scope, rate: float, timeout: float, scanner: set[str],
                 sends: list[AttemptedSend]) -> None:
        self.scope = scope
        self.scanner = scanner
        self.sends = sends
        self.pacer = Pacer(rate)
        self.timeout = timeout
        self.recording = recording
        keylog = parse_keylog(recording.tls_keylog) if recording.tls_keylog else {}
        self._by_service: dict[tuple[str, int], list[_Conversation]] = defaultdict(list)
        # Where the scan's port sweep connected, and where its flows' own connections did.
        self._swept_open: set[tuple[str, int]] = set()
        self._connected: set[tuple[str, int]] = set()
        # Ports a SYN sweep found open: a SYN-ACK in time, answered by the kernel's RST, never acknowledged.
        self._syn_answered: set[tuple[str, int]] = set()
        for recorded in recording.conversations:
            conversation = _Conversation(recorded, keylog, timeout)
            if not conversation.connect_probe:
                self._by_service[recorded.server].append(conversation)
            if recorded.completed:
                (self._swept_open if conversation.connect_probe else self._connected).add(recorded.server)
            elif conversation.connect_probe and recorded.established and recorded.end - recorded.start <= timeout:
                self._syn_answered.add(recorded.server)
        self._swept_open |= self._syn_answered

    async def open_ports(self, ip: str, ports: list[int]) -> list[int]:
        """The ports the recorded sweep's connect probe reached (it acknowledged the SYN-ACK in time)."""
        self.sends += [AttemptedSend("connect", ip, port) for port in ports]
        guard(self.scope, ip)
        return [port for port in ports if (ip, port) in self._swept_open]

    def stateless_targets(self, hosts: list[str]) -> list[str]:
        """The IPv4 hosts, when the recording holds a SYN sweep's answers (the live scan swept them so)."""
        return [ip for ip in hosts if ":" not in ip] if self._syn_answered else []

    async def syn_sweep(
        self, hosts: list[str], ports: list[int], on_answer: Callable[[str, int, bool], None]
    ) -> SweepReport:
        """Probe as the live sweep does; ``on_answer`` hears the ports the recorded sweep found open."""
        report = SweepReport()
        for ip in hosts:
            self.sends += [AttemptedSend("syn", ip, port) for port in ports]
            guard(self.scope, ip)
            report.sent += len(ports)
            for port in ports:
                if (ip, port) in self._swept_open:
                    report.opened += 1
                    on_answer(ip, port, True)
        return report

    async def run_flow(
        self, ip: str, port: int, flow: Conversation[FlowReturn], tls: bool = False
    ) -> FlowResult[FlowReturn]:
        self.sends.append(AttemptedSend("conversation", ip, port))
        guard_conversation(self.scope, ip, port)
        candidates = [conv for conv in self._by_service.get((ip, port), ()) if conv.is_tls == tls]
        for conv in candidates:
            conv.prepare()
        if (ip, port) not in self._connected:
            flow.close()
            return FlowResult([], None, connected=False)
        certificate = next((conv.certificate for conv in candidates if conv.certificate), None)
        unreadable = next((conv.problem for conv in candidates if conv.problem), None)
        try:
            exchange = next(flow)
            while True:
                exchange = flow.send(self._reply(candidates, exchange.payload)[: exchange.max_bytes])
        except StopIteration as finished:
            found = finished.value or []
            # A recorded HTTPS conversation that could not be decrypted is said, not silently lost.
            error = f"{ip}:{port}: recorded TLS conversation unreadable: {unreadable}" if unreadable and not found else None
            return FlowResult(found, certificate, True, error=error)
        except (ValueError, TypeError, LookupError, UnicodeError) as error:
            return FlowResult([], certificate, True, error=f"{ip}:{port}: {error}")

    @staticmethod
    def _reply(candidates: list[_Conversation], payload: bytes) -> bytes:
        if not payload:
            fresh = [conv for conv in candidates if not conv.used] or candidates
            for conv in fresh:
                conv.used = True
                return conv.greeting()
            return b""
        for exact in (True, False):
            for conv in sorted(candidates, key=lambda conv: conv.used):
                reply = conv.answer(payload, exact)
                if reply is not None:
                    conv.used = True
                    return reply
        return b""

    async def arp_sweep(
        self, interface: str, targets, on_reply: Callable[[Observation], None], wait: float, rate: float
    ) -> None:
        """Ask for every target, as the live sweep does, then hand over the recorded replies from in-scope targets."""
        wanted = set(targets) - self.scanner
        for ip in sorted(wanted, key=ipaddress.ip_address):
            self.sends.append(AttemptedSend("arp", ip))
            guard(self.scope, ip)
        answered: set[str] = set()
        for frame in self.recording.arp:
            try:
                seen = arp.parse_reply(frame.frame, at=time.time())
            except ValueError:
                continue
            if seen.ip in wanted and seen.ip not in answered and self.scope.allowed(seen.ip):
                answered.add(seen.ip)
                on_reply(seen)


class ReplayDiscoverySockets:
    """Recorded discovery replies, handed over when the scan sends the probe they answered."""

    def __init__(
        self, scope: Scope, probes: list[DiscoveryProbe], scanner: set[str], datagrams: list[Datagram],
        on_datagram: DatagramHandler, sends: list[AttemptedSend], unicast_probes: Sequence[DiscoveryProbe] = (),
        links: dict[str, ipaddress.IPv4Interface] | None = None,
    ) -> None:
        """``unicast_probes`` are asked of each host only when the scan has no multicast link (``links``)."""
        self.scope = scope
        self.links = links or {}
        self.on_datagram = on_datagram
        self.sends = sends
        self.notices: list[str] = []
        self.dropped_out_of_scope = 0
        self._replies: dict[str, list[Datagram]] = {}
        self._replies_by_source: dict[str, dict[str, list[Datagram]]] = {}
        self._probes = {probe.name: probe for probe in probes}
        self._unicast_probes = {} if self.links else {probe.name: probe for probe in unicast_probes}
        self._delivered: set[int] = set()
        for probe in [*probes, *self._unicast_probes.values()]:
            own_ports = {item.sport for item in datagrams if item.src in scanner and item.dport == probe.port}
            own_ports.add(probe.port)
            replies = self._replies[probe.name] = [
                item for item in datagrams
                if item.src not in scanner and (item.dport in own_ports or item.sport == probe.port)
            ]
            by_source = self._replies_by_source[probe.name] = defaultdict(list)
            for item in replies:
                by_source[item.src].append(item)

    def open(self) -> None:
        """Nothing to open: the recording is already read."""

    def _deliver(self, probe: DiscoveryProbe, replies: list[Datagram]) -> None:
        for item in replies:
            if id(item) in self._delivered:
                continue
            self._delivered.add(id(item))
            if not self.scope.allowed(item.src):
                self.dropped_out_of_scope += 1
                continue
            self.on_datagram(probe, item.payload, item.src, item.sport, time.time())

    async def send_multicast(self) -> None:
        """Every probe that has a group to it, on each link, logged and guarded as live."""
        grouped = [(probe.group, probe) for probe in self._probes.values() if probe.group is not None]
        for link in self.links.values():
            self.sends += [AttemptedSend("multicast", group, probe.port)
                           for group, probe in grouped for _request in probe.requests]
            guard_multicast(self.scope, link.network)
            for _group, probe in grouped:
                self._deliver(probe, self._replies[probe.name])

    async def send_unicast(self, ip: str) -> None:
        """Every probe to one host, and the unicast-only ones (mDNS questions) where there is no
        multicast link: each logged, as live sends each."""
        probes = {**self._probes, **self._unicast_probes}
        for probe in probes.values():
            self.sends += [AttemptedSend("unicast", ip, probe.port)] * len(probe.requests)
        guard(self.scope, ip)
        for name, probe in probes.items():
            self._deliver(probe, self._replies_by_source[name].get(ip, []))

    async def send_secret(self, name: str, ip: str, payload: bytes, blank: Callable[[bytes], bytes]) -> None:
        probe = self._probes[name]
        self.sends.append(AttemptedSend("unicast", ip, probe.port))
        guard(self.scope, ip)
        self._deliver(probe, self._replies_by_source[name].get(ip, []))

    async def send_request(self, ip: str, probe: DiscoveryProbe, request: bytes) -> None:
        """A further question: the recorded answers were all handed over with the first."""
        self.sends.append(AttemptedSend("unicast", ip, probe.port))
        guard(self.scope, ip)

    def close(self) -> None:
        """Nothing to close."""


class ReplayLinkListener:
    """A replay hears no raw frames on a link: the recording's discovery datagrams reach the scan
    through :class:`ReplayDiscoverySockets`."""

    notices: list[str] = []

    def open(self) -> None:
        """Nothing to open."""

    def close(self) -> None:
        """Nothing to close."""


class ReplayNetwork:
    """A recording standing in for the network: the same answers, nothing sent."""

    # Every answer is in memory: no host stalls, so none is stored part-way (a replay interrupted
    # or killed is run again for the same result); a host is stored once, when done.
    answers_at_once = True

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.scanner = self._scanner_addresses(recording)
        self.links = replayed_links(recording, self.scanner)
        self.attempted_sends: list[AttemptedSend] = []

    @staticmethod
    def _scanner_addresses(recording: Recording) -> set[str]:
        """Whoever opened the recorded connections is the scanner that made the recording."""
        clients = {conv.client[0] for conv in recording.conversations}
        return clients or {item.src for item in recording.datagrams if ipaddress.ip_address(item.dst).is_multicast}

    def plan(self, hosts: list[str], interface: str | None) -> tuple[dict[str, list[str]], list[str], list[str]]:
        if self.recording.arp:
            return {REPLAY_LINK: hosts}, [], []
        return {}, hosts, []

    def neighbour_mac(self, ip: str, max_age: float = 0.0) -> Observation | None:
        """A recording holds no kernel ARP table: its ARP frames are replayed by the sweep."""
        return None

    def multicast_links(self, scope: Scope, interface: str | None) -> dict[str, ipaddress.IPv4Interface]:
        """The recorded links the scope holds whole, as :func:`camscan.transport.discovery_sockets.multicast_links` chooses live."""
        named = {REPLAY_LINK if index == 0 else f"{REPLAY_LINK}{index}": link for index, link in enumerate(self.links)}
        return {name: link for name, link in named.items() if multicast_allowed(scope, link.network)}

    def transport(self, scope: Scope, rate: float, concurrency: int, timeout: float) -> ReplayTransport:
        return ReplayTransport(self.recording, scope, rate, timeout, self.scanner, self.attempted_sends)

    def discovery_sockets(self, scope: Scope, pacer: Pacer, probes: list[DiscoveryProbe], links: dict,
                          on_datagram: DatagramHandler,
                          unicast_probes: Sequence[DiscoveryProbe] = ()) -> ReplayDiscoverySockets:
        return ReplayDiscoverySockets(scope, probes, self.scanner, self.recording.datagrams, on_datagram,
                                      self.attempted_sends, list(unicast_probes), links)

    def link_listener(self, links: dict, bpf: str, on_frame: Frame) -> ReplayLinkListener:
        return ReplayLinkListener()

    async def echo_all_nodes(self, scope: Scope, links: dict, pacer: Pacer, payload: bytes) -> None:
        """Logged and guarded like the live Echo Request; the recording's answers come by the link listener (none)."""
        for link in links.values():
            self.attempted_sends.append(AttemptedSend("multicast", icmpv6.ALL_NODES))
            guard_multicast(scope, link.network)

    def ipv6_neighbours(self, interface: str) -> list[tuple[ipaddress.IPv6Address, str]]:
        """A recording holds no kernel neighbour cache."""
        return []

    async def browse_mdns(self, scope: Scope, links: dict, wait: float,
                          on_observations: Callable[[str, list[Observation]], None]) -> list[str]:
        """The mDNS answers the recording holds, read by the same parser passive analysis uses."""
        for link in links.values():
            self.attempted_sends.append(AttemptedSend("multicast", mdns.MULTICAST_GROUP, mdns.PORT))
            guard_multicast(scope, link.network)
        for item in self.recording.datagrams:
            if item.sport != mdns.PORT or item.src in self.scanner or not scope.allowed(item.src):
                continue
            try:
                found = mdns.parse_packet(item.payload, item.src, item.sport, time.time())
            except ProtocolError:
                continue
            if found:
                on_observations(item.src, found)
        return []

    def start_recording(self, scope: Scope, by_interface: dict[str, list[str]], routed: list[str], links: dict) -> None:
        """A replay records nothing."""

    def stopped_listening(self) -> None:
        """A replay records nothing."""

    def stop_recording(self) -> None:
        """A replay records nothing."""


def replayed_links(recording: Recording, scanner: set[str]) -> list[ipaddress.IPv4Interface]:
    """The links the recorded scan multicast on.

    A camscan recording names them (``multicast_links``); for any other, each scanner address
    that sent multicast gets the narrowest network holding it and every address the ARP frames
    name (ARP never leaves its link): the real link may be wider, never narrower.
    """
    recorded = (scan_options_from(recording.comments) or {}).get("multicast_links")
    if isinstance(recorded, list) and recorded:
        try:
            return [ipaddress.IPv4Interface(link) for link in recorded]
        except (ValueError, TypeError):
            pass  # a recording is untrusted input: an unreadable link is inferred like a foreign recording's
    senders = sorted({item.src for item in recording.datagrams
                      if item.src in scanner and ipaddress.ip_address(item.dst).is_multicast and ":" not in item.src})
    heard = {ipaddress.IPv4Address(frame.frame[start:end]) for frame in recording.arp
             for start, end in ARP_ADDRESSES if len(frame.frame) >= end}
    heard.discard(ipaddress.IPv4Address(0))
    return [_narrowest_link(ipaddress.IPv4Address(sender), heard) for sender in senders]


def _narrowest_link(own: ipaddress.IPv4Address, neighbours: set[ipaddress.IPv4Address]) -> ipaddress.IPv4Interface:
    prefix = 32
    while prefix and not all(address in ipaddress.ip_network(f"{own}/{prefix}", strict=False) for address in neighbours):
        prefix -= 1
    return ipaddress.IPv4Interface(f"{own}/{prefix}")
