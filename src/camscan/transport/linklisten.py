"""Listening on the scan's multicast links, and the one ICMPv6 Echo Request to their all-nodes group.

The listener takes raw frames (root: the same permission as the ARP sweep) through a
capture filter its caller gives, and hands each frame another host sent to a callback;
it sends nothing. :func:`echo_all_nodes` sends an ICMPv6 Echo Request to ff02::1 on
each link the send guard lets carry multicast, with hop limit 1, from each of this
machine's IPv6 addresses on that link (RFC 4443 §2.2: a node answers a multicast
request from an address of the requester's scope, so each source draws out the
neighbours' addresses of that scope).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from camscan.protocols.icmpv6 import ALL_NODES
from camscan.scope import Scope
from camscan.transport import Pacer, raw_frames_allowed
from camscan.transport.discovery_sockets import listed_interface
from camscan.transport.guard import guard_multicast
from camscan.transport.record import open_listener, queued_frames

if TYPE_CHECKING:
    from scapy.supersocket import SuperSocket

Frame = Callable[[str, bytes, float | None], None]
READ_BATCH = 256


def interface_ipv6(name: str) -> list[ipaddress.IPv6Interface]:
    """The IPv6 addresses of an interface that may source packets (not tentative or deprecated)."""
    interface = listed_interface(name, 6)
    return [
        ipaddress.IPv6Interface(f"{entry['local']}/{entry['prefixlen']}")
        for entry in interface.get("addr_info", ())
        if entry.get("family") == "inet6" and not entry.get("tentative") and not entry.get("deprecated")
    ]


class LinkListener:
    """Raw frames heard on each link while discovery runs; ``on_frame(interface, frame, ts)``."""

    def __init__(self, links: dict, bpf: str, on_frame: Frame) -> None:
        self.links = links
        self.bpf = bpf
        self.on_frame = on_frame
        self.notices: list[str] = []
        self._sockets: dict[str, tuple[SuperSocket, bytes]] = {}

    def open(self) -> None:
        """Start listening on every link (nothing, with a notice, without raw-socket permission)."""
        if not self.links:
            return
        if not raw_frames_allowed():
            self.notices.append("no raw-socket permission: devices on the scanned links whose address is outside "
                                "scope, and IPv6 neighbours, are not heard")
            return
        from scapy.arch import get_if_hwaddr

        loop = asyncio.get_running_loop()
        for name in self.links:
            sock = open_listener(name, self.bpf)
            own_mac = bytes.fromhex(get_if_hwaddr(name).replace(":", ""))
            self._sockets[name] = (sock, own_mac)
            loop.add_reader(sock.fileno(), self._read, name)

    def _read(self, name: str) -> None:
        sock, own_mac = self._sockets[name]
        for count, (_layer, frame, ts) in enumerate(queued_frames(sock)):
            if frame is not None and frame[6:12] != own_mac:  # what this machine sent is no neighbour's word
                self.on_frame(name, frame, ts)
            if count >= READ_BATCH:
                return

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock, _own_mac in self._sockets.values():
            loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()


async def echo_all_nodes(scope: Scope, links: dict, pacer: Pacer, payload: bytes) -> None:
    """One ICMPv6 Echo Request (``payload``) to ff02::1 on each link, from each own IPv6 address there."""
    for name, link in links.items():
        guard_multicast(scope, link.network)
        index = socket.if_nametoindex(name)
        for own in interface_ipv6(name):
            with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)  # never routed beyond the link
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
                sock.bind((str(own.ip), 0, 0, index if own.is_link_local else 0))
                await pacer.wait()
                try:
                    sock.sendto(payload, (ALL_NODES, 0, 0, index))
                except OSError as error:
                    if error.errno not in (errno.ENOBUFS, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
                        raise
