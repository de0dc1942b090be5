"""Lab behaviour for the exposure checks: per-path RTSP streams, still images, FTP logins.

The servers dispatch here when a service spec asks for it:

``rtsp``   ``streams: {path: open | auth | missing}`` answers DESCRIBE per path (query
           included): ``open`` with an SDP, ``auth`` with 401 and the spec's
           WWW-Authenticate, ``missing`` with 404; ``stream_default`` covers other paths
           (default ``missing``).
``http``   a route with ``image: jpeg`` serves :func:`tiny_jpeg` as ``image/jpeg``.
``banner`` ``ftp_login: anonymous | refuse`` answers USER/PASS/QUIT after the greeting:
           ``anonymous`` grants ``anonymous`` (230), ``refuse`` says 530 to every login.
"""

from __future__ import annotations

import asyncio
import struct
from urllib.parse import urlsplit

from camscan.lab.profiles import LabHost

STREAM_STATES = ("open", "auth", "missing")
MAX_FTP_COMMANDS = 8
FTP_IDLE = 30.0


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def tiny_jpeg() -> bytes:
    """A valid baseline JPEG (ITU-T T.81) of one 8x8 mid-grey block, built from the spec.

    One component; Huffman tables with a single one-bit code each (DC difference 0, AC
    end-of-block), so the entropy-coded block is the bits ``0 0`` padded with ones.
    """
    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    quantisation = b"\x00" + b"\x01" * 64
    frame = struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00"
    one_code = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1, for symbol 0x00
    scan = b"\x01\x01\x00\x00\x3f\x00"
    return (
        b"\xff\xd8"
        + _segment(0xE0, jfif)
        + _segment(0xDB, quantisation)
        + _segment(0xC0, frame)
        + _segment(0xC4, b"\x00" + one_code)
        + _segment(0xC4, b"\x10" + one_code)
        + _segment(0xDA, scan)
        + b"\x3f"
        + b"\xff\xd9"
    )


def stream_state(spec: dict, url: str) -> str | None:
    """How the stream at ``url`` answers DESCRIBE, or None when the spec has no per-path streams."""
    streams = spec.get("streams")
    if not streams:
        return None
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    state = streams.get(path, streams.get(path.rstrip("/") or "/", spec.get("stream_default", "missing")))
    if state not in STREAM_STATES:
        raise ValueError(f"stream state {state!r} is not one of {STREAM_STATES}")
    return state


async def serve_ftp_login(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: LabHost, spec: dict,
                          send) -> None:
    """Answer USER/PASS/QUIT (RFC 959 reply codes) after the greeting the banner server sent."""
    anonymous = spec.get("ftp_login") == "anonymous"
    user = None
    for _ in range(MAX_FTP_COMMANDS):
        try:
            line = await asyncio.wait_for(reader.readline(), FTP_IDLE)
        except (asyncio.TimeoutError, ValueError):
            return
        if not line:
            return
        verb, _, argument = line.decode("latin-1").strip().partition(" ")
        verb = verb.upper()
        if verb == "USER":
            user = argument
            await send(writer, b"331 Please specify the password.\r\n")
        elif verb == "PASS":
            granted = anonymous and user in ("anonymous", "ftp")
            await send(writer, b"230 Login successful.\r\n" if granted else b"530 Login incorrect.\r\n")
        elif verb == "QUIT":
            await send(writer, b"221 Goodbye.\r\n")
            return
        else:
            await send(writer, b"530 Please login with USER and PASS.\r\n")
