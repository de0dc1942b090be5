"""Streaming pcap/pcapng reader: frames become UDP datagrams, ARP frames and reassembled TCP conversations.

File formats (own block parser, no scapy on the hot path):

* pcap: the classic libpcap file, micro- or nanosecond timestamps, either byte order
  (https://www.tcpdump.org/manpages/pcap-savefile.5.html).
* pcapng: Section Header, Interface Description (``if_tsresol`` honoured), Enhanced,
  Simple and obsolete Packet blocks, and the Decryption Secrets Block whose secrets type
  ``0x544c534b`` carries an NSS TLS key log (draft-ietf-opsawg-pcapng, section 4.7).
  Several sections in one file are read in turn.

Link types (https://www.tcpdump.org/linktypes.html): Ethernet (1, 802.1Q tags skipped),
BSD loopback NULL (0), raw IP (101, 228, 229), Linux cooked SLL (113) and SLL2 (276).
Network layers: IPv4, with fragmented datagrams reassembled (at most ``MAX_FRAGMENTED``
incomplete at once, oldest dropped first; discovery replies over 1500 bytes arrive
fragmented), and IPv6 (hop-by-hop, routing and destination option headers skipped;
IPv6 fragments skipped).

TCP reassembly orders each direction by sequence number: retransmitted and overlapping
bytes are dropped, segments that arrive early wait until the gap before them fills, and a
gap that never fills is skipped when the conversation ends, when the other side starts
talking, or when the bytes waiting behind it reach the per-direction cap. A conversation
whose SYN was not captured is still taken: the endpoint with the lower port is the server
(service ports are low, clients' ephemeral ports high); on equal ports the receiver of the
first segment seen is. Memory is bounded: each direction keeps at most
``MAX_DIRECTION_BYTES`` of data (more is counted but dropped) and holds at most
``MAX_PENDING_SEGMENTS`` early segments, and when the conversations
held exceed ``MAX_BUFFERED_BYTES`` or ``MAX_CONVERSATIONS`` the least recently active ones
are emitted early.

Damage: a file that is not pcap/pcapng raises :class:`CaptureError` at once. A truncated or
corrupt file stops at the damage; :func:`iter_capture` then emits the conversations it holds
and yields one :class:`CaptureProblem` as its last item, :func:`load_recording` lists it in
``Recording.problems``. Nothing else is raised for bad file contents.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import socket
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from socket import AF_INET, inet_ntop

from camscan.errors import UserError

MAX_DIRECTION_BYTES = 256 * 1024
MAX_BUFFERED_BYTES = 64 * 1024 * 1024
MAX_CONVERSATIONS = 20000
MAX_PENDING_SEGMENTS = 1024  # early segments one direction may hold before the gap ahead of them is skipped
IDLE_SECONDS = 300.0
IDLE_CHECK_SECONDS = 1.0  # capture time between looks for idle conversations
MAX_RECORD_BYTES = 16 * 1024 * 1024  # larger than any real frame: a longer length field is damage
PROGRESS_EVERY = 8192  # packets between on_progress calls
MAX_FRAGMENTED = 1024  # IPv4 datagrams waiting for their remaining fragments
MAX_NAMES = 65536  # IPv4 addresses whose dotted form is remembered

TLS_KEY_LOG_SECRETS = 0x544C534B  # "TLSK": NSS key log format in a Decryption Secrets Block

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPE_IPV4 = 0x0800
ETHERNET_IPV4 = ETHERTYPE_IPV4.to_bytes(2, "big")
IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
ETHERNET_IPV4_TCP = struct.Struct("!BxH2xHxB")  # version/IHL, total length, flags/fragment offset, protocol
TCP_PORTS_SEQUENCE = struct.Struct("!HHI")
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
VLAN_ETHERTYPES = (0x8100, 0x88A8, 0x9100)

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10


class CaptureError(UserError, ValueError):
    """The file is not a capture camscan can read (or cannot be opened)."""


@dataclass(frozen=True)
class Datagram:
    """One UDP datagram."""

    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes
    ts: float


@dataclass(frozen=True)
class ArpFrame:
    """The Ethernet frame of an ARP packet (a cooked-capture one gets a synthesised Ethernet header)."""

    frame: bytes
    ts: float


@dataclass
class TcpConversation:
    """A TCP connection: each run of same-direction data ("c" client, "s" server), reassembled, in order."""

    client: tuple[str, int]
    server: tuple[str, int]
    established: bool  # the server answered the SYN with a SYN-ACK: the port is open
    turns: list[tuple[str, bytes]]
    start: float
    end: float
    turn_times: list[float] = field(default_factory=list)  # when each turn's first byte was captured
    # The client acknowledged the server's SYN-ACK: its connect succeeded. (A client that had
    # already given up answers a late SYN-ACK with a bare reset instead.)
    completed: bool = False
    client_reset: bool = False  # the client ended the connection with a reset


@dataclass(frozen=True)
class TlsKeyLog:
    """The key log text of one pcapng Decryption Secrets Block (streaming form only)."""

    data: bytes


@dataclass(frozen=True)
class SectionComment:
    """A comment of a pcapng Section Header Block (opt_comment; a camscan recording keeps its scan options there)."""

    text: str


@dataclass(frozen=True)
class CaptureProblem:
    """Where and why reading stopped early; always the last item :func:`iter_capture` yields."""

    message: str


@dataclass
class Recording:
    """A whole capture in memory, for replaying a scan-sized recording."""

    arp: list[ArpFrame] = field(default_factory=list)
    datagrams: list[Datagram] = field(default_factory=list)
    conversations: list[TcpConversation] = field(default_factory=list)
    tls_keylog: bytes = b""
    problems: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)  # the sections' comments


Record = Datagram | ArpFrame | TcpConversation | TlsKeyLog | SectionComment | CaptureProblem


class _Damage(Exception):
    """Internal: the file stops making sense at this point."""


# --- file formats -------------------------------------------------------------------------

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
BLOCK_IDB, BLOCK_OPB, BLOCK_SPB, BLOCK_EPB, BLOCK_DSB = 1, 2, 3, 6, 0x0A
OPTION_COMMENT = 1
OPTION_IF_TSRESOL = 9


def _read_exact(stream, size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise _Damage(f"file ends inside {what} (wanted {size} bytes, got {len(data)})")
    return data


def _pcap_frames(stream, header: bytes) -> Iterator[tuple[int, bytes, float] | TlsKeyLog]:
    order, unit = PCAP_MAGICS[header[:4]]
    rest = _read_exact(stream, 20, "the pcap file header")
    linktype = struct.unpack(order + "I", rest[16:20])[0] & 0xFFFF
    record_header = struct.Struct(order + "IIII")
    while True:
        head = stream.read(16)
        if not head:
            return
        if len(head) != 16:
            raise _Damage(f"file ends inside a packet record header ({len(head)} of 16 bytes)")
        seconds, fraction, captured, _original = record_header.unpack(head)
        if captured > MAX_RECORD_BYTES:
            raise _Damage(f"packet record claims {captured} bytes; the file is corrupt here")
        yield linktype, _read_exact(stream, captured, "a packet"), seconds + fraction * unit


def _options(data: bytes, order: str) -> list[tuple[int, bytes]]:
    """The (code, value) pairs of a pcapng block's options, up to opt_endofopt or the end."""
    found = []
    position = 0
    while position + 4 <= len(data):
        code, length = struct.unpack(order + "HH", data[position : position + 4])
        if code == 0:
            break
        found.append((code, data[position + 4 : position + 4 + length]))
        position += 4 + length + (-length % 4)
    return found


