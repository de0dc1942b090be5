"""Discovery over UDP: probes multicast on in-scope links and unicast to in-scope hosts, every reply in.

One socket per protocol. When multicast is allowed it is bound to the protocol's own port
and joined to its group on each in-scope link, because some devices (Hikvision SADP,
Dahua DHIP) answer to the group rather than to the asker; otherwise it is an ephemeral
unicast socket. Unicast-only probes (mDNS questions, asked of hosts on links where camscan
may not multicast) always get an ephemeral socket. Replies are accepted from any source
port, but only from addresses in scope: anything else is counted and dropped here (an
on-link device outside scope is heard by :mod:`camscan.transport.linklisten` instead).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import socket
import subprocess
import time
from collections.abc import Callable, Sequence

from camscan.protocols.spec import DiscoveryProbe
from camscan.scope import Scope
from camscan.transport import Pacer, deepen_receive_queue
from camscan.transport.guard import guard, guard_multicast, multicast_allowed

MAX_DATAGRAM = 65535
READ_BATCH = 32  # replies parsed per event-loop turn

Datagram = Callable[[DiscoveryProbe, bytes, str, int, float], None]


def listed_interface(name: str, family: int) -> dict:
    """``ip -j addr show`` of one interface, its IPv4 (``family`` 4) or IPv6 addresses; {} if unreadable."""
    try:
        listed = subprocess.run(["ip", "-j", f"-{family}", "addr", "show", "dev", name], capture_output=True,
                                text=True, timeout=5, check=True).stdout
        [interface] = json.loads(listed) or [{}]
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    return interface


def interface_links(name: str) -> list[ipaddress.IPv4Interface]:
    """Every IPv4 address (with its network) of an interface that is up and can multicast."""
    interface = listed_interface(name, 4)
    flags = set(interface.get("flags", ()))
    if "UP" not in flags or "MULTICAST" not in flags or "LOOPBACK" in flags:
        return []
    return [
        ipaddress.IPv4Interface(f"{entry['local']}/{entry['prefixlen']}")
        for entry in interface.get("addr_info", ()) if entry.get("family") == "inet"
    ]


def multicast_links(scope: Scope, only: str | None = None) -> dict[str, ipaddress.IPv4Interface]:
    """Interfaces whose every network lies wholly in scope: the only links discovery may multicast on.

    Multicast reaches everyone on the link, so a second address in another network, or a
    point-to-point /31-/32 whose neighbours camscan cannot know, keeps the link unicast-only.
    """
    links = {}
    for _index, name in socket.if_nameindex():
        if only and name != only:
            continue
        addresses = interface_links(name)
        if addresses and all(multicast_allowed(scope, address.network) for address in addresses):
            links[name] = addresses[0]
    return links


class DiscoverySockets:
    """The sockets of one scan's discovery; ``on_datagram`` is called for each in-scope reply."""

    def __init__(
        self,
        scope: Scope,
        pacer: Pacer,
        probes: list[DiscoveryProbe],
        links: dict[str, ipaddress.IPv4Interface],
        on_datagram: Datagram,
        unicast_probes: Sequence[DiscoveryProbe] = (),
        conceal: Callable[[str, int, Callable[[bytes], bytes]], None] | None = None,
    ) -> None:
        """``unicast_probes`` are sent only by :meth:`send_unicast`, and only to hosts on no multicast
        link. ``conceal(ip, port, blank)``, where a recording is made without credentials, has
        the datagrams exchanged with ip:port recorded as ``blank`` gives them."""
        self.scope = scope
        self.conceal = conceal
        self.pacer = pacer
        self.probes = probes
        self.unicast_probes = list(unicast_probes)
        self.links = links
        self.on_datagram = on_datagram
        self.notices: list[str] = []
        self.dropped_out_of_scope = 0
        self._sockets: dict[str, socket.socket] = {}
        self._own = {str(link.ip) for link in links.values()}

    def open(self) -> None:
        loop = asyncio.get_running_loop()
        for probe in self.probes + self.unicast_probes:
            sock = self._socket_for(probe, joined=probe in self.probes and bool(self.links))
            self._sockets[probe.name] = sock
            loop.add_reader(sock.fileno(), self._read, probe, sock)

    def _socket_for(self, probe: DiscoveryProbe, joined: bool) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            deepen_receive_queue(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            own_port = probe.reply_port or (probe.port if joined and probe.listens_on_port else None)
            if own_port:
                try:
                    sock.bind(("", own_port))
                except OSError as error:
                    sock.bind(("", 0))
                    self.notices.append(
                        f"{probe.name}: UDP port {own_port} is taken ({error.strerror}); "
                        "replies sent to that port rather than to the asker will be missed"
                    )
            else:
                sock.bind(("", 0))
            if joined:
                for link in self.links.values():
                    if probe.group:
                        membership = socket.inet_aton(probe.group) + socket.inet_aton(str(link.ip))
                        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
                # Discovery is link-local by design: never let a probe be routed further.
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        except BaseException:
            sock.close()
            raise
        return sock

    def _read(self, probe: DiscoveryProbe, sock: socket.socket) -> None:
        """Parse the queued replies, at most ``READ_BATCH`` per call: the event loop calls again
        while more wait, and meanwhile serves everything else (zeroconf misses mDNS answers
        when the loop stalls for tens of milliseconds, as a thousand ProbeMatches at once would)."""
        for _ in range(READ_BATCH):
            try:
                data, (ip, port) = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable reported on the socket
                continue
            if ip in self._own:
                continue
            if not self.scope.allowed(ip):
                self.dropped_out_of_scope += 1
                continue
            self.on_datagram(probe, data, ip, port, time.time())

    async def _send(self, sock: socket.socket, payload: bytes, address: tuple[str, int]) -> None:
        await self.pacer.wait()
        try:
            sock.sendto(payload, address)
        except OSError as error:
            # EACCES: a broadcast address (the socket has no SO_BROADCAST, so none is ever sent).
            if error.errno not in (errno.ENOBUFS, errno.EAGAIN, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES):
                raise

    async def send_multicast(self) -> None:
        """Every probe that has a group to it, on each in-scope link."""
        for link in self.links.values():
            guard_multicast(self.scope, link.network)
            for probe in self.probes:
                if probe.group is None:
                    continue
                sock = self._sockets[probe.name]
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(str(link.ip)))
                for request in probe.requests:
                    await self._send(sock, request, (probe.group, probe.port))

    def on_multicast_link(self, ip: str) -> bool:
        """Whether ``ip`` lies in the network of a link this scan multicasts on."""
        address = ipaddress.ip_address(ip)
        return any(address in link.network for link in self.links.values())

    async def send_unicast(self, ip: str) -> None:
        """Every probe straight to one host (reaches routed subnets multicast cannot), and the
        unicast-only probes to a host on no multicast link; IPv4 only."""
        guard(self.scope, ip)
        if ipaddress.ip_address(ip).version != 4:
            return
        probes = self.probes + ([] if self.on_multicast_link(ip) else self.unicast_probes)
        for probe in probes:
            for request in probe.requests:
                await self._send(self._sockets[probe.name], request, (ip, probe.port))

    async def send_request(self, ip: str, probe: DiscoveryProbe, request: bytes) -> None:
        """One more request of ``probe`` to one host (a question its first answer invited)."""
        guard(self.scope, ip)
        await self._send(self._sockets[probe.name], request, (ip, probe.port))

    async def send_secret(self, name: str, ip: str, payload: bytes, blank: Callable[[bytes], bytes]) -> None:
        """One request of probe ``name`` that carries a secret (an SNMP community or SNMPv3 user
        of the credentials file) to one in-scope host; ``blank`` gives a datagram exchanged with
        it as a recording keeps it."""
        guard(self.scope, ip)
        probe = next(probe for probe in self.probes if probe.name == name)
        if self.conceal:
            self.conceal(ip, probe.port, blank)
        await self._send(self._sockets[name], payload, (ip, probe.port))

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._sockets.values():
            loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
