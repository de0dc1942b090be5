"""Stateless TCP SYN probes: the segments, the cookie that ties a reply to its probe, the replies.

As in zmap and masscan, a sweep keeps no state per probe: the SYN's sequence number is a
keyed hash of the connection's addresses and ports under a secret of the scan, so a reply
whose acknowledgement number is that hash plus one answers a SYN this scan sent, and
anything else (a forged or stray segment) is dropped. A SYN-ACK says the port is open, a
RST that it is closed (RFC 9293, 3.5: a closed port answers a SYN with RST, ACK = SEQ + 1).
"""

from __future__ import annotations

import hashlib
import socket
import struct

from camscan.protocols import ProtocolError

PROTOCOL_TCP = 6
SYN, RST, ACK = 0x02, 0x04, 0x10
WINDOW = 1024
MSS = 1460  # the usual Ethernet MSS, in the one option the SYN carries (as nmap's SYN scan does)
HEADER = struct.Struct("!HHIIBBHHH")  # ports, sequence, acknowledgement, offset, flags, window, checksum, urgent
MSS_OPTION = struct.pack("!BBH", 2, 4, MSS)  # RFC 9293, 3.2: kind 2, length 4
SEGMENT_BYTES = HEADER.size + len(MSS_OPTION)
SECRET_BYTES = 16


def cookie(secret: bytes, source_ip: str, destination_ip: str, source_port: int, destination_port: int) -> int:
    """The 32-bit sequence number of this scan's SYN from ``source_ip:source_port`` to
    ``destination_ip:destination_port`` (BLAKE2b keyed with the scan's ``secret``)."""
    digest = hashlib.blake2b(
        socket.inet_aton(source_ip) + socket.inet_aton(destination_ip) + struct.pack("!HH", source_port, destination_port),
        digest_size=4, key=secret,
    ).digest()
    return int.from_bytes(digest, "big")


def _sum_words(data: bytes) -> int:
    """The one's-complement sum of big-endian 16-bit words, not yet folded (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _fold(total: int) -> int:
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum(source_ip: str, destination_ip: str, segment: bytes) -> int:
    """The TCP checksum of ``segment`` (its checksum field zero) with the IPv4 pseudo-header (RFC 9293, 3.1)."""
    pseudo = socket.inet_aton(source_ip) + socket.inet_aton(destination_ip) + struct.pack("!HH", PROTOCOL_TCP, len(segment))
    return ~_fold(_sum_words(pseudo) + _sum_words(segment)) & 0xFFFF


def build_syn(source_ip: str, destination_ip: str, source_port: int, destination_port: int, sequence: int) -> bytes:
    """A SYN segment (TCP header and MSS option, no payload) for a raw IPv4 socket, which adds the IP header."""
    header = HEADER.pack(source_port, destination_port, sequence, 0, (SEGMENT_BYTES // 4) << 4, SYN, WINDOW, 0, 0)
    segment = header + MSS_OPTION
    return segment[:16] + struct.pack("!H", checksum(source_ip, destination_ip, segment)) + segment[18:]


class SynBuilder:
    """SYNs of one scan from one source port: everything but the addresses, the port and the
    sequence number is laid out (and summed for the checksum) once, so a probe costs a few
    additions; the bytes are those :func:`build_syn` gives."""

    def __init__(self, secret: bytes, source_port: int) -> None:
        self.secret = secret
        self.source_port = source_port
        self._template = bytearray(HEADER.pack(source_port, 0, 0, 0, (SEGMENT_BYTES // 4) << 4, SYN, WINDOW, 0, 0)
                                   + MSS_OPTION)
        # Everything constant: the template (zero where the variable fields go) and the pseudo-header's protocol and length.
        self._constant_sum = _sum_words(bytes(self._template)) + PROTOCOL_TCP + SEGMENT_BYTES

    def build(self, source_ip: str, destination_ip: str, destination_port: int) -> bytes:
        sequence = cookie(self.secret, source_ip, destination_ip, self.source_port, destination_port)
        addresses = socket.inet_aton(source_ip) + socket.inet_aton(destination_ip)
        total = (self._constant_sum + _sum_words(addresses) + destination_port
                 + (sequence >> 16) + (sequence & 0xFFFF))
        segment = self._template
        struct.pack_into("!HI", segment, 2, destination_port, sequence)
        struct.pack_into("!H", segment, 16, ~_fold(total) & 0xFFFF)
        return bytes(segment)


def parse_reply(packet: bytes) -> tuple[str, int, str, int, int, int]:
    """(sender, its port, receiver, its port, acknowledgement number, flags) of a TCP segment
    in an IPv4 packet as a raw socket reads it (IP header first)."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        raise ProtocolError("not an IPv4 packet")
    header_length = (packet[0] & 0x0F) * 4
    if packet[9] != PROTOCOL_TCP or header_length < 20 or len(packet) < header_length + 20:
        raise ProtocolError("not a TCP segment")
    source_port, destination_port, _sequence, acknowledgement, _offset, flags = struct.unpack_from(
        "!HHIIBB", packet, header_length)
    return (socket.inet_ntoa(packet[12:16]), source_port, socket.inet_ntoa(packet[16:20]), destination_port,
            acknowledgement, flags)


def answers(secret: bytes, reply: tuple[str, int, str, int, int, int]) -> str | None:
    """"open" for a SYN-ACK, "closed" for a RST, answering a SYN this scan sent (its cookie
    plus one acknowledged); None for anything else."""
    sender, sender_port, receiver, receiver_port, acknowledgement, flags = reply
    expected = (cookie(secret, receiver, sender, receiver_port, sender_port) + 1) & 0xFFFFFFFF
    if acknowledgement != expected:
        return None
    if flags & RST:
        return "closed"
    if flags & (SYN | ACK) == SYN | ACK:
        return "open"
    return None


def reply_filter(source_port: int) -> str:
    """The pcap filter of the replies to a sweep from ``source_port``: SYN-ACKs and RSTs to it
    (byte 13 of the TCP header holds the flags)."""
    return f"tcp and dst port {source_port} and (tcp[13] & {SYN | ACK} = {SYN | ACK} or tcp[13] & {RST} != 0)"
