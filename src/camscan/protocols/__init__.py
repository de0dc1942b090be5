"""Sans-IO protocol code: ``build_*`` makes request bytes, ``parse_*`` turns reply bytes into facts.

Nothing here opens a socket or reads a clock, so the live scanner, a pcap replay and
passive analysis all run the same parsers.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from camscan.model import Observation


class ProtocolError(ValueError):
    """Bytes that do not form a valid message of the expected protocol."""


class ReplyReader(Protocol):
    """Follows one reply as its bytes arrive."""

    complete: bool  # the reply has ended (not merely stopped: a reply cut short leaves more on the connection)

    def feed(self, data: bytes) -> bool:
        """Take the reply's next bytes; whether to stop reading (it is complete, or nothing more will be read)."""


class Completion:
    """When a reply is complete: ``reader()`` follows one reply as it arrives (each read costs
    the reading of its new bytes, not of the whole reply again); calling it judges whole bytes."""

    def __init__(self, reader: Callable[[], ReplyReader]) -> None:
        self.reader = reader

    def __call__(self, data: bytes) -> bool:
        reader = self.reader()
        reader.feed(data)
        return reader.complete

    @classmethod
    def rescanning(cls, is_complete: Callable[[bytes], bool]) -> Completion:
        """A completion judged on the whole reply at every read: only for replies kept short
        (a banner, an FTP reply), where reading them again costs little."""
        return cls(lambda: _Rescanning(is_complete))


class _Rescanning:
    def __init__(self, is_complete: Callable[[bytes], bool]) -> None:
        self._is_complete = is_complete
        self._received = bytearray()
        self.complete = False

    def feed(self, data: bytes) -> bool:
        self._received += data
        self.complete = self._is_complete(bytes(self._received))
        return self.complete


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
    is_complete: Completion
    max_bytes: int = 65536
    credentials: tuple[tuple[int, int], ...] = ()
    secret_reply: bool = False

    @property
    def concealed(self) -> bool:
        """Whether any of this exchange is kept out of a recording (so it travels alone)."""
        return bool(self.credentials) or self.secret_reply

    def __post_init__(self) -> None:
        if not isinstance(self.is_complete, Completion):
            raise TypeError("Exchange.is_complete must be a Completion (Completion.rescanning wraps a "
                            "whole-reply predicate, for short replies only)")


FlowReturn = TypeVar("FlowReturn")
Conversation = Generator[Exchange, bytes, FlowReturn]
"""A conversation: yields exchanges, is sent each reply (b"" if none came), returns what it learnt."""
Flow = Conversation[list[Observation]]
"""A conversation that returns observations."""
