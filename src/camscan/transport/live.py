"""Live network I/O: ARP sweep (raw AF_PACKET socket), TCP connects and flows over asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic

from camscan.model import Observation
from camscan.protocols import Conversation, Exchange, FlowReturn, arp
from camscan.scope import Scope
from camscan.transport import Pacer, bpf, deepen_receive_queue, paced_batches, read_queued, send_or_skip
from camscan.transport import synsweep
from camscan.transport.guard import guard, guard_conversation
from camscan.transport.synsweep import SweepReport

# A reply may take this many reads, plus one for every READ_ALLOWANCE_BYTES it has brought;
# a reply that comes in smaller pieces is cut short there (a real device's segments are
# ~1.4 KB; the kernel and asyncio hand over whatever has arrived, up to what is asked for).
BASE_READS = 64
READ_ALLOWANCE_BYTES = 512
ARP_READ_BATCH = 256  # ARP replies parsed per event-loop turn
ARP_FRAME_BYTES = 128  # an ARP reply is 42 bytes (60 with padding); the filter passes nothing larger to read


def read_allowance(received: int) -> int:
    """How many reads a reply that has brought ``received`` bytes may take in all."""
    return BASE_READS + received // READ_ALLOWANCE_BYTES


@dataclass(frozen=True)
class FlowResult(Generic[FlowReturn]):
    """What a flow returned ([] if it did not finish), plus the peer's TLS certificate when the flow ran over TLS."""

    observations: FlowReturn | list[Any]
    certificate: bytes | None = None
    connected: bool = True
    error: str | None = None


class RecordCountingSSLObject(ssl.SSLObject):
    """Counts the TLS records it decrypts (one ``read`` each): asyncio decrypts every record
    that has arrived before the reader sees any of it, so a peer that sends one byte per
    record costs a decryption per byte, and the read allowance has to count records."""

    records = 0

    def read(self, len: int = 1024, buffer=None):  # noqa: A002 (the name SSLObject.read has)
        self.records += 1
        return super().read(len, buffer)


