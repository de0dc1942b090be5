"""The only code that touches the network. Every send passes :mod:`camscan.transport.guard` first."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

Item = TypeVar("Item")

# ARP is broadcast: every host of the link hears each request, so it keeps a polite rate of its
# own. arp-scan's default is 256 kbit/s of minimum-size (64-byte) Ethernet frames, 500 frames/s,
# and each request gets 500 ms to be answered (arp-scan(1): --bandwidth, --timeout).
DEFAULT_ARP_RATE = 500.0


SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
REPLY_QUEUE_BYTES = 32 * 1024 * 1024


def raw_frames_allowed() -> bool:
    """Whether this process may open a raw packet socket, which the ARP sweep needs: root with
    CAP_NET_RAW (a container may take it from root) or a non-root process granted it. Opening
    one sends nothing."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except (OSError, AttributeError):  # no permission, or no AF_PACKET on this system
        return False
    return True


def deepen_receive_queue(sock: socket.socket, buffer_bytes: int = REPLY_QUEUE_BYTES) -> None:
    """Let the kernel queue ``buffer_bytes`` of incoming packets for ``sock``.

    A sweep's replies arrive in bursts (a thousand ARP replies or ProbeMatches within
    milliseconds) that outrun one Python reader for a moment; the default queue (64 KiB for
    scapy's sockets, ~200 KiB for UDP) would drop most of them. Root may exceed
    net.core.rmem_max (SO_RCVBUFFORCE); otherwise the kernel caps the request at that limit.
    """
    for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, buffer_bytes)
            return
        except OSError:
            continue


class Pacer:
    """A token bucket shared by every sender (asyncio tasks and the ARP thread alike)."""

    def __init__(self, rate: float, burst: int | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst or max(1, int(rate / 50))
        self._clock = clock
        self._tokens = float(self.burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def reserve(self) -> float:
        """Take one token; the seconds to wait before sending."""
        with self._lock:
            self._refill()
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self, most: int) -> int:
        """Take as many whole tokens as are there now, up to ``most``; how many were taken
        (0 while other senders' reservations are still being paid off)."""
        with self._lock:
            self._refill()
            taken = max(0, min(most, int(self._tokens)))
            self._tokens -= taken
            return taken

    def give_back(self, unused: int) -> None:
        """Return tokens taken and not spent."""
        with self._lock:
            self._tokens = min(self.burst, self._tokens + unused)

    def until_next(self) -> float:
        """Seconds until a whole token is there."""
        with self._lock:
            self._refill()
            return max(0.0, (1 - self._tokens) / self.rate)

    def wait_blocking(self) -> None:
        delay = self.reserve()
        if delay:
            time.sleep(delay)

    async def wait(self) -> None:
        delay = self.reserve()
        if delay:
            await asyncio.sleep(delay)


async def paced_batches(pacer: Pacer, items: Iterable[Item]) -> AsyncIterator[list[Item]]:
    """``items`` in batches, each as soon as ``pacer`` grants a token for every item in it.

    A sender at thousands of packets per second cannot wait for each packet (a timer fires
    about once a millisecond at best): it wakes, sends what the elapsed time has paid for,
    and sleeps until the next token. Over a run the rate is the pacer's, to the token.
    """
    remaining: Iterator[Item] = iter(items)
    while True:
        granted = pacer.take(pacer.burst)
        if not granted:
            await asyncio.sleep(pacer.until_next())
            continue
        batch = list(islice(remaining, granted))
        if len(batch) < granted:
            pacer.give_back(granted - len(batch))
        if batch:
            yield batch
        if len(batch) < granted:
            return


async def send_or_skip(send: Callable[..., object], *arguments: object) -> bool:
    """``send(*arguments)`` on a non-blocking socket; a full device queue gets one short wait,
    then the packet is skipped (a retry pass, or the unanswered probe, covers it) rather than
    ending the scan. Whether it was sent."""
    for attempt in range(2):
        try:
            send(*arguments)
            return True
        except OSError as error:
            if error.errno not in (errno.ENOBUFS, errno.EAGAIN):
                raise
            if attempt:
                return False
            await asyncio.sleep(0.001)
    return False


def read_queued(sock: socket.socket, size: int, most: int, handle: Callable[[bytes], None]) -> None:
    """Hand up to ``most`` queued packets (of at most ``size`` bytes each) of a non-blocking
    socket to ``handle``: a bounded batch per event-loop turn, which calls again while more wait."""
    for _ in range(most):
        try:
            packet = sock.recv(size)
        except BlockingIOError:
            return
        handle(packet)
