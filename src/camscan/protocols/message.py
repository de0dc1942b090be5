"""The message format HTTP/1.x and RTSP/1.0 share: a status line, headers, a body."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from camscan.model import Observation
from camscan.protocols import ProtocolError

HEADER_END = b"\r\n\r\n"
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


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    for separator in (HEADER_END, b"\n\n"):
        index = data.find(separator)
        if index >= 0:
            return data[:index], data[index + len(separator):]
    return None


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


def _dechunk(body: bytes) -> tuple[bytes, int | None]:
    """Decode a chunked body: the data, and where the body ends (after the last chunk and its
    trailer) or None while the final chunk has not been seen."""
    out = bytearray()
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            return bytes(out), None
        size_text = body[position:line_end].split(b";", 1)[0].strip()
        if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
            return bytes(out), None
        size = int(size_text, 16)
        if size == 0:
            trailer_end = body.find(b"\r\n\r\n", line_end)
            return bytes(out), len(body) if trailer_end < 0 else trailer_end + 4
        start = line_end + 2
        out += body[start:start + size]
        if start + size > len(body):
            return bytes(out), None
        position = start + size + 2


def message_complete(data: bytes, unframed_body_runs_to_close: bool = True) -> bool:
    """Whether ``data`` holds a whole response (headers plus any declared body).

    HTTP bodies with neither Content-Length nor chunking run until the server closes;
    RTSP messages without Content-Length have no body.
    """
    parts = split_head(data)
    if parts is None:
        return False
    head, body = parts
    length = _declared_length(head)
    if length is not None:
        return len(body) >= length
    if _is_chunked(head):
        return _dechunk(body)[1] is not None
    return not unframed_body_runs_to_close


def parse_response(data: bytes) -> Response:
    """Parse an HTTP or RTSP response; raises ProtocolError if it is not one."""
    parts = split_head(data)
    head, body = parts if parts is not None else (data, b"")
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
