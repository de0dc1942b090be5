"""Recording a scan: every frame it sends or receives on its interfaces, to pcapng, with its TLS keys.

A capture thread per interface reads a scapy L2 listening socket through a BPF filter
(the interface's own address, ARP and multicast; everything on loopback) and appends each
frame to one pcapng file. The TLS key log camscan's own TLS contexts write is embedded as
Decryption Secrets Blocks (pcapng §4.7), so Wireshark and camscan's replay can read the
HTTPS conversations too. Recording only listens: it never sends.

Credentials stay out of the file (unless the user asks for them): the transport names the
connection and the byte spans of its stream that carry an account (a WS-Security
UsernameToken, an Authorization header) before the connection opens, and every frame of it
is written with those bytes overwritten by as many ``X`` (lengths and sequence numbers stay
valid, so the rest of the conversation still replays); such a connection's TLS keys are
never logged. The file is created readable by its owner only.
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from camscan import __version__
from camscan.capture.reader import OPTION_COMMENT, PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_SHB
from camscan.errors import UserError
from camscan.private_files import open_private
from camscan.transport import deepen_receive_queue

if TYPE_CHECKING:
    from scapy.supersocket import SuperSocket

ETHERNET = 1  # pcap LINKTYPE_ETHERNET (Linux loopback frames carry a zeroed Ethernet header too)
INTERFACE_DESCRIPTION_BLOCK = 0x00000001
ENHANCED_PACKET_BLOCK = 0x00000006
DECRYPTION_SECRETS_BLOCK = 0x0000000A
TLS_KEY_LOG = 0x544C534B  # "TLSK"
_POLL = 0.1
CAPTURE_BUFFER_BYTES = 256 * 1024 * 1024
OPTION_USER_APPLICATION = 4  # pcapng shb_userappl
SCAN_OPTIONS_COMMENT = "camscan scan options: "


def section_header(endian: str, comment: str | None) -> bytes:
    """A pcapng Section Header Block naming camscan as the writing application, with ``comment``
    (Wireshark shows it as the capture file comment)."""
    options = _option(endian, OPTION_USER_APPLICATION, f"camscan {__version__}")
    if comment:
        options += _option(endian, OPTION_COMMENT, comment)
    options += struct.pack(endian + "HH", 0, 0)
    body = struct.pack(endian + "IHHq", PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1) + options
    length = 12 + len(body)
    return PCAPNG_SHB + struct.pack(endian + "I", length) + body + struct.pack(endian + "I", length)


def _option(endian: str, code: int, text: str) -> bytes:
    value = text.encode()
    return struct.pack(endian + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def scan_options_from(comments: list[str]) -> dict | None:
    """The scan options a recording's section comment holds (None: not a camscan recording with them)."""
    for comment in comments:
        if comment.startswith(SCAN_OPTIONS_COMMENT):
            try:
                options = json.loads(comment[len(SCAN_OPTIONS_COMMENT):])
            except ValueError:
                return None
            return options if isinstance(options, dict) else None
    return None


ETHERTYPE_IPV4, ETHERTYPE_IPV6, IP_PROTOCOL_TCP, IP_PROTOCOL_UDP = 0x0800, 0x86DD, 6, 17
VLAN_TAGS = (0x8100, 0x88A8)
TCP_SYN, TCP_ACK = 0x02, 0x10
CONCEALED = ord("X")


class ConcealedConnection:
    """The spans of one client stream (offsets from its first byte) that must not be recorded,
    and whether the server's reply must not be either (``reply``: all of it)."""

    def __init__(self, spans: tuple[tuple[int, int], ...], reply: bool = False) -> None:
        self.spans = spans
        self.reply = reply
        self.initial_sequence: int | None = None  # learnt from the connection's SYN


def _network_layer(frame: bytes) -> tuple[int, int]:
    """An Ethernet frame's ethertype and where its IP header starts, past any VLAN tags."""
    ip = 14
    ethertype = int.from_bytes(frame[12:14], "big") if len(frame) >= ip else 0
    while ethertype in VLAN_TAGS and len(frame) >= ip + 4:  # IEEE 802.1Q / 802.1ad tags before the IP header
        ethertype, ip = int.from_bytes(frame[ip + 2:ip + 4], "big"), ip + 4
    return ethertype, ip