def _tsresol(options: bytes, order: str) -> float:
    """The timestamp unit an Interface Description Block's ``if_tsresol`` option sets (default microseconds)."""
    for code, value in _options(options, order):
        if code == OPTION_IF_TSRESOL and value:
            exponent = value[0]
            return 2.0 ** -(exponent & 0x7F) if exponent & 0x80 else 10.0 ** -exponent
    return 1e-6


def _pcapng_frames(stream, first: bytes) -> Iterator[tuple[int, bytes, float] | TlsKeyLog | SectionComment]:
    interfaces: list[tuple[int, float, int]] = []  # (linktype, timestamp unit, snaplen)
    last_ts = 0.0
    # The first block's type is already read; every later block's type and length come in one read.
    head = first + _read_exact(stream, 4, "a block header")
    while True:
        if head[:4] == PCAPNG_SHB:
            order, comments = _section_header(stream, head)
            interfaces = []  # a new section describes its interfaces afresh
            for comment in comments:
                yield SectionComment(comment)
            block_head = struct.Struct(order + "II")
            trailer = struct.Struct(order + "I")
            enhanced = struct.Struct(order + "IIIII")
            obsolete = struct.Struct(order + "HHIIII")
        else:
            block_type, length = block_head.unpack(head)
            if length < 12 or length % 4 or length > MAX_RECORD_BYTES:
                raise _Damage(f"block of type {block_type:#x} has an impossible length {length}")
            body = _read_exact(stream, length - 8, f"a block of type {block_type:#x}")
            end = length - 12  # the body without its trailing length
            if trailer.unpack_from(body, end)[0] != length:
                raise _Damage(f"block of type {block_type:#x}: trailing length does not match")
            if block_type == BLOCK_EPB or block_type == BLOCK_OPB:
                if end < 20:
                    raise _Damage("packet block too short")
                if block_type == BLOCK_EPB:
                    interface, high, low, captured, _original = enhanced.unpack_from(body)
                else:
                    interface, _drops, high, low, captured, _original = obsolete.unpack_from(body)
                if interface >= len(interfaces):
                    raise _Damage(f"packet block names interface {interface}, which was never described")
                if captured > end - 20:
                    raise _Damage("packet block's captured length runs past the block")
                linktype, unit, _snaplen = interfaces[interface]
                last_ts = ((high << 32) | low) * unit
                yield linktype, body[20 : 20 + captured], last_ts
            elif block_type == BLOCK_IDB:
                if end < 8:
                    raise _Damage("interface description block too short")
                linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
                interfaces.append((linktype, _tsresol(body[8:end], order), snaplen))
            elif block_type == BLOCK_SPB:
                if not interfaces or end < 4:
                    raise _Damage("simple packet block without an interface or too short")
                original = trailer.unpack_from(body)[0]
                linktype, _unit, snaplen = interfaces[0]
                captured = min(original, end - 4, snaplen or original)
                yield linktype, body[4 : 4 + captured], last_ts
            elif block_type == BLOCK_DSB:
                if end < 8:
                    raise _Damage("decryption secrets block too short")
                secrets_type, secrets_length = block_head.unpack_from(body)
                if secrets_length > end - 8:
                    raise _Damage("decryption secrets block's secrets run past the block")
                if secrets_type == TLS_KEY_LOG_SECRETS:
                    yield TlsKeyLog(body[8 : 8 + secrets_length])
        head = stream.read(8)
        if len(head) != 8:
            if not head:
                return
            raise _Damage(f"file ends inside a block header ({len(head)} of 8 bytes)")


