"""The only code that touches the network. Every send passes :mod:`camscan.transport.guard` first."""

from __future__ import annotations

import asyncio
import socket
import threading
import time


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

    def __init__(self, rate: float, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst or max(1, int(rate / 50))
        self._tokens = float(self.burst)
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; the seconds to wait before sending."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def wait_blocking(self) -> None:
        delay = self.reserve()
        if delay:
            time.sleep(delay)

    async def wait(self) -> None:
        delay = self.reserve()
        if delay:
            await asyncio.sleep(delay)