def conceal_datagram_secrets(frame: bytes, blankers: dict[tuple[bytes, int], list[Callable[[bytes], bytes]]]) -> bytes:
    """``frame`` with its UDP payload passed through each blanker ``blankers`` lists for the
    (address packed, port) it goes to or comes from, in an IPv4 datagram: the request that
    carried an SNMP community and the reply that echoes it, an SNMPv3 user's messages. A
    blanker keeps the payload's length (overwriting secrets with ``X``)."""
    ethertype, ip = _network_layer(frame)
    if ethertype != ETHERTYPE_IPV4 or len(frame) < ip + 20 or frame[ip + 9] != IP_PROTOCOL_UDP:
        return frame
    udp = ip + (frame[ip] & 0x0F) * 4
    if len(frame) < udp + 8:
        return frame
    source_port, destination_port = struct.unpack_from("!HH", frame, udp)
    hidden = blankers.get((frame[ip + 12:ip + 16], source_port), []) + blankers.get(
        (frame[ip + 16:ip + 20], destination_port), [])
    if not hidden:
        return frame
    payload = frame[udp + 8:]
    for blank in hidden:
        payload = blank(payload)
    return frame[:udp + 8] + payload


def conceal_credentials(frame: bytes, connections: dict[tuple[int, bytes, int], ConcealedConnection]) -> bytes:
    """``frame`` with the concealed spans of its TCP stream overwritten by ``X``, and every
    payload byte of a server's reply that is concealed whole.

    ``connections`` are keyed by (client port, server address packed, server port). A payload
    frame of such a connection seen before its SYN is blanked whole: better too much than a secret.
    """
    ethertype, ip = _network_layer(frame)
    if ethertype == ETHERTYPE_IPV4 and len(frame) >= ip + 20 and frame[ip + 9] == IP_PROTOCOL_TCP:
        tcp = ip + (frame[ip] & 0x0F) * 4
        end = ip + int.from_bytes(frame[ip + 2:ip + 4], "big")
        source, server = frame[ip + 12:ip + 16], frame[ip + 16:ip + 20]
    elif ethertype == ETHERTYPE_IPV6 and len(frame) >= ip + 40 and frame[ip + 6] == IP_PROTOCOL_TCP:
        tcp, end = ip + 40, ip + 40 + int.from_bytes(frame[ip + 4:ip + 6], "big")
        source, server = frame[ip + 8:ip + 24], frame[ip + 24:ip + 40]
    else:
        return frame
    if len(frame) < tcp + 20:
        return frame
    client_port, server_port, sequence = struct.unpack_from("!HHI", frame, tcp)
    connection = connections.get((client_port, server, server_port))
    if connection is None:
        replying = connections.get((server_port, source, client_port))  # a server's frame: ports reversed
        if replying is None or not replying.reply:
            return frame
        start, end = tcp + (frame[tcp + 12] >> 4) * 4, min(end, len(frame))
        return frame[:start] + bytes([CONCEALED]) * max(0, end - start) + frame[end:]
    flags = frame[tcp + 13]
    if flags & TCP_SYN and not flags & TCP_ACK:
        connection.initial_sequence = sequence
        return frame
    start, end = tcp + (frame[tcp + 12] >> 4) * 4, min(end, len(frame))
    if start >= end:
        return frame
    concealed = bytearray(frame)
    if connection.initial_sequence is None:
        concealed[start:end] = bytes([CONCEALED]) * (end - start)
        return bytes(concealed)
    offset = (sequence - connection.initial_sequence - 1) % (1 << 32)
    for first, last in connection.spans:
        low, high = max(first, offset), min(last, offset + end - start)
        if low < high:
            concealed[start + low - offset: start + high - offset] = bytes([CONCEALED]) * (high - low)
    return bytes(concealed)


class RecordError(UserError, RuntimeError):
    """The recording cannot be made (no privileges, no such interface, unwritable file)."""


MAX_FILTER_BLOCKS = 64  # beyond this many scope blocks a BPF program gets unwieldy


def capture_filter(blocks: list[str]) -> str:
    """Frames the scan can have sent or received: ARP, multicast, and traffic of the scope's blocks.

    A scope of more than ``MAX_FILTER_BLOCKS`` blocks keeps all IP traffic instead (the
    README says so); a scan never reads what others exchange, but that would be recorded too.
    """
    if len(blocks) > MAX_FILTER_BLOCKS:
        return "arp or ip or ip6"
    nets = " or ".join(f"net {block}" for block in blocks)
    return f"arp or ip multicast or ip6 multicast or {nets}"


