"""What the devices of the in-scope links say on them while discovery listens (sans-IO).

Frames come from :mod:`camscan.transport.linklisten`, raw from each link discovery
multicasts on (a link wholly in scope). Two kinds of neighbour come out of them:

* a device whose IPv4 address lies outside scope, yet talks on the link: a camera left on
  its factory address (192.168.1.64 and the like) on the school's segment. Its ARP
  requests and gratuitous ARP (RFC 826, RFC 5227 §2.4) and its discovery replies and
  announcements name its MAC, the address it claims and what it is. It is recorded as
  :data:`ON_LINK_OUTSIDE_SCOPE`, and camscan never sends it anything;
* an IPv6 node: its Echo Reply to the all-nodes group (RFC 4443 §4.2), Neighbor
  Discovery (RFC 4861 §4) and MLD reports (RFC 3810 §5.2) give its MAC and addresses.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from dataclasses import dataclass, field

from camscan.capture.reader import LINKTYPE_ETHERNET, Datagram, TrafficAssembler
from camscan.model import Observation
from camscan.protocols import ProtocolError, arp, icmpv6
from camscan.registry import DISCOVERY_BY_PORT, discovery_protocol_of

# How a device the scan heard but may not contact is marked in the inventory.
ON_LINK_OUTSIDE_SCOPE = "on-link, outside scope"
ETHERTYPE_IPV4 = 0x0800
# Ports whose traffic the link listener passes on: the discovery protocols'.
DISCOVERY_PORTS = tuple(sorted(DISCOVERY_BY_PORT))
MAX_OUTSIDE_DEVICES = 1024  # a hostile link cannot grow the inventory without bound
MAX_OBSERVATIONS_PER_DEVICE = 256


def link_filter() -> str:
    """The capture filter of what the link listener needs: ARP, ICMPv6 (with MLD's hop-by-hop
    header) and UDP to or from a discovery port, with the later fragments of UDP datagrams
    (a SADP reply outgrows one frame; only the first fragment carries the ports); not the
    link's bulk (video streams)."""
    ports = " or ".join(f"port {port}" for port in DISCOVERY_PORTS)
    return f"arp or ({icmpv6.BPF}) or (udp and ({ports})) or (ip proto 17 and ip[6:2] & 0x1fff != 0)"


@dataclass
class OutsideDevice:
    """A device heard on an in-scope link claiming an address outside scope."""

    ip: str
    interface: str
    network: str  # the network of the link it was heard on
    observations: dict[tuple, Observation] = field(default_factory=dict)


@dataclass
class Ipv6Neighbour:
    """An IPv6 node heard on an in-scope link: its MAC and every address it used."""

    mac: str
    interface: str
    addresses: set[str] = field(default_factory=set)


def _unicast_ipv4(text: str) -> bool:
    address = ipaddress.IPv4Address(text)
    return not (address.is_multicast or address.is_unspecified or address == ipaddress.IPv4Address("255.255.255.255"))


def ipv6_text(address: ipaddress.IPv6Address, interface: str) -> str:
    """An IPv6 address as the inventory names it: link-local ones with their interface (RFC 4007 §11)."""
    return f"{address}%{interface}" if address.is_link_local else str(address)


class LinkHearing:
    """Collects, per link, the outside-scope IPv4 devices and the IPv6 neighbours heard."""

    def __init__(self, scope, links: dict[str, ipaddress.IPv4Interface]) -> None:
        self.scope = scope
        self.links = links
        self.outside: dict[str, OutsideDevice] = {}
        self.ipv6: dict[str, Ipv6Neighbour] = {}
        self._assembler = TrafficAssembler()  # reassembles fragmented datagrams (kept a short while)

    def feed(self, interface: str, frame: bytes, at: float | None = None) -> None:
        """Take one Ethernet frame heard on ``interface`` (one of the scan's links)."""
        if interface not in self.links or len(frame) < 14:
            return
        at = time.time() if at is None else at
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        try:
            if ethertype == 0x0806:
                self._arp(interface, frame, at)
            elif ethertype == ETHERTYPE_IPV4:
                self._ipv4(interface, frame, at)
            elif ethertype == icmpv6.ETHERTYPE_IPV6:
                self._icmpv6(interface, frame)
        except (ProtocolError, ValueError, struct.error):
            return

    def _arp(self, interface: str, frame: bytes, at: float) -> None:
        """The sender of any ARP packet (RFC 826: its sender fields are valid in requests too,
        and a gratuitous ARP announces the sender's own address, RFC 5227 §2.4)."""
        _opcode, sender = arp.parse_frame(frame, "arp-heard", at)
        if _unicast_ipv4(sender.ip) and not self.scope.allowed(sender.ip):
            self._outside(interface, sender.ip, [sender])

    def _ipv4(self, interface: str, frame: bytes, at: float) -> None:
        """A discovery reply or announcement from outside scope (fragments reassembled first)."""
        if len(frame) < 34 or not _unicast_ipv4(source := str(ipaddress.IPv4Address(frame[26:30]))) \
                or self.scope.allowed(source):
            return  # in scope: the discovery sockets hear it
        for datagram in self._assembler.feed(LINKTYPE_ETHERNET, frame, at):
            if not isinstance(datagram, Datagram):
                continue
            spec = discovery_protocol_of(datagram.sport, datagram.dport)
            said = spec.parse(datagram.payload, source, datagram.sport, at) if spec else []
            if said:
                mac = ":".join(f"{byte:02x}" for byte in frame[6:12])
                wire = Observation(ip=source, source="ethernet", field="mac.address", value=mac,
                                   transport="ethernet", observed_at=at)
                self._outside(interface, source, [wire, *said])

    def _outside(self, interface: str, ip: str, found: list[Observation]) -> None:
        device = self.outside.get(ip)
        if device is None:
            if len(self.outside) >= MAX_OUTSIDE_DEVICES:
                return
            device = self.outside[ip] = OutsideDevice(ip, interface, str(self.links[interface].network))
        for seen in found:
            if len(device.observations) >= MAX_OBSERVATIONS_PER_DEVICE:
                return
            device.observations.setdefault((seen.source, seen.field, seen.value, seen.port), seen)

    def _icmpv6(self, interface: str, frame: bytes) -> None:
        heard = icmpv6.parse_frame(frame)
        if heard.icmp_type not in icmpv6.FROM_NEIGHBOUR:
            return
        self.add_ipv6(interface, heard.mac, heard.address)

    def add_ipv6(self, interface: str, mac: str, address: ipaddress.IPv6Address) -> None:
        """One address of an IPv6 neighbour (heard, or from the kernel's neighbour cache)."""
        if address.is_multicast or address.is_unspecified or address.is_loopback:
            return
        neighbour = self.ipv6.setdefault(mac, Ipv6Neighbour(mac, interface))
        if len(neighbour.addresses) < MAX_OBSERVATIONS_PER_DEVICE:
            neighbour.addresses.add(ipv6_text(address, interface))