def _permissive_tls() -> ssl.SSLContext:
    """Accept any certificate and old protocol versions: cameras run ancient TLS stacks."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.sslobject_class = RecordCountingSSLObject
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError):
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def on_link_interface(ip: str, forced: str | None = None) -> str | None:
    """The interface on which ``ip`` is directly reachable (so ARP applies), or None."""
    address = ipaddress.ip_address(ip)
    if address.version != 4 or address.is_loopback:
        return None
    import scapy.route  # noqa: F401  (importing it fills conf.route with the routing table)
    from scapy.config import conf

    iface, _source, gateway = conf.route.route(ip)
    name = getattr(iface, "name", iface)
    if forced:
        return forced if name == forced and gateway == "0.0.0.0" else None
    if gateway != "0.0.0.0" or not name or name == conf.loopback_name:
        return None
    return name


class LiveTransport:
    """Sends only to in-scope addresses, at a bounded rate and concurrency."""

    def __init__(
        self, scope: Scope, rate: float, concurrency: int, timeout: float, keylog: str | Path | None = None,
        conceal: Callable[[int, str, int, tuple[tuple[int, int], ...], bool], None] | None = None,
    ) -> None:
        """``conceal(local port, peer, peer port, spans, reply)`` is told, before a connection that
        carries credentials (or a reply with secrets) opens, which bytes of its stream to keep out
        of a recording, and whether the peer's reply too; such a connection's TLS keys are then
        not logged either."""
        self.scope = scope
        self.pacer = Pacer(rate)
        self.timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._tls = _permissive_tls()
        self._conceal = conceal
        self._tls_unlogged = self._tls
        self._stateless: bool | None = None  # whether raw sockets allow a SYN sweep, once asked
        if keylog:
            # A recording keeps the TLS secrets so the HTTPS conversations can be replayed and read.
            self._tls.keylog_filename = str(keylog)
            if conceal:
                self._tls_unlogged = _permissive_tls()

    async def open_ports(self, ip: str, ports: list[int]) -> list[int]:
        """The ports of ``ip`` that accept a TCP connection, tried at once (paced, bounded)."""
        states = await asyncio.gather(*(self._tcp_open(ip, port) for port in ports))
        return [port for port, is_open in zip(ports, states) if is_open]

    async def _tcp_open(self, ip: str, port: int) -> bool:
        """Whether a TCP connect to ip:port succeeds; nothing is sent and the connection is reset."""
        guard(self.scope, ip)
        async with self._slots:
            await self.pacer.wait()
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setblocking(False)
                # Close with RST, as a SYN scan does: no FIN exchange, no TIME_WAIT.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                try:
                    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(probe, (ip, port)), self.timeout)
                except (OSError, asyncio.TimeoutError):
                    return False
                return True

    def stateless_targets(self, hosts: list[str]) -> list[str]:
        """The hosts :meth:`syn_sweep` can sweep: the IPv4 ones, where this process has raw sockets."""
        if self._stateless is None:
            self._stateless = synsweep.stateless_sweep_possible()
        return [ip for ip in hosts if ":" not in ip] if self._stateless else []

    async def syn_sweep(
        self, hosts: list[str], ports: list[int], on_answer: Callable[[str, int, bool], None]
    ) -> SweepReport:
        """SYN every port of every host at the scan's rate; ``on_answer(ip, port, open)`` hears
        each port that answers (SYN-ACK: open, RST: closed), once."""
        return await synsweep.syn_sweep(self.scope, self.pacer, hosts, ports, on_answer, self.timeout)

    async def run_flow(
        self, ip: str, port: int, flow: Conversation[FlowReturn], tls: bool = False
    ) -> FlowResult[FlowReturn]:
        """Drive a sans-IO flow over real connections, reconnecting when the peer closes."""
        guard_conversation(self.scope, ip, port)
        certificate: bytes | None = None
        writer: asyncio.StreamWriter | None = None
        connected = False
        async with self._slots:
            try:
                exchange = next(flow)
                while True:
                    reply = b""
                    if exchange.concealed and writer is not None:
                        # Credentials travel on a connection of their own (see _open).
                        writer.transport.abort()
                        writer = None
                    # A reused connection the peer has quietly closed gets one fresh retry.
                    for fresh in (writer is None, True):
                        if writer is None:
                            opened = await self._open(ip, port, tls, exchange)
                            if opened is None:
                                break
                            reader, writer = opened
                            connected = True
                            certificate = certificate or self._peer_certificate(writer)
                        reply, closed = await self._exchange(reader, writer, exchange)
                        if closed or exchange.concealed:
                            writer.transport.abort()
                            writer = None
                        if reply or fresh:
                            break
                    exchange = flow.send(reply)
            except StopIteration as finished:
                return FlowResult(finished.value or [], certificate, connected)
            except (ValueError, TypeError, LookupError, UnicodeError) as error:
                # A reply no parser foresaw ends this conversation, never the scan.
                return FlowResult([], certificate, connected, error=f"{ip}:{port}: {error}")
            finally:
                if writer is not None:
                    writer.transport.abort()

    async def _open(self, ip: str, port: int, tls: bool, exchange: Exchange | None = None):
        """A connection to ip:port. One for a concealed ``exchange`` (credentials in its first
        request, or secrets in its reply) is, while recording without them, bound first so that
        the recorder knows its local port before its first frame, and its TLS keys stay out of the key log."""
        await self.pacer.wait()
        if not (exchange is not None and exchange.concealed and self._conceal):
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(ip, port, ssl=self._tls if tls else None), self.timeout
                )
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                return None
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            if not tls:
                self._conceal(sock.getsockname()[1], ip, port, exchange.credentials, exchange.secret_reply)
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (ip, port)), self.timeout)
            return await asyncio.wait_for(asyncio.open_connection(
                sock=sock, ssl=self._tls_unlogged if tls else None, server_hostname=ip if tls else None), self.timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError):
            sock.close()
            return None

    @staticmethod
    def _peer_certificate(writer: asyncio.StreamWriter) -> bytes | None:
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object.getpeercert(binary_form=True) if ssl_object else None

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exchange: Exchange):
        """Send the payload, read until the reply is complete; returns (reply, peer closed).

        Reading stops at the reply's end, at ``max_bytes``, at the timeout, or when the reply
        has taken more reads (over TLS: records) than its size warrants (see
        :func:`read_allowance`): a device that sends its reply a byte at a time costs a
        bounded number of reads.
        """
        buffer = bytearray()
        reply = exchange.is_complete.reader()
        deadline = time.monotonic() + self.timeout
        tls = writer.get_extra_info("ssl_object")
        tls = tls if isinstance(tls, RecordCountingSSLObject) else None
        records_before = tls.records if tls else 0
        try:
            if exchange.payload:
                writer.write(exchange.payload)
                await asyncio.wait_for(writer.drain(), self.timeout)
            # One deadline for every read (no timer per read: a trickled reply takes many reads).
            async with asyncio.timeout(deadline - time.monotonic()):
                reads = 0
                while len(buffer) < exchange.max_bytes and reads < read_allowance(len(buffer)):
                    chunk = await reader.read(exchange.max_bytes - len(buffer))
                    if not chunk:
                        return bytes(buffer), True
                    buffer += chunk
                    reads += 1
                    if tls:  # over TLS every record decrypted counts as a read
                        reads = max(reads, tls.records - records_before)
                    if reply.feed(chunk):
                        break
        except (OSError, TimeoutError, ssl.SSLError):
            return bytes(buffer), True
        # A reply cut short leaves the rest in the stream: do not reuse it.
        return bytes(buffer), not reply.complete

    async def arp_sweep(
        self,
        interface: str,
        targets: Iterable[str],
        on_reply: Callable[[Observation], None],
        wait: float,
        rate: float,
    ) -> None:
        """Ask every target on ``interface`` for its MAC at ``rate`` requests per second; ask
        once more each target still silent ``wait`` seconds after its request; report each
        in-scope reply as it comes.

        One raw AF_PACKET socket sends prebuilt frames in paced batches and, through a BPF
        filter that passes only ARP replies addressed to this interface, hears the answers
        (read from the event loop, no thread). Two attempts with a per-request wait follow
        arp-scan (``--retry`` 2, ``--timeout`` 500 ms: arp-scan(1)).
        """
        from scapy.arch import get_if_addr, get_if_hwaddr

        source_mac = get_if_hwaddr(interface)
        source_ip = get_if_addr(interface)
        wanted = sorted({ip for ip in targets if ip != source_ip}, key=ipaddress.ip_address)
        for ip in wanted:
            guard(self.scope, ip)
        requests = dict(zip(wanted, arp.build_requests(source_mac, source_ip, wanted)))
        answered: set[str] = set()
        loop = asyncio.get_running_loop()
        # Protocol 0 hears nothing: the filter is in place before bind() lets the first frame in.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            bpf.attach(sock, bpf.compile_program(arp.reply_filter(source_mac), bpf.LINKTYPE_ETHERNET))
            sock.bind((interface, arp.ETH_P_ARP))
            sock.setblocking(False)
            deepen_receive_queue(sock)

            def take_reply(frame: bytes) -> None:
                try:
                    seen = arp.parse_reply(frame, at=time.time())
                except ValueError:
                    return
                if seen.ip in requests and seen.ip not in answered and self.scope.allowed(seen.ip):
                    answered.add(seen.ip)
                    on_reply(seen)

            loop.add_reader(sock.fileno(), read_queued, sock, ARP_FRAME_BYTES, ARP_READ_BATCH, take_reply)
            pacer = Pacer(rate)
            sent_at: dict[str, float] = {}
            async for batch in paced_batches(pacer, wanted):
                for ip in batch:
                    await send_or_skip(sock.send, requests[ip])
                    sent_at[ip] = loop.time()
            async for batch in paced_batches(pacer, (ip for ip in wanted if ip not in answered)):
                for ip in batch:
                    if (early := sent_at[ip] + wait - loop.time()) > 0:
                        await asyncio.sleep(early)
                    if ip not in answered:
                        await send_or_skip(sock.send, requests[ip])
                        sent_at[ip] = loop.time()
            if sent_at:
                await asyncio.sleep(max(0.0, max(sent_at.values()) + wait - loop.time()))
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(sock.fileno())
            sock.close()