def open_listener(interface: str, bpf: str | None = None, buffer_bytes: int = CAPTURE_BUFFER_BYTES) -> SuperSocket:
    """A scapy L2 listening socket on ``interface`` (root) with a deep kernel queue.

    A scan's or a network's bursts outrun one Python reader for a moment: the queue holds
    them instead of dropping frames.
    """
    # Importing these fills conf.L2listen with this OS's socket class and registers the
    # link-layer classes it reports frames as.
    import scapy.arch  # noqa: F401
    import scapy.layers.l2  # noqa: F401
    from scapy.config import conf

    try:
        socket.if_nametoindex(interface)
    except OSError:
        raise RecordError(f"there is no network interface {interface!r} (`ip link` lists them)") from None
    sock = conf.L2listen(iface=interface, filter=bpf)
    deepen_receive_queue(sock.ins, buffer_bytes)
    sock.ins.setblocking(False)  # recv_raw raises BlockingIOError when nothing is queued
    return sock


def queued_frames(sock) -> Iterator[tuple[Any, bytes | None, float | None]]:
    """``(class, frame, kernel timestamp)`` of each frame a non-blocking listening socket holds, until it is empty."""
    while True:
        try:
            yield sock.recv_raw()
        except BlockingIOError:
            return


class PcapNgFile:
    """A pcapng file of Ethernet frames written block by block (pcapng draft, IETF opsawg).

    scapy's PcapNgWriter has no public way to write a Decryption Secrets Block or a section
    header of our own, so the four block types a recording needs are built here.
    """

    ENDIAN = "<"

    def __init__(self, path: Path, comment: str | None) -> None:
        self._file = open_private(path, "wb")  # it lists open streams: 0600, and the sudo user's
        self._file.write(section_header(self.ENDIAN, comment))
        # Interface Description Block: link type, reserved, snap length 0 (no limit); timestamps
        # in the default resolution, microseconds.
        self._write_block(INTERFACE_DESCRIPTION_BLOCK, struct.pack("<HHI", ETHERNET, 0, 0))

    def _write_block(self, block_type: int, body: bytes) -> None:
        body += b"\0" * (-len(body) % 4)
        length = 12 + len(body)
        self._file.write(struct.pack("<II", block_type, length) + body + struct.pack("<I", length))

    def write_frame(self, frame: bytes, stamp: float) -> None:
        """An Enhanced Packet Block on interface 0, stamped in microseconds."""
        micros = round(stamp * 1_000_000)
        header = struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(frame), len(frame))
        self._write_block(ENHANCED_PACKET_BLOCK, header + frame)

    def write_tls_keys(self, key_log: bytes) -> None:
        """A Decryption Secrets Block holding NSS key log lines."""
        self._write_block(DECRYPTION_SECRETS_BLOCK, struct.pack("<II", TLS_KEY_LOG, len(key_log)) + key_log)

    def close(self) -> None:
        self._file.close()


