"""FTP control connection (RFC 959): commands and numbered replies, for the anonymous-login check."""

from __future__ import annotations

import re

from camscan.protocols import Completion, ProtocolError

REPLY_LIMIT = 4096
_LINE = re.compile(rb"^(\d{3})([ -])(.*)$")


def build_command(verb: str, argument: str = "") -> bytes:
    """One command line; refuses line breaks that would smuggle a second command."""
    text = f"{verb} {argument}".rstrip()
    if "\r" in text or "\n" in text:
        raise ValueError("an FTP command must be one line")
    return text.encode("ascii") + b"\r\n"


def _lines(data: bytes) -> list[bytes]:
    return [line.rstrip(b"\r") for line in data.split(b"\n")]


def _reply_ends(data: bytes) -> bool:
    """A reply is complete at the line ``NNN <text>`` that ends it (RFC 959 section 4.2)."""
    lines = _lines(data)
    if len(lines) < 2:  # no line end yet
        return False
    first = _LINE.match(lines[0])
    if first is None:
        return True  # not FTP: nothing more will make it one
    if first.group(2) == b" ":
        return True
    return any(line[:4] == first.group(1) + b" " for line in lines[1:-1])


reply_complete = Completion.rescanning(_reply_ends)  # a reply is read up to REPLY_LIMIT bytes only


def parse_reply(data: bytes) -> tuple[int, str]:
    """The reply code and its first line of text; raises ProtocolError if ``data`` is not an FTP reply."""
    lines = _lines(data[:REPLY_LIMIT])
    match = _LINE.match(lines[0]) if lines else None
    if match is None:
        raise ProtocolError(f"not an FTP reply: {data[:40]!r}")
    return int(match.group(1)), match.group(3).decode("utf-8", "replace").strip()