def _section_header(stream, head: bytes) -> tuple[str, list[str]]:
    """Read the rest of a Section Header Block whose first 8 bytes are ``head``: its byte order and comments."""
    magic = _read_exact(stream, 4, "a section header block")
    if struct.unpack("<I", magic)[0] == PCAPNG_BYTE_ORDER_MAGIC:
        order = "<"
    elif struct.unpack(">I", magic)[0] == PCAPNG_BYTE_ORDER_MAGIC:
        order = ">"
    else:
        raise _Damage("section header block has no valid byte-order magic")
    length = struct.unpack(order + "I", head[4:8])[0]
    if length < 28 or length % 4 or length > MAX_RECORD_BYTES:
        raise _Damage(f"section header block has an impossible length {length}")
    body = _read_exact(stream, length - 12, "a section header block")
    if struct.unpack(order + "I", body[-4:])[0] != length:
        raise _Damage("section header block's trailing length does not match")
    options = _options(body[12:-4], order)  # after the version (2 x 2 bytes) and the section length (8)
    return order, [value.decode("utf-8", "replace") for code, value in options if code == OPTION_COMMENT]


# --- frames to packets --------------------------------------------------------------------


def _ip_payload(data: bytes) -> tuple[str, str, int, bytes, tuple[int, int, bool] | None] | None:
    """(source, destination, protocol, payload, fragment) of an IPv4/IPv6 packet, else None.

    ``fragment`` is None for a whole datagram, else (identification, byte offset, more fragments follow).
    """
    if not data:
        return None
    version = data[0] >> 4
    if version == 4:
        if len(data) < 20:
            return None
        first, _tos, total, identification, flags_offset, _ttl, protocol, _checksum, source, destination = (
            IPV4_HEADER.unpack_from(data)
        )
        header_length = (first & 0x0F) * 4
        if header_length < 20 or total < header_length:
            return None
        fragment = None
        if flags_offset & 0x3FFF:  # more-fragments flag or a fragment offset
            fragment = (identification, (flags_offset & 0x1FFF) * 8, bool(flags_offset & 0x2000))
        return (inet_ntop(AF_INET, source), inet_ntop(AF_INET, destination), protocol,
                data[header_length:total], fragment)
    if version == 6:
        if len(data) < 40:
            return None
        next_header = data[6]
        end = 40 + int.from_bytes(data[4:6], "big")
        position = 40
        while next_header in (0, 43, 60):  # hop-by-hop, routing, destination options
            if position + 2 > len(data):
                return None
            next_header, length = data[position], (data[position + 1] + 1) * 8
            position += length
        if next_header == 44:  # an IPv6 fragment
            return None
        return (socket.inet_ntop(socket.AF_INET6, data[8:24]), socket.inet_ntop(socket.AF_INET6, data[24:40]),
                next_header, data[position:end], None)
    return None