class Recorder:
    """Capture threads for the scan's interfaces writing one pcapng file; use as a context manager."""

    def __init__(self, path: str | Path, interfaces: list[str], blocks: list[str],
                 listen: Callable[[str, str], Any] = open_listener, scan_options: dict | None = None) -> None:
        """``listen(interface, bpf)`` opens a non-blocking listening socket like :func:`open_listener`'s;
        ``scan_options`` (JSON-able) are kept in the file for replays (:func:`scan_options_from`)."""
        self.path = Path(path)
        self._listen = listen
        self._comment = SCAN_OPTIONS_COMMENT + json.dumps(scan_options, sort_keys=True) if scan_options else None
        self.interfaces = sorted(set(interfaces))
        self.filter = capture_filter(blocks)
        self.frames = 0
        self.keylog_path: Path | None = None  # given to the TLS context (ssl.SSLContext.keylog_filename)
        self._keylog: IO[bytes] | None = None  # our own read handle on it
        self._keys_written = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[tuple[str, Any]] = []
        self._writer: PcapNgFile | None = None
        self._udp_until: float | None = None
        self._stopped_at = float("inf")
        self._concealed: dict[tuple[int, bytes, int], ConcealedConnection] = {}
        self._concealed_datagrams: dict[tuple[bytes, int], list[Callable[[bytes], bytes]]] = {}

    def conceal(self, client_port: int, server: str, server_port: int, spans: tuple[tuple[int, int], ...],
                reply: bool = False) -> None:
        """Keep ``spans`` of the stream the client port will send to server:port out of the file,
        and with ``reply`` all the server sends back (called before the connection opens)."""
        with self._lock:
            key = (client_port, ipaddress.ip_address(server).packed, server_port)
            self._concealed[key] = ConcealedConnection(spans, reply)

    def conceal_datagrams(self, peer: str, port: int, blank: Callable[[bytes], bytes]) -> None:
        """Record every UDP datagram exchanged with peer:port as ``blank`` gives its payload
        (called before the first is sent)."""
        with self._lock:
            blankers = self._concealed_datagrams.setdefault((ipaddress.ip_address(peer).packed, port), [])
            if blank not in blankers:
                blankers.append(blank)

    def keep_udp_until(self, moment: float) -> None:
        """Write no UDP frame captured after ``moment`` (the scan has stopped listening for it)."""
        self._udp_until = moment

    def _unheard(self, frame: bytes, stamp: float) -> bool:
        """An IPv4 UDP frame that arrived after the scan stopped listening."""
        return (self._udp_until is not None and stamp > self._udp_until
                and frame[12:14] == b"\x08\x00" and len(frame) > 23 and frame[23] == 17)

    def __enter__(self) -> "Recorder":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        try:
            for interface in self.interfaces:
                self._sockets.append((interface, self._listen(interface, self.filter)))
        except PermissionError:
            self.stop()
            raise RecordError("--record needs root (or CAP_NET_RAW) to capture frames") from None
        except (OSError, ValueError) as error:
            self.stop()
            raise RecordError(f"cannot capture on {interface}: {error}") from None
        try:
            self._writer = writer = PcapNgFile(self.path, self._comment)
        except OSError as error:
            self.stop()
            raise RecordError(f"cannot write {self.path}: {error.strerror or error}") from None
        handle, keylog = tempfile.mkstemp(prefix="camscan-keys-", suffix=".log")
        self._keylog = os.fdopen(handle, "rb")
        self.keylog_path = Path(keylog)
        for interface, sock in self._sockets:
            thread = threading.Thread(target=self._capture, args=(interface, sock, writer), name=f"record-{interface}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def _capture(self, interface: str, sock: Any, writer: PcapNgFile) -> None:
        """Write frames as they come; once told to stop, the ones still queued up to that moment.

        Under a large sweep this thread falls seconds behind the kernel's queue: stopping at
        once would lose the end of the scan (its last conversations) from the recording.
        Frames are read until the queue is empty, and only then waited for.
        """
        while True:
            stopping = self._stop.is_set()
            for _cls, frame, kernel_stamp in queued_frames(sock):
                if kernel_stamp and kernel_stamp > self._stopped_at:  # captured after stop(): not the scan's
                    return
                stamp = kernel_stamp or time.time()
                if frame is None or self._unheard(frame, stamp):
                    continue
                with self._lock:
                    if self._concealed:
                        frame = conceal_credentials(frame, self._concealed)
                    if self._concealed_datagrams:
                        frame = conceal_datagram_secrets(frame, self._concealed_datagrams)
                    self._write_new_keys_locked()
                    writer.write_frame(frame, stamp)
                    self.frames += 1
            if stopping:
                return
            self._write_new_keys()
            select.select([sock], [], [], _POLL)

    def _write_new_keys(self) -> None:
        with self._lock:
            self._write_new_keys_locked()

    def _write_new_keys_locked(self) -> None:
        """Append the key log lines written since the last call as a Decryption Secrets Block
        (before every frame: a frame of a TLS session comes after its keys; a size check suffices)."""
        keylog = self._keylog
        if keylog is None or os.fstat(keylog.fileno()).st_size <= self._keys_written:
            return
        keylog.seek(self._keys_written)
        fresh = keylog.read()
        complete = fresh[: fresh.rfind(b"\n") + 1]
        if not complete or self._writer is None:
            return
        self._writer.write_tls_keys(complete)
        self._keys_written += len(complete)

    def stop(self) -> None:
        """Let the last replies land, write what is still queued, add the remaining keys and close the file."""
        if self._threads:
            time.sleep(2 * _POLL)
        self._stopped_at = time.time()
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for _interface, sock in self._sockets:
            sock.close()
        self._sockets.clear()
        self._threads.clear()
        if self._writer is not None:
            with self._lock:
                self._write_new_keys_locked()
                self._writer.close()
            self._writer = None
        if self._keylog is not None:
            self._keylog.close()
            self._keylog = None
        if self.keylog_path is not None:
            self.keylog_path.unlink(missing_ok=True)
