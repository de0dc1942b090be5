"""HTTP/1.1: GET requests and the identifying parts of a response."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from urllib.parse import urljoin, urlsplit

import mmh3

from camscan.model import Observation
from camscan.protocols import Completion, ProtocolError
from camscan.protocols.message import (
    MessageReader, Response, overheard_response, parse_response, request_line, response_observations,
)

USER_AGENT = "camscan/0.1 (+inventory scan)"
BODY_EVIDENCE_LIMIT = 4096
_TITLE = re.compile(rb"<title[^>]{0,200}>(.{0,1024}?)</title", re.IGNORECASE | re.DOTALL)
TITLE_SEARCH_LIMIT = 16384
# The largest icon hashed; a reply cut off here is no icon (its hash would match nothing).
FAVICON_LIMIT = 65536
FAVICON_REPLY_LIMIT = FAVICON_LIMIT + 8192  # the icon plus its response head
_LINK_TAG = re.compile(rb"<link\b([^>]{0,1000})>", re.IGNORECASE)
_ATTRIBUTE = re.compile(rb"""([\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")

__all__ = [
    "build_get", "credential_spans", "http_reply", "parse_response", "response_complete", "observations",
    "same_host_redirect", "icon_path", "favicon_observations",
]


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


response_complete = Completion(MessageReader)


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
    return same_host_path(location, host, port)


def same_host_path(url: str, host: str, port: int) -> str | None:
    """The path and query of a URL (absolute, or a path) that names this host and port, else None."""
    try:
        target = urlsplit(url)
        target_port = target.port
    except ValueError:  # a malformed URL or port: not one worth following
        return None
    if target.netloc:
        default_port = {"http": 80, "https": 443}.get(target.scheme, port)
        if target.hostname != host or (target_port or default_port) != port:
            return None
    path = target.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path + (f"?{target.query}" if target.query else "")


def icon_path(response: Response, host: str, port: int, page: str, tls: bool = False) -> str | None:
    """The path of the icon an HTML page names (``<link rel="icon" href=...>``, HTML Living Standard
    §4.6.7.8) when it lies on this host and port; None when the page names none there."""
    if response.status != 200:
        return None
    base = f"{'https' if tls else 'http'}://{host if ':' not in host else f'[{host}]'}:{port}{page}"
    for tag in _LINK_TAG.finditer(response.body[:TITLE_SEARCH_LIMIT]):
        attributes = {
            name.decode("latin-1").lower(): (double or single or bare).decode("latin-1")
            for name, double, single, bare in _ATTRIBUTE.findall(tag.group(1))
        }
        if "icon" in attributes.get("rel", "").lower().split() and attributes.get("href"):
            return same_host_path(urljoin(base, html.unescape(attributes["href"].strip())), host, port)
    return None


def favicon_observations(reply: bytes, ip: str, port: int) -> list[Observation]:
    """``http.favicon_md5`` and ``http.favicon_mmh3`` of an icon a server sent whole.

    The MD5 is what Rapid7 Recog's favicons.xml lists; the MurmurHash3 (x86, 32-bit, signed) of the
    icon's base64 in MIME lines (76 characters, each ending in a newline, as Python's
    ``base64.encodebytes``) is Shodan's ``http.favicon.hash``. An HTML page in its place (a server
    that answers every path with its login page) is no icon.
    """
    if len(reply) >= FAVICON_REPLY_LIMIT:
        return []
    try:
        response = parse_response(reply)
    except ProtocolError:
        return []
    declared = response.header("content-length")
    body = response.body
    if response.status != 200 or not body or (declared and declared.strip().isdigit() and len(body) < int(declared)):
        return []
    page = "html" in (response.header("content-type") or "").lower()
    if page or body.lstrip()[:14].lower().startswith((b"<!doctype html", b"<html")):
        return []
    hashes = {
        "http.favicon_md5": hashlib.md5(body).hexdigest(),  # noqa: S324 - a fingerprint, not security
        "http.favicon_mmh3": str(mmh3.hash(base64.encodebytes(body))),
    }
    return [Observation(ip=ip, source="http", field=field, value=value, port=port) for field, value in hashes.items()]


def request_path(target: str) -> str:
    """The path of a request target, absolute (a proxy's ``http://host/path``) or not."""
    if target.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return target or "/"


def read_server_turn(ip: str, port: int, request: bytes, reply: bytes, at: float) -> tuple[list[Observation], str | None] | None:
    """An overheard HTTP response (passive analysis), filed under the path its request asked for."""
    path = request_path(request_line(request)[1])
    return overheard_response(reply, "HTTP", lambda response: observations(response, ip, port, path, at))
