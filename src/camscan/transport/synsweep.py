"""The stateless SYN sweep of routed IPv4 targets, where camscan has raw sockets (root or CAP_NET_RAW).

zmap and masscan sweep this way: SYNs built from a template leave at the rate the pacer
allows, whatever the number of silent addresses (a connect sweep is held to
``concurrency / timeout`` connects a second by them), and replies are matched by the
cookie in the sequence number (:mod:`camscan.protocols.tcp_syn`), so nothing is kept per
probe. The one raw socket both sends and, through a BPF filter that passes only SYN-ACKs
and RSTs to the sweep's source port, hears the answers.

The source port is held by a bound, unconnected TCP socket for the sweep's length: no
other connection of this host gets it, and, with no listener on it, the kernel answers
each SYN-ACK with a RST, which closes the half-open connection on the target at once (as
after nmap's -sS). Nothing is installed in the host's firewall. A SYN carries no byte of
payload, so a connect-only port gets exactly what a TCP connect would send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from camscan.protocols import ProtocolError, tcp_syn
from camscan.scope import Scope
from camscan.transport import Pacer, bpf, deepen_receive_queue, paced_batches, read_queued, send_or_skip
from camscan.transport.guard import guard

READ_BATCH = 512  # replies read per event-loop turn
REPLY_BYTES = 128  # an IPv4 header (at most 60 bytes) and the TCP header's first 20 are all a reply needs


@dataclass
class SweepReport:
    """What a sweep did: probes sent, open ports heard, hosts without a route, seconds spent sending."""

    sent: int = 0
    opened: int = 0
    unroutable: int = 0
    sending_seconds: float = 0.0


def stateless_sweep_possible() -> bool:
    """Whether this process may open a raw IPv4 socket and compile its filter (libpcap)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).close()
        bpf.compile_program(tcp_syn.reply_filter(1), bpf.LINKTYPE_RAW_IP)
    except (OSError, bpf.FilterError):
        return False
    return True


class SourceAddresses:
    """The local address the kernel would send from to each destination (a UDP socket's
    connect chooses it by the routing table and sends nothing)."""

    def __init__(self) -> None:
        self._router = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def towards(self, destination: str) -> str | None:
        """The source address for ``destination``; None when there is no route to it."""
        try:
            self._router.connect((destination, 9))
        except OSError:
            return None
        return self._router.getsockname()[0]

    def close(self) -> None:
        self._router.close()


async def syn_sweep(
    scope: Scope, pacer: Pacer, hosts: list[str], ports: list[int], on_answer: Callable[[str, int, bool], None],
    wait: float,
) -> SweepReport:
    """SYN every port of every host (IPv4), host by host, at the pacer's rate; ``on_answer(ip,
    port, open)`` hears, once, each in-scope SYN-ACK (open) or RST (closed) that answers one of
    them, until ``wait`` seconds after the last SYN left."""
    report = SweepReport()
    secret = secrets.token_bytes(tcp_syn.SECRET_BYTES)
    loop = asyncio.get_running_loop()
    heard: set[tuple[str, int]] = set()
    with contextlib.ExitStack() as cleanup:
        holder = cleanup.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        holder.bind(("0.0.0.0", 0))
        source_port = holder.getsockname()[1]
        # Protocol TCP: the socket hears the host's TCP packets, but only once the filter is attached.
        raw = cleanup.enter_context(socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP))
        bpf.attach(raw, bpf.compile_program(tcp_syn.reply_filter(source_port), bpf.LINKTYPE_RAW_IP))
        # A reply from before the filter was attached may wait in the queue; the cookie refuses it.
        raw.setblocking(False)
        deepen_receive_queue(raw)
        sources = SourceAddresses()
        cleanup.callback(sources.close)
        builder = tcp_syn.SynBuilder(secret, source_port)

        def take_reply(packet: bytes) -> None:
            try:
                reply = tcp_syn.parse_reply(packet)
            except ProtocolError:
                return
            found = (reply[0], reply[1])
            state = tcp_syn.answers(secret, reply)
            if state is not None and found not in heard and scope.allowed(reply[0]):
                heard.add(found)
                report.opened += state == "open"
                on_answer(*found, state == "open")

        def probes() -> Iterator[tuple[str, str, int]]:
            for ip in hosts:
                guard(scope, ip)
                source = sources.towards(ip)
                if source is None:
                    report.unroutable += 1
                    continue
                for port in ports:
                    yield source, ip, port

        loop.add_reader(raw.fileno(), read_queued, raw, REPLY_BYTES, READ_BATCH, take_reply)
        cleanup.callback(loop.remove_reader, raw.fileno())
        started = time.monotonic()
        async for batch in paced_batches(pacer, probes()):
            for source, ip, port in batch:
                try:
                    report.sent += await send_or_skip(raw.sendto, builder.build(source, ip, port), (ip, 0))
                except OSError:  # the route went away, or a firewall of this host refused it
                    continue
        report.sending_seconds = time.monotonic() - started
        await asyncio.sleep(wait)
    return report