def _network_layer(linktype: int, frame: bytes) -> tuple[int, bytes, bytes]:
    """(ethertype, network-layer bytes, Ethernet source MAC or b"") of one link-layer frame."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return 0, b"", b""
        ethertype, position = int.from_bytes(frame[12:14], "big"), 14
        while ethertype in VLAN_ETHERTYPES and len(frame) >= position + 4:
            ethertype, position = int.from_bytes(frame[position + 2 : position + 4], "big"), position + 4
        return ethertype, frame[position:], frame[6:12]
    if linktype == LINKTYPE_LINUX_SLL and len(frame) >= 16:
        address = frame[6 : 6 + min(8, int.from_bytes(frame[4:6], "big"))]
        return int.from_bytes(frame[14:16], "big"), frame[16:], address
    if linktype == LINKTYPE_LINUX_SLL2 and len(frame) >= 20:
        address = frame[12 : 12 + min(8, frame[11])]
        return int.from_bytes(frame[0:2], "big"), frame[20:], address
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) and frame:
        return {4: ETHERTYPE_IPV4, 6: ETHERTYPE_IPV6}.get(frame[0] >> 4, 0), frame, b""
    if linktype == LINKTYPE_NULL and len(frame) >= 4:
        family = int.from_bytes(frame[:4], "little") if frame[0] else int.from_bytes(frame[:4], "big")
        return (ETHERTYPE_IPV4 if family == 2 else ETHERTYPE_IPV6 if family in (24, 28, 30) else 0), frame[4:], b""
    return 0, b"", b""


# --- TCP reassembly -----------------------------------------------------------------------


class _Direction:
    """One direction of a connection: where its stream starts, what arrived early, what was kept."""

    __slots__ = ("base", "next", "pending", "pending_bytes", "kept", "fin")

    def __init__(self) -> None:
        self.base: int | None = None  # sequence number of stream offset 0
        self.next = 0  # stream offset of the next byte expected
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.kept = 0
        self.fin = False


class _Connection:
    __slots__ = ("client", "server", "established", "completed", "client_reset", "turns", "turn_times", "start", "end",
                 "directions", "buffered")

    def __init__(self, client: tuple[str, int], server: tuple[str, int], ts: float) -> None:
        self.client, self.server = client, server
        self.established = False
        self.completed = False
        self.client_reset = False
        self.turns: list[tuple[str, bytearray]] = []
        self.turn_times: list[float] = []
        self.start = self.end = ts
        self.directions = {client: _Direction(), server: _Direction()}
        self.buffered = 0

    def conversation(self) -> TcpConversation:
        return TcpConversation(self.client, self.server, self.established,
                               [(role, bytes(data)) for role, data in self.turns], self.start, self.end,
                               list(self.turn_times), self.completed, self.client_reset)


def _relative(sequence: int, base: int) -> int:
    """Stream offset of ``sequence``; negative when it lies before the stream start (mod 2**32)."""
    offset = (sequence - base) & 0xFFFFFFFF
    return offset - 0x100000000 if offset >= 0x80000000 else offset


class TrafficAssembler:
    """Turns link-layer frames into records; used by the file reader and by a live sniff.

    ``feed`` returns the records a frame completes, ``finish`` those still held.
    """

    def __init__(self) -> None:
        self._connections: OrderedDict[tuple, _Connection] = OrderedDict()
        self._buffered = 0
        self._fragments: OrderedDict[tuple, dict[int, tuple[bytes, bool]]] = OrderedDict()
        self._next_idle_check = float("-inf")
        self._names: dict[bytes, str] = {}  # IPv4 addresses as read, by their four bytes

    def feed(self, linktype: int, frame: bytes, ts: float) -> list[Record]:
        if linktype == LINKTYPE_ETHERNET and frame[12:14] == ETHERNET_IPV4:
            if len(frame) >= 54:  # the usual case, TCP in unfragmented IPv4 in Ethernet, parsed in place
                first, total, flags_offset, protocol = ETHERNET_IPV4_TCP.unpack_from(frame, 14)
                header_length = (first & 0x0F) * 4
                if (first >> 4 == 4 and protocol == 6 and not flags_offset & 0x3FFF and header_length >= 20
                        and total >= header_length + 20 and len(frame) >= 14 + header_length + 20):
                    names = self._names
                    raw_source, raw_destination = frame[26:30], frame[30:34]
                    return self._tcp(names.get(raw_source) or self._name(raw_source),
                                     names.get(raw_destination) or self._name(raw_destination),
                                     frame[14 + header_length : 14 + total], ts)
            network = frame[14:]  # without the general link-layer dispatch
        else:
            ethertype, network, link_source = _network_layer(linktype, frame)
            if ethertype == ETHERTYPE_ARP:
                if linktype != LINKTYPE_ETHERNET:
                    frame = b"\xff" * 6 + link_source[:6].ljust(6, b"\x00") + b"\x08\x06" + network
                return [ArpFrame(bytes(frame), ts)]
            if ethertype not in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
                return []
        packet = _ip_payload(network)
        if packet is None:
            return []
        source, destination, protocol, payload, fragment = packet
        if fragment is not None:
            whole = self._reassemble((source, destination, protocol, fragment[0]), fragment[1], fragment[2], payload)
            if whole is None:
                return []
            payload = whole
        if protocol == 6 and len(payload) >= 20:
            return self._tcp(source, destination, payload, ts)
        if protocol == 17 and len(payload) >= 8:
            sport, dport, length = struct.unpack("!HHH", payload[:6])
            data = payload[8:length] if 8 <= length <= len(payload) else payload[8:]
            return [Datagram(source, sport, destination, dport, bytes(data), ts)]
        return []

    def _name(self, address: bytes) -> str:
        """The dotted form of a four-byte IPv4 address, remembered (at most ``MAX_NAMES`` at once)."""
        if len(self._names) >= MAX_NAMES:
            self._names.clear()
        name = self._names[address] = inet_ntop(AF_INET, address)
        return name

    def _reassemble(self, key: tuple, offset: int, more: bool, data: bytes) -> bytes | None:
        """The whole IPv4 datagram once its fragments cover it from 0 to the last one, else None."""
        pieces = self._fragments.setdefault(key, {})
        pieces[offset] = (data, more)
        if len(self._fragments) > MAX_FRAGMENTED:
            self._fragments.popitem(last=False)
        whole = bytearray()
        for start in sorted(pieces):
            if start > len(whole):
                return None
            piece, follows = pieces[start]
            whole[start : start + len(piece)] = piece
            if not follows:
                self._fragments.pop(key, None)
                return bytes(whole)
        return None

    def _tcp(self, source: str, destination: str, segment: bytes, ts: float) -> list[Record]:
        sport, dport, sequence = TCP_PORTS_SEQUENCE.unpack_from(segment)
        offset = (segment[12] >> 4) * 4
        flags = segment[13]
        if offset < 20:
            return []
        data = segment[offset:]
        sender, receiver = (source, sport), (destination, dport)
        key = (sender, receiver) if sender < receiver else (receiver, sender)
        connection = self._connections.get(key)
        if connection is None:
            if flags & TCP_RST or (not data and not flags & (TCP_SYN | TCP_FIN)):
                return []  # a stray reset or bare ACK of a connection already emitted
            if flags & TCP_SYN:
                client, server = (receiver, sender) if flags & TCP_ACK else (sender, receiver)
            elif sport != dport:
                client, server = (sender, receiver) if sport > dport else (receiver, sender)
            else:
                client, server = sender, receiver
            connection = self._connections[key] = _Connection(client, server, ts)
        else:
            self._connections.move_to_end(key)
        connection.end = max(connection.end, ts)
        direction = connection.directions[sender]
        if flags & TCP_SYN:
            if flags & TCP_ACK and sender == connection.server:
                connection.established = True
            if direction.base is None:
                direction.base = (sequence + 1) & 0xFFFFFFFF
        elif flags & TCP_ACK and connection.established and sender == connection.client:
            connection.completed = True
        if data:
            if direction.base is None:
                direction.base = sequence
            self._accept(connection, sender, direction, _relative(sequence, direction.base), data)
        if flags & TCP_FIN:
            direction.fin = True
            if all(d.fin for d in connection.directions.values()):
                return [self._emit(key)]
        if flags & TCP_RST:
            connection.client_reset = sender == connection.client
            return [self._emit(key)]
        if (ts >= self._next_idle_check or self._buffered > MAX_BUFFERED_BYTES
                or len(self._connections) > MAX_CONVERSATIONS):
            return self._evict(ts)
        return []

    def _accept(self, connection: _Connection, sender, direction: _Direction, offset: int, data: bytes) -> None:
        if offset < direction.next:  # retransmitted or overlapping bytes
            data = data[direction.next - offset :]
            offset = direction.next
            if not data:
                return
        if offset > direction.next:
            if len(data) > len(direction.pending.get(offset, b"")):
                grown = len(data) - len(direction.pending.get(offset, b""))
                direction.pending[offset] = data
                direction.pending_bytes += grown
                connection.buffered += grown
                self._buffered += grown
            if direction.pending_bytes > MAX_DIRECTION_BYTES or len(direction.pending) > MAX_PENDING_SEGMENTS:
                self._drain(connection, sender, direction, skip_gaps=True)
            return
        self._deliver(connection, sender, direction, data)
        self._drain(connection, sender, direction, skip_gaps=False)
        other = connection.server if sender == connection.client else connection.client
        if connection.directions[other].pending:
            self._drain(connection, other, connection.directions[other], skip_gaps=True)

    def _drain(self, connection: _Connection, sender, direction: _Direction, skip_gaps: bool) -> None:
        """Deliver waiting segments that now follow on; with ``skip_gaps``, jump the holes before them."""
        while direction.pending:
            first = min(direction.pending)
            if first > direction.next and not skip_gaps:
                return
            data = direction.pending.pop(first)
            direction.pending_bytes -= len(data)
            connection.buffered -= len(data)
            self._buffered -= len(data)
            if first > direction.next:
                direction.next = first
            elif first < direction.next:
                data = data[direction.next - first :]
            if data:
                self._deliver(connection, sender, direction, data)

    def _deliver(self, connection: _Connection, sender, direction: _Direction, data: bytes) -> None:
        direction.next += len(data)
        kept = data[: max(0, MAX_DIRECTION_BYTES - direction.kept)]
        if not kept:
            return
        direction.kept += len(kept)
        connection.buffered += len(kept)
        self._buffered += len(kept)
        role = "c" if sender == connection.client else "s"
        if connection.turns and connection.turns[-1][0] == role:
            connection.turns[-1][1].extend(kept)
        else:
            connection.turns.append((role, bytearray(kept)))
            connection.turn_times.append(connection.end)

    def _emit(self, key: tuple) -> TcpConversation:
        connection = self._connections.pop(key)
        for sender, direction in connection.directions.items():
            self._drain(connection, sender, direction, skip_gaps=True)
        self._buffered -= connection.buffered
        return connection.conversation()

    def _evict(self, ts: float) -> list[Record]:
        """Emit the least recently active conversations while memory is over bounds or they are idle."""
        self._next_idle_check = ts + IDLE_CHECK_SECONDS
        evicted: list[Record] = []
        while self._connections:
            key, oldest = next(iter(self._connections.items()))
            if (self._buffered > MAX_BUFFERED_BYTES or len(self._connections) > MAX_CONVERSATIONS
                    or oldest.end < ts - IDLE_SECONDS):
                evicted.append(self._emit(key))
            else:
                break
        return evicted

    def finish(self) -> list[Record]:
        """Every conversation still held, oldest activity first."""
        return [self._emit(key) for key in list(self._connections)]


# --- public entry points ------------------------------------------------------------------


def _open(path: str | os.PathLike):
    try:
        stream = open(path, "rb", buffering=1 << 20)
    except OSError as error:
        raise CaptureError(f"cannot open capture {os.fspath(path)!r}: {error.strerror or error}") from None
    magic = stream.read(4)
    if magic in PCAP_MAGICS:
        return stream, _pcap_frames(stream, magic)
    if magic == PCAPNG_SHB:
        return stream, _pcapng_frames(stream, magic)
    stream.close()
    raise CaptureError(f"{os.fspath(path)!r} is not a pcap or pcapng capture (starts with {magic.hex() or 'nothing'})")


def iter_capture(path: str | os.PathLike, on_progress: Callable[[int, int], None] | None = None) -> Iterator[Record]:
    """Stream the records of a capture in bounded memory.

    Yields :class:`Datagram` and :class:`ArpFrame` as read, :class:`TcpConversation` when it
    ends (FIN both ways, RST, idle ``IDLE_SECONDS``, memory bounds) or at end of file,
    :class:`TlsKeyLog` for each pcapng TLS Decryption Secrets Block and :class:`SectionComment`
    for each section comment where it stands, and
    on damage a final :class:`CaptureProblem`. ``on_progress(bytes_read, file_size)`` is
    called every ``PROGRESS_EVERY`` packets and once at the end. Raises
    :class:`CaptureError` before yielding anything if the file is not a capture.
    """
    stream, frames = _open(path)
    with stream:
        total = os.fstat(stream.fileno()).st_size
        assembler = TrafficAssembler()
        problem = None
        count = 0
        feed = assembler.feed
        try:
            for item in frames:
                if item.__class__ is not tuple:  # a key log or a section comment
                    yield item
                    continue
                records = feed(*item)
                if records:
                    yield from records
                count += 1
                if on_progress and count % PROGRESS_EVERY == 0:
                    on_progress(stream.tell(), total)
        except _Damage as damage:
            problem = CaptureProblem(f"{os.fspath(path)}: reading stopped at byte {stream.tell()} after "
                                     f"{count} packets: {damage}")
        yield from assembler.finish()
        if on_progress:
            on_progress(stream.tell(), total)
        if problem:
            yield problem


def load_recording(path: str | os.PathLike) -> Recording:
    """Read a whole capture; damage is listed in ``problems``, a non-capture raises :class:`CaptureError`.

    The records are kept for a replay's whole run, so they are frozen out of the cyclic
    garbage collector (they hold no cycles): left in, the growing recording would be walked
    by every full collection, during the read and after it (a third of a replay's time).
    """
    recording = Recording()
    kept: dict[type, list] = {Datagram: recording.datagrams, ArpFrame: recording.arp,
                              TcpConversation: recording.conversations}
    keylog: list[bytes] = []
    collecting = gc.isenabled()
    gc.disable()
    try:
        for item in iter_capture(path):
            records = kept.get(item.__class__)
            if records is not None:
                records.append(item)
            elif isinstance(item, TlsKeyLog):
                keylog.append(item.data if item.data.endswith(b"\n") or not item.data else item.data + b"\n")
            elif isinstance(item, SectionComment):
                recording.comments.append(item.text)
            elif isinstance(item, CaptureProblem):
                recording.problems.append(item.message)
        recording.tls_keylog = b"".join(keylog)
        recording.conversations.sort(key=lambda conversation: conversation.start)
        gc.freeze()
    finally:
        if collecting:
            gc.enable()
    return recording


class BackgroundLoad:
    """:func:`load_recording` in a forked child process, while this one goes on starting up.

    Reading a large capture is as long as camscan's own start-up (imports, signatures), and a
    machine has more than one core: the child reads, this process imports, and the records
    come back pickled (a sixth of the reading time). Where fork is unsafe (another thread is
    running) or missing, :meth:`result` reads in this process instead.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self._process = None
        self._receiver = None
        if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
            context = multiprocessing.get_context("fork")
            self._receiver, sender = context.Pipe(duplex=False)
            self._process = context.Process(target=_load_for_parent, args=(path, sender), daemon=True)
            self._process.start()
            sender.close()

    @property
    def forked(self) -> bool:
        """Whether a child process is reading (else :meth:`result` reads here)."""
        return self._process is not None

    def result(self) -> Recording:
        """The recording; raises :class:`CaptureError` as :func:`load_recording` does."""
        if self._process is None or self._receiver is None:
            return load_recording(self.path)
        collecting = gc.isenabled()
        gc.disable()  # unpickling builds the records: as in load_recording, no collector walks
        try:
            outcome = self._receiver.recv()
        except EOFError:
            self._process.join()
            outcome = CaptureError(f"the process reading {os.fspath(self.path)!r} ended without an answer "
                                   f"(exit code {self._process.exitcode})")
        finally:
            self._receiver.close()
            self._process.join()
            if collecting:
                gc.enable()
        if isinstance(outcome, CaptureError):
            raise outcome
        gc.freeze()  # as load_recording does: the records live for the whole replay
        return outcome


def _load_for_parent(path: str | os.PathLike, sender) -> None:
    """The child's side of :class:`BackgroundLoad`: read, send the recording or the error, exit."""
    try:
        outcome: Recording | CaptureError = load_recording(path)
    except CaptureError as error:
        outcome = error
    sender.send(outcome)
    sender.close()
