"""ICMPv6 (RFC 4443) and the Neighbor Discovery / MLD messages (RFC 4861, RFC 3810) a link carries.

:func:`build_echo_request` is the body of an Echo Request for a raw ICMPv6 socket (the
kernel fills in the checksum over the pseudo-header, RFC 3542 §3.1); :func:`parse_frame`
reads who sent an ICMPv6 message in an Ethernet frame: a neighbour's MAC and one of its
IPv6 addresses.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from camscan.protocols import ProtocolError

ECHO_REQUEST, ECHO_REPLY = 128, 129  # RFC 4443 §4.1, §4.2
ROUTER_SOLICITATION, ROUTER_ADVERTISEMENT = 133, 134  # RFC 4861 §4.1, §4.2
NEIGHBOR_SOLICITATION, NEIGHBOR_ADVERTISEMENT = 135, 136  # RFC 4861 §4.3, §4.4
MLD_REPORT, MLD_V2_REPORT = 131, 143  # RFC 2710 §3, RFC 3810 §5.2
# RFC 4291 §2.7.1: the link-local all-nodes group; every IPv6 node answers an Echo Request to it.
ALL_NODES = "ff02::1"
# Messages whose sender is a node of the link talking about itself.
FROM_NEIGHBOUR = frozenset({ECHO_REPLY, ROUTER_SOLICITATION, ROUTER_ADVERTISEMENT, NEIGHBOR_SOLICITATION,
                            NEIGHBOR_ADVERTISEMENT, MLD_REPORT, MLD_V2_REPORT})
ETHERTYPE_IPV6 = 0x86DD
NEXT_ICMPV6, NEXT_HOP_BY_HOP = 58, 0
BPF = "ip6 and (ip6[6] == 58 or ip6[6] == 0)"  # ICMPv6, or behind a hop-by-hop header (MLD, RFC 3810 §5)


@dataclass(frozen=True)
class Heard:
    """One ICMPv6 message of a neighbour: who sent it (MAC, IPv6 address) and its type."""

    mac: str
    address: ipaddress.IPv6Address
    icmp_type: int


def build_echo_request(identifier: int, sequence: int, payload: bytes = b"camscan") -> bytes:
    """An ICMPv6 Echo Request (RFC 4443 §4.1) with a zero checksum, for the kernel to fill in."""
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, identifier & 0xFFFF, sequence & 0xFFFF) + payload


def parse_frame(frame: bytes) -> Heard:
    """The sender of the ICMPv6 message in an Ethernet II frame (a hop-by-hop header skipped).

    Raises ProtocolError for anything else, and for a sender with no address of its own
    yet (the unspecified ``::`` of duplicate address detection, RFC 4862 §5.4.2).
    """
    if len(frame) < 14 + 40 + 4 or struct.unpack_from("!H", frame, 12)[0] != ETHERTYPE_IPV6:
        raise ProtocolError("not an Ethernet/IPv6 frame")
    if frame[14] >> 4 != 6:
        raise ProtocolError("not an IPv6 packet")
    next_header, offset = frame[14 + 6], 14 + 40
    if next_header == NEXT_HOP_BY_HOP:
        if len(frame) < offset + 8:
            raise ProtocolError("truncated hop-by-hop header")
        next_header = frame[offset]
        offset += (frame[offset + 1] + 1) * 8  # RFC 8200 §4.3: length in 8-octet units, not counting the first
    if next_header != NEXT_ICMPV6 or len(frame) < offset + 4:
        raise ProtocolError("not an ICMPv6 message")
    address = ipaddress.IPv6Address(frame[14 + 8:14 + 24])
    if address.is_unspecified or address.is_multicast:
        raise ProtocolError("an ICMPv6 sender without an address of its own")
    mac = ":".join(f"{byte:02x}" for byte in frame[6:12])
    return Heard(mac, address, frame[offset])
