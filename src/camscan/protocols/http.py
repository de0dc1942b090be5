"""HTTP/1.1: GET requests and the identifying parts of a response."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.message import Response, message_complete, parse_response, response_observations

USER_AGENT = "camscan/0.1 (+inventory scan)"
BODY_EVIDENCE_LIMIT = 4096
_TITLE = re.compile(rb"<title[^>]{0,200}>(.{0,1024}?)</title", re.IGNORECASE | re.DOTALL)
TITLE_SEARCH_LIMIT = 16384

__all__ = ["build_get", "credential_spans", "http_reply", "parse_response", "response_complete", "observations",
           "same_host_redirect"]


def build_get(host: str, path: str = "/", authorization: str | None = None) -> bytes:
    """A read-only GET that asks the server to close the connection after replying."""
    credentials = f"Authorization: {authorization}\r\n" if authorization else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n{credentials}"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")


def build_post(host: str, path: str, body: bytes, content_type: str) -> bytes:
    """A POST of ``body`` (a SOAP request, say) that asks the server to close the connection after replying."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body


# RFC 9110 s11.6.2: the Authorization field carries the credentials; OASIS WS-Security
# UsernameToken Profile 1.1 s3.1: Username, Password (here a digest) and Nonce do. The digest is
# SHA-1 over nonce, time and password, so nonce and digest together can be cracked offline.
_AUTHORIZATION = re.compile(rb"\r\n(?:proxy-)?authorization:[ \t]*([^\r\n]*)", re.IGNORECASE)
_USERNAME_TOKEN_PART = re.compile(rb"<(?:[\w.-]+:)?(?:Username|Password|Nonce)\b[^>]*>([^<]*)<")


def credential_spans(request: bytes) -> tuple[tuple[int, int], ...]:
    """The byte spans of a request that carry an account: Authorization values and the
    Username, Password and Nonce of a WS-Security UsernameToken."""
    head_end = request.find(b"\r\n\r\n")
    head = request[: head_end if head_end >= 0 else len(request)]
    spans = [match.span(1) for match in _AUTHORIZATION.finditer(head)]
    spans += [match.span(1) for match in _USERNAME_TOKEN_PART.finditer(request) if match.end(1) > match.start(1)]
    return tuple(sorted(span for span in spans if span[1] > span[0]))


def response_complete(data: bytes) -> bool:
    return message_complete(data)


def http_reply(reply: bytes) -> Response | None:
    """The HTTP response in a conversation's ``reply`` bytes; None when they hold none (nothing
    came, unreadable bytes, or another protocol answered)."""
    try:
        response = parse_response(reply)
    except ProtocolError:
        return None
    return response if response.protocol == "HTTP" else None


def html_title(body: bytes) -> str | None:
    match = _TITLE.search(body[:TITLE_SEARCH_LIMIT])
    if match is None:
        return None
    title = " ".join(html.unescape(match.group(1).decode("utf-8", "replace")).split())
    return title or None


def observations(response: Response, ip: str, port: int, path: str, at: float = 0.0) -> list[Observation]:
    """What an HTTP response says about the device, as observations."""
    body = response.body[:BODY_EVIDENCE_LIMIT].decode("utf-8", "replace") if response.body.strip() else None
    extra = {"location": response.header("location"), "html.title": html_title(response.body), "body": body}
    return response_observations(response, ip, port, path, extra, at)


def same_host_redirect(response: Response, host: str, port: int) -> str | None:
    """The path a 3xx response redirects to, only when it stays on the same host and port."""
    if response.status not in (301, 302, 303, 307, 308):
        return None
    location = response.header("location")
    if not location:
        return None
    try:
        target = urlsplit(location)
        target_port = target.port
    except ValueError:  # a malformed URL or port: not a redirect worth following
        return None
    if target.netloc:
        default_port = {"http": 80, "https": 443}.get(target.scheme, port)
        if target.hostname != host or (target_port or default_port) != port:
            return None
    path = target.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path + (f"?{target.query}" if target.query else "")
