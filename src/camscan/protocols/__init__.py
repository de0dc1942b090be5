"""Sans-IO protocol code: ``build_*`` makes request bytes, ``parse_*`` turns reply bytes into facts.

Nothing here opens a socket or reads a clock, so the live scanner, a pcap replay and
passive analysis all run the same parsers.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

from camscan.model import Observation


class ProtocolError(ValueError):
    """Bytes that do not form a valid message of the expected protocol."""


@dataclass(frozen=True)
class Exchange:
    """One step of a conversation: bytes to send, and when the reply is complete.

    An empty ``payload`` means "just listen" (a banner the service sends on connect).
    ``credentials`` are the ``(start, end)`` byte spans of ``payload`` that carry an account
    (see :func:`camscan.protocols.http.credential_spans`): the transport sends such an
    exchange on a connection of its own and keeps those bytes out of a recording.
    ``secret_reply`` says the reply carries secrets of its own (a recorder's logins to its
    cameras): the exchange gets a connection of its own too, and its reply stays out of a recording.
    """

    payload: bytes
    is_complete: Callable[[bytes], bool]
    max_bytes: int = 65536
    credentials: tuple[tuple[int, int], ...] = ()
    secret_reply: bool = False

    @property
    def concealed(self) -> bool:
        """Whether any of this exchange is kept out of a recording (so it travels alone)."""
        return bool(self.credentials) or self.secret_reply


Flow = Generator[Exchange, bytes, list[Observation]]
"""A conversation: yields exchanges, is sent each reply (b"" if none came), returns observations."""
