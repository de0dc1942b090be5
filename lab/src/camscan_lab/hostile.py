"""A hostile lab device: services that answer in the ways that cost a naive scanner most.

A service spec with ``hostile: <mode>`` (see ``hostile_profiles.yaml``) is served here
instead of by its kind's usual handler. Modes:

``trickle``    a valid head announcing a 4 MiB body, then the body a byte every millisecond
``drip``       the same reply in 1-byte writes as fast as the connection takes them
``huge-head``  a status line, then header lines that never end in a blank line
``endless``    a body that never ends (HTTP: no length, until the close; RTSP: an absurd
               Content-Length; banner: text with no line end), in large writes
``slow``       the kind's own valid answer, after a delay just under camscan's default timeout
``prompt``     the reply ``trickle`` and ``drip`` send, written at once: the well-behaved twin
               that a hostile service is measured against

HTTP and RTSP services read the request head first (and echo an RTSP CSeq); banner services
speak first. What one connection gets is bounded (``MAX_SENT`` bytes, ``MAX_SECONDS``), so
a lab never serves a client without end.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Awaitable, Callable

if TYPE_CHECKING:
    from camscan_lab.profiles import LabHost

MODES = frozenset({"trickle", "drip", "huge-head", "endless", "slow", "prompt"})
BODY_BYTES = 4 * 1024 * 1024  # a camera snapshot's worth
TRICKLE_INTERVAL = 0.001
SLOW_DELAY = 1.5  # camscan's default timeout is 2 s
MAX_SENT = 64 * 1024 * 1024
MAX_SECONDS = 60.0
BLOCK = 16384
REQUEST_TIMEOUT = 10.0
MAX_REQUEST = 16384
_CSEQ = re.compile(rb"(?im)^cseq:\s*(\d{1,9})\s*$")

Handler = Callable[..., Awaitable[None]]


async def _request_head(reader: asyncio.StreamReader) -> bytes:
    """The request head, or what came before the client stopped, went quiet or sent too much."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < MAX_REQUEST:
        try:
            chunk = await asyncio.wait_for(reader.read(4096), REQUEST_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            return head
        if not chunk:
            return head
        head += chunk
    return head


def _status_line(kind: str, request: bytes) -> bytes:
    if kind != "rtsp":
        return b"HTTP/1.1 200 OK\r\n"
    cseq = _CSEQ.search(request)
    return b"RTSP/1.0 200 OK\r\nCSeq: " + (cseq.group(1) if cseq else b"1") + b"\r\n"


def _opening(kind: str, mode: str, spec: dict, host: LabHost, request: bytes) -> bytes:
    """What the reply starts with: its head (HTTP, RTSP) or the first text of a banner."""
    if kind == "banner":
        line = host.render(str(spec["banner"])).rstrip("\r\n") + ("\r\n" if mode == "prompt" else "")
        return line.encode("latin-1", errors="replace")
    server = spec.get("server")
    head = _status_line(kind, request) + (f"Server: {host.render(str(server))}\r\n".encode() if server else b"")
    if mode == "huge-head":
        return head
    head += b"Content-Type: " + (b"application/sdp" if kind == "rtsp" else b"image/jpeg") + b"\r\n"
    if mode == "endless" and kind != "rtsp":
        return head + b"Connection: close\r\n\r\n"  # no length: the body runs until the server closes
    length = 2**31 - 1 if mode == "endless" else BODY_BYTES
    return head + b"Content-Length: %d\r\n\r\n" % length


def _filler(mode: str, kind: str):
    """The endless rest of the reply, block by block."""
    if mode == "huge-head":
        line = 0
        while True:
            line += 1
            yield b"".join(b"X-Pad-%d: %s\r\n" % (line * 100 + n, b"a" * 96) for n in range(BLOCK // 110))
    filler = b"A" if kind == "banner" else b"\x00"
    while True:
        yield filler * BLOCK


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: LabHost, spec: dict,
                answer: Handler) -> None:
    """Serve one connection the hostile way ``spec["hostile"]`` says; ``answer`` is the kind's usual handler."""
    mode, kind = spec["hostile"], spec["kind"]
    if mode == "slow":
        await asyncio.sleep(float(spec.get("delay", SLOW_DELAY)))
        await answer(reader, writer, host, spec)
        return
    request = b"" if kind == "banner" else await _request_head(reader)
    if kind != "banner" and not request.strip():
        return
    loop = asyncio.get_running_loop()
    give_up = loop.time() + MAX_SECONDS
    opening = _opening(kind, mode, spec, host, request)
    if mode in ("trickle", "drip", "prompt"):
        reply = opening + (b"A" * BODY_BYTES if kind == "banner" else b"\xff\xd8\xff\xe0" + bytes(BODY_BYTES - 4))
        if mode == "prompt":
            writer.write(reply)
            await writer.drain()
            return
        for index in range(len(reply)):
            writer.write(reply[index : index + 1])
            await writer.drain()
            # drain() does not yield while the buffer is short: give the loop (and news of a close) a turn.
            await asyncio.sleep(TRICKLE_INTERVAL if mode == "trickle" else 0)
            if writer.is_closing() or loop.time() > give_up:
                return
        return
    writer.write(opening)
    sent = 0
    for block in _filler(mode, kind):
        writer.write(block)
        await writer.drain()
        await asyncio.sleep(0)
        sent += len(block)
        if writer.is_closing() or sent > MAX_SENT or loop.time() > give_up:
            return
