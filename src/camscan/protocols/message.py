"""The message format HTTP/1.x and RTSP/1.0 share: a status line, headers, a body."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from camscan.model import Observation
from camscan.protocols import ProtocolError

HEADER_END = b"\r\n\r\n"
# Response heads longer than this are read no further (real ones are far smaller: nginx
# refuses a proxied response whose head outgrows its 4-8 KiB proxy_buffer_size).
MAX_HEAD_BYTES = 32768
_STATUS_LINE = re.compile(rb"^(HTTP|RTSP)/(\d\.\d) (\d{3})(?: (.*))?$")


@dataclass(frozen=True)
class Response:
    """A parsed response; header names are lower-cased, repeated headers kept in order."""

    protocol: str
    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = field(default=())
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


def _head_end(data: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """Where the first blank line at or after ``start`` ends the head: (end of the head, start of the body).
    A bare LF line end is taken too, as RFC 9112 section 2.2 allows a recipient to."""
    ends = [(index, index + len(blank)) for blank in (HEADER_END, b"\n\n") if (index := data.find(blank, start)) >= 0]
    return min(ends) if ends else None


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    end = _head_end(data)
    return None if end is None else (data[: end[0]], data[end[1]:])


def parse_headers(lines: list[bytes]) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.decode("latin-1").rstrip("\r")
        if not line:
            continue
        if line[0] in " \t" and headers:  # obsolete line folding
            name, value = headers.pop()
            headers.append((name, f"{value} {line.strip()}"))
            continue
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip().lower(), value.strip()))
    return tuple(headers)


def _declared_length(head: bytes) -> int | None:
    match = re.search(rb"(?im)^content-length:\s*(\d{1,12})\s*$", head)
    return int(match.group(1)) if match else None


def _is_chunked(head: bytes) -> bool:
    return re.search(rb"(?im)^transfer-encoding:[^\r\n]*chunked", head) is not None


class _ChunkedBody:
    """Walks a chunked body (RFC 9112 section 7.1) as it arrives, keeping only the bytes not yet walked.

    A size line that is not 1-8 hex digits (before any ``;`` extension) breaks the walk: the
    body can never end. ``data`` collects the chunks' contents when asked to.
    """

    def __init__(self, keep_data: bool = False) -> None:
        self.data = bytearray() if keep_data else None
        self.ended = False
        self.broken = False
        self.last_line_end = 0  # where the final (zero) size line's CRLF starts, counted from the body's start
        self._pending = bytearray()
        self._offset = 0  # where _pending starts in the body
        self._searched = 0  # where in _pending the search for the size line's end goes on
        self._skip = 0  # bytes of chunk data, and the CRLF after it, still to pass over
        self._to_keep = 0  # of those, chunk data

    def feed(self, data: bytes) -> bool:
        """Take the next bytes of the body; whether its final chunk has been seen."""
        if self.ended or self.broken:
            return self.ended
        pending = self._pending
        pending += data
        position = 0
        while True:
            if self._skip:
                step = min(self._skip, len(pending) - position)
                if self.data is not None and self._to_keep:
                    kept = min(step, self._to_keep)
                    self.data += pending[position : position + kept]
                    self._to_keep -= kept
                position += step
                self._skip -= step
                if self._skip:
                    break
            line_end = pending.find(b"\r\n", max(position, self._searched))
            if line_end < 0:
                self._searched = max(position, len(pending) - 1)
                break
            size_text = bytes(pending[position:line_end]).split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
                self.broken = True
                break
            size = int(size_text, 16)
            if size == 0:
                self.ended = True
                self.last_line_end = self._offset + line_end
                break
            position = line_end + 2
            self._searched = 0
            self._skip, self._to_keep = size + 2, size
        del pending[:position]
        self._offset += position
        self._searched = max(0, self._searched - position)
        return self.ended


def _dechunk(body: bytes) -> tuple[bytes, int | None]:
    """Decode a chunked body: the data, and where the body ends (after the last chunk and its
    trailer) or None while the final chunk has not been seen."""
    walk = _ChunkedBody(keep_data=True)
    walk.feed(body)
    data = bytes(walk.data or b"")
    if not walk.ended:
        return data, None
    trailer_end = body.find(b"\r\n\r\n", walk.last_line_end)
    return data, len(body) if trailer_end < 0 else trailer_end + 4


class MessageReader:
    """Follows one HTTP or RTSP response as it arrives, to say when it is complete.

    However the reply is split, each byte is looked at a bounded number of times: the head
    is searched for its end in new bytes only, its framing read once, and the body then only
    counted (Content-Length) or walked chunk by chunk. A head that has not ended within
    ``MAX_HEAD_BYTES`` is not read on. HTTP bodies with neither Content-Length nor chunking
    run until the server closes; RTSP messages without Content-Length have no body.
    """

    def __init__(self, unframed_body_runs_to_close: bool = True) -> None:
        self._unframed_body_runs_to_close = unframed_body_runs_to_close
        self._head = bytearray()
        self._body_left: int | None = None  # of a Content-Length body
        self._chunks: _ChunkedBody | None = None
        self._in_head = True
        self._stopped = False
        self.complete = False

    def feed(self, data: bytes) -> bool:
        if self._stopped:
            return True
        if self._in_head:
            body = self._read_head(data)
            if body is None:
                return self._stopped
            data = body
        if self._body_left is not None:
            self._body_left -= len(data)
            self.complete = self._body_left <= 0
        elif self._chunks is not None:
            self.complete = self._chunks.feed(data)
            self._stopped = self._chunks.broken
        self._stopped = self._stopped or self.complete
        return self._stopped

    def _read_head(self, data: bytes) -> bytes | None:
        """Add ``data`` to the head; the body bytes that came after its end, or None while it goes on."""
        searched = len(self._head)
        self._head += data
        end = _head_end(self._head, max(0, searched - len(HEADER_END) + 1))
        if end is None or end[0] > MAX_HEAD_BYTES:
            self._stopped = len(self._head) > MAX_HEAD_BYTES
            return None
        head, body = bytes(self._head[: end[0]]), bytes(self._head[end[1]:])
        self._in_head, self._head = False, bytearray()
        self._body_left = _declared_length(head)
        if self._body_left is None and _is_chunked(head):
            self._chunks = _ChunkedBody()
        elif self._body_left is None:
            self.complete = self._stopped = not self._unframed_body_runs_to_close
        return body


def message_complete(data: bytes, unframed_body_runs_to_close: bool = True) -> bool:
    """Whether ``data`` holds a whole response (headers plus any declared body); see :class:`MessageReader`."""
    reader = MessageReader(unframed_body_runs_to_close)
    reader.feed(data)
    return reader.complete


def parse_response(data: bytes) -> Response:
    """Parse an HTTP or RTSP response; raises ProtocolError if it is not one."""
    parts = split_head(data)
    head, body = parts if parts is not None else (data, b"")
    head = head[:MAX_HEAD_BYTES]
    lines = head.split(b"\n")
    status_line = lines[0].rstrip(b"\r")
    match = _STATUS_LINE.match(status_line)
    if match is None:
        raise ProtocolError(f"not an HTTP/RTSP status line: {status_line[:60]!r}")
    protocol, version, status, reason = match.groups()
    length = _declared_length(head)
    if _is_chunked(head):
        body = _dechunk(body)[0]
    elif length is not None:
        body = body[:length]
    return Response(
        protocol=protocol.decode(),
        version=version.decode(),
        status=int(status),
        reason=(reason or b"").decode("latin-1").strip(),
        headers=parse_headers(lines[1:]),
        body=body,
    )


def split_messages(data: bytes, methods: Sequence[str] = ()) -> list[bytes]:
    """The messages one side sent back to back on a connection (pipelined requests, or the
    responses to them), each with its declared body: Content-Length or chunked; no body for
    a 1xx, 204 or 304 status or a response to HEAD (``methods``: the methods of the requests
    the responses answer, in order; a 1xx answers none), nor for an RTSP message or a request
    without one; an HTTP response with no framing runs to the end of ``data``. An incomplete
    last message is kept as it is."""
    messages = []
    position = 0
    answered = 0
    while position < len(data):
        parts = split_head(data[position:])
        if parts is None:
            messages.append(data[position:])
            break
        head, body = parts
        head_length = len(data) - position - len(body)
        status = _STATUS_LINE.match(head.split(b"\n", 1)[0].rstrip(b"\r"))
        code = status.group(3) if status else b""
        method = methods[answered] if status and answered < len(methods) else ""
        if status and code[:1] != b"1":
            answered += 1
        length = _declared_length(head)
        if status and (method.upper() == "HEAD" or code[:1] == b"1" or code in (b"204", b"304")):
            length = 0
        elif _is_chunked(head):
            end = _dechunk(body)[1]
            length = len(body) if end is None else end
        elif length is None:
            length = len(body) if status and status.group(1) == b"HTTP" else 0
        messages.append(data[position : position + head_length + min(length, len(body))])
        position += head_length + min(length, len(body))
    return messages


def response_observations(
    response: Response, ip: str, port: int, request: str, extra: dict[str, str | None], at: float = 0.0
) -> list[Observation]:
    """Status, Server and WWW-Authenticate of a response plus ``extra`` fields, as observations.

    Fields are prefixed with the response's protocol (``http.server``, ``rtsp.server``)
    unless an ``extra`` name already carries a prefix; empty extras are left out.
    """
    source = response.protocol.lower()

    def seen(field: str, value: str) -> Observation:
        name = field if "." in field else f"{source}.{field}"
        return Observation(ip=ip, source=source, field=name, value=value, port=port, observed_at=at)

    found = [seen("status", f"{response.status} {request}")]
    if server := response.header("server"):
        found.append(seen("server", server))
    found += [seen("www_authenticate", value) for value in response.header_values("www-authenticate")]
    found += [seen(field, value) for field, value in extra.items() if value]
    return found


def request_line(data: bytes) -> tuple[str, str]:
    """(method, target) of the first request line in ``data``; ("", "") if none."""
    words = data.split(b"\r\n", 1)[0].decode("latin-1").split()
    return (words[0], words[1]) if len(words) >= 2 else ("", "")


def overheard_response(reply: bytes, protocol: str,
                       observe: Callable[[Response], list[Observation]]) -> tuple[list[Observation], str | None] | None:
    """What an overheard ``protocol`` ("HTTP", "RTSP") response says, with the protocol's name if it
    parses; None when the reply is another protocol's (passive analysis tries the table's readers in turn)."""
    if not reply.startswith(protocol.encode() + b"/"):
        return None
    try:
        response = parse_response(reply)
    except ProtocolError:
        return [], None
    return observe(response), protocol.lower()
