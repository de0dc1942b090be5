"""asyncio servers that speak a profile's protocols on pre-made listening sockets.

The tiers (loopback, network namespaces) create and bind the sockets wherever they must
live; :class:`LabRuntime` then serves all of them from one event loop in a background
thread.  Service kinds:

``http``/``https``  one request per connection, ``Connection: close``; routes from the
                    profile, 404 (or the profile's ``not_found``) for anything else.
``rtsp``            OPTIONS -> 200 + Public (CSeq echoed), DESCRIBE -> 401 with the
                    profile's WWW-Authenticate or 200 + SDP; persistent connections.
``banner``          sends the profile's banner on connect, then listens.
``silent``          accepts and never sends a byte.

An ``http`` route may carry ``onvif`` (added by the profile loader for a profile's
``discovery.onvif``): SOAP POSTs to it are answered by :mod:`camscan_lab.onvif_service`.
A route with ``recorder`` answers a recorder's channel API (ISAPI or Dahua's CGI, behind
Digest) through :mod:`camscan_lab.recorders`.
UDP discovery sockets (WS-Discovery, SADP, DHIP, SSDP, mDNS) are served by the same loop;
:mod:`camscan_lab.discovery_replies` decides what each datagram gets back.

Every handler tolerates scanners: half-open and immediately closed connections, junk,
oversized requests and slow readers end that one connection, never the lab.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from typing import Any, Awaitable, Callable, Iterable

from camscan_lab import discovery_replies, exposure, hostile, onvif_service, recorders
from camscan_lab.certs import server_context
from camscan_lab.profiles import LabHost

log = logging.getLogger("camscan_lab")

MAX_HEAD = 16 * 1024  # bytes of request head accepted before answering 400
READ_TIMEOUT = 10.0  # seconds a client may take to send a request
IDLE_TIMEOUT = 30.0  # seconds of silence before a banner/silent/RTSP connection is dropped
WRITE_TIMEOUT = 10.0  # seconds a slow reader gets to take our reply
MAX_DISCARD = 1 << 20  # bytes swallowed from a client before hanging up
MAX_RTSP_REQUESTS = 64
MAX_BANNER_REPLIES = 3

REASONS = {
    200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 411: "Length Required", 413: "Request Entity Too Large", 454: "Session Not Found", 455: "Method Not Valid in This State",
    461: "Unsupported Transport", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable", 505: "RTSP Version Not Supported",
}
_TOKEN = re.compile(rb"^[A-Z_][A-Z0-9_-]{0,31}$")
_DEFAULT_PUBLIC = "OPTIONS, DESCRIBE, SETUP, TEARDOWN, PLAY"

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, LabHost, dict], Awaitable[None]]


# --------------------------------------------------------------------------- helpers


def close_sockets(sockets: list[socket.socket]) -> None:
    """Close and forget every socket in the list, ignoring ones already gone."""
    for sock in sockets:
        try:
            sock.close()
        except OSError:
            pass
    sockets.clear()


def http_date() -> str:
    return email.utils.formatdate(usegmt=True)


def _header_items(headers: Any) -> list[tuple[str, str]]:
    if not headers:
        return []
    if isinstance(headers, dict):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


class _Stream:
    """A reader with a pushback buffer, deadlines and a size cap."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buffer = b""

    async def _fill(self, deadline: float) -> bool:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return False
        try:
            chunk = await asyncio.wait_for(self.reader.read(4096), remaining)
        except (asyncio.TimeoutError, ConnectionError, OSError, ssl.SSLError):
            return False
        if not chunk:
            return False
        self.buffer += chunk
        return True

    async def head(self, timeout: float) -> tuple[bytes, str]:
        """The next request head; status is ok, eof (or timeout) or overflow."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            ends = [i for i in (self.buffer.find(b"\r\n\r\n"), self.buffer.find(b"\n\n")) if i >= 0]
            if ends:
                cut = min(ends)
                cut += 4 if self.buffer[cut : cut + 4] == b"\r\n\r\n" else 2
                head, self.buffer = self.buffer[:cut], self.buffer[cut:]
                return head, "ok"
            if len(self.buffer) > MAX_HEAD:
                return self.buffer, "overflow"
            if not await self._fill(deadline):
                return self.buffer, "eof"

    async def body(self, count: int, timeout: float) -> bytes:
        """The next *count* bytes (fewer if the client stops sending)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.buffer) < count:
            if not await self._fill(deadline):
                break
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    async def skip(self, count: int, timeout: float) -> None:
        """Drop a request body of *count* bytes (capped)."""
        count = min(count, MAX_DISCARD)
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.buffer) < count:
            if not await self._fill(deadline):
                break
        self.buffer = self.buffer[count:]


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)


async def _discard(reader: asyncio.StreamReader, idle: float) -> None:
    """Swallow input until the client closes, goes quiet for *idle* s, or sends too much."""
    total = 0
    while total < MAX_DISCARD:
        try:
            chunk = await asyncio.wait_for(reader.read(4096), idle)
        except (asyncio.TimeoutError, ConnectionError, OSError, ssl.SSLError):
            return
        if not chunk:
            return
        total += len(chunk)


def _parse_headers(head: bytes) -> tuple[bytes, dict[str, str]]:
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if b":" in line:
            name, _, value = line.partition(b":")
            headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return lines[0].rstrip(b"\r"), headers


# --------------------------------------------------------------------------- HTTP


def _page(title: str) -> str:
    return f"<html><head><title>{title}</title></head><body></body></html>\n"


def _error_body(status: int, reason: str) -> str:
    return f"<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>\n"


def _route(spec: dict, path: str) -> dict | None:
    routes = spec.get("routes") or {}
    if path in routes:
        return routes[path]
    best, best_len = None, -1
    for key, route in routes.items():
        if key.endswith("*") and path.startswith(key[:-1]) and len(key) > best_len:
            best, best_len = route, len(key)
    return best


def http_response(spec: dict, route: dict, host: LabHost, head_only: bool = False, content: bytes | None = None) -> bytes:
    """The bytes of one HTTP reply built from a route spec (*content*, when given, is the body as is)."""
    status = int(route.get("status", 200))
    reason = route.get("reason") or REASONS.get(status, "Unknown")
    body = route.get("body")
    if body is None:
        title = route.get("title")
        body = _page(title) if title is not None else _error_body(status, reason)
    body_bytes = content if content is not None else host.render(str(body)).encode("utf-8")
    if route.get("image") == "jpeg":
        body_bytes = exposure.tiny_jpeg()
    headers: list[tuple[str, str]] = []
    if spec.get("server"):
        headers.append(("Server", host.render(str(spec["server"]))))
    if spec.get("date", True):
        headers.append(("Date", http_date()))
    default_type = "image/jpeg" if route.get("image") == "jpeg" else spec.get("content_type") or "text/html"
    headers.append(("Content-Type", str(route.get("content_type") or default_type)))
    headers.append(("Content-Length", str(len(body_bytes))))
    headers.append(("Connection", "close"))
    route_headers = _header_items(route.get("headers"))
    overridden = {name.lower() for name, _ in route_headers}
    for name, value in _header_items(spec.get("headers")):
        if name.lower() not in overridden:
            headers.append((name, value))
    headers.extend(route_headers)
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {host.render(value)}" for name, value in headers]
    lines += [host.render(str(line)) for line in spec.get("headers_raw") or ()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
    return head if head_only else head + body_bytes


def _request_target(raw: bytes) -> str:
    target = raw.decode("latin-1")
    if "://" in target:  # absolute form
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return target.split("?", 1)[0].split("#", 1)[0] or "/"


async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: LabHost, spec: dict) -> None:
    stream = _Stream(reader)
    head, status = await stream.head(READ_TIMEOUT)
    if not head.strip():
        return  # connected and left, or said nothing
    request_line, request_headers = _parse_headers(head) if status == "ok" else (head.split(b"\n", 1)[0].rstrip(b"\r"), {})
    parts = request_line.split(b" ")
    valid = (
        status == "ok"
        and len(parts) == 3
        and _TOKEN.match(parts[0]) is not None
        and parts[2].startswith(b"HTTP/1.")
        and parts[1][:1] in (b"/", b"h", b"*")
    )
    if not valid:
        route = spec.get("bad_request") or {"status": 400}
        await _send(writer, http_response(spec, route, host))
        return
    method = parts[0]
    route = _route(spec, _request_target(parts[1]))
    if route is None:
        route = spec.get("not_found") or {"status": 404}
    if "onvif" in route:
        await _send(writer, await _onvif_exchange(stream, method, request_headers, route, spec, host))
        return
    if route.get("recorder"):
        target = parts[1].decode("latin-1")
        route = recorders.recorder_reply(route["recorder"], method.decode("latin-1"), target,
                                         request_headers.get("authorization"), host)
        await _send(writer, http_response(spec, route, host, head_only=method == b"HEAD", content=route["content"]))
        return
    if route.get("onvif_media") or route.get("igd_control"):
        body = await exposure.read_body(stream, request_headers.get("content-length", "0"), READ_TIMEOUT)
        route = exposure.onvif_route(route, body) if route.get("onvif_media") else exposure.igd_control_route(route, body)
    if route.get("igd_description"):
        route = exposure.igd_description_route(route)
    if route.get("login"):
        route = exposure.login_route(route, request_headers.get("authorization"), method.decode("latin-1"), host)
    await _send(writer, http_response(spec, route, host, head_only=method == b"HEAD"))


async def _onvif_exchange(stream: _Stream, method: bytes, headers: dict[str, str], route: dict, spec: dict,
                          host: LabHost) -> bytes:
    """An ONVIF service's answer to one request: a SOAP POST with a bounded Content-Length."""
    onvif = route["onvif"]
    if method != b"POST":
        return http_response(spec, {"status": 405, "headers": {"Allow": "POST"}}, host)
    length = headers.get("content-length", "")
    if not length.isdigit():
        return http_response(spec, {"status": 411, "reason": "Length Required"}, host)
    if int(length) > onvif_service.MAX_REQUEST_BODY:
        return http_response(spec, {"status": 413, "reason": "Request Entity Too Large"}, host)
    body = await stream.body(int(length), READ_TIMEOUT)
    status, content_type, content = onvif_service.device_service_reply(
        body, headers.get("content-type", ""), onvif, host, service=route.get("onvif_service", "device")
    )
    return http_response(spec, {"status": status, "content_type": content_type}, host, content=content)


# --------------------------------------------------------------------------- RTSP

_SDP = (
    "v=0\r\n"
    "o=- {session} 1 IN IP4 {ip}\r\n"
    "s={name}\r\n"
    "{info}"
    "c=IN IP4 0.0.0.0\r\n"
    "t=0 0\r\n"
    "{tool}"
    "a=type:broadcast\r\n"
    "a=control:*\r\n"
    "a=range:npt=0-\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1;profile-level-id=640028;sprop-parameter-sets=Z2QAKKwbGoB4AiflwFuAgICgAAB9AAAXcAI=,aO44gA==\r\n"
    "a=control:trackID=1\r\n"
)


def sdp_for(spec: dict, host: LabHost) -> bytes:
    if spec.get("sdp"):
        text = host.render(str(spec["sdp"])).replace("\r\n", "\n").replace("\n", "\r\n")
        return text.encode("utf-8")
    info = f"i={spec['sdp_info']}\r\n" if spec.get("sdp_info") else ""
    tool = f"a=tool:{spec['sdp_tool']}\r\n" if spec.get("sdp_tool") else ""
    session = str(int(host.serial[-8:], 36) % 10**10) if host.serial else "1"
    text = _SDP.format(
        session=session, ip=host.ip, name=spec.get("sdp_session") or "Media Presentation", info=info, tool=tool
    )
    return text.encode("utf-8")


def rtsp_response(
    status: int,
    cseq: str | None,
    spec: dict,
    host: LabHost,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    reason: str | None = None,
) -> bytes:
    lines = [f"RTSP/1.0 {status} {reason or REASONS.get(status, 'Unknown')}"]
    if cseq is not None:
        lines.append(f"CSeq: {cseq}")
    if spec.get("server"):
        lines.append(f"Server: {host.render(str(spec['server']))}")
    if spec.get("date", True):
        lines.append(f"Date: {http_date()}")
    for name, value in _header_items(spec.get("headers")):
        lines.append(f"{name}: {host.render(value)}")
    for name, value in headers:
        lines.append(f"{name}: {host.render(value)}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace") + body


def _auth_headers(spec: dict) -> list[tuple[str, str]]:
    auth = spec.get("auth")
    if not auth:
        return []
    values = auth if isinstance(auth, list) else [auth]
    return [("WWW-Authenticate", str(v)) for v in values]


def _rtsp_bad_request(spec: dict, host: LabHost) -> bytes:
    if spec.get("bad_request"):
        return host.render(str(spec["bad_request"])).encode("latin-1", errors="replace")
    return rtsp_response(400, None, spec, host)


def rtsp_reply(method: str, url: str, cseq: str | None, spec: dict, host: LabHost) -> bytes:
    """The reply to one well-formed RTSP request."""
    auth = _auth_headers(spec)
    if method == "OPTIONS":
        cseq = str(spec["options_cseq"]) if spec.get("options_cseq") is not None else cseq
        return rtsp_response(200, cseq, spec, host, [("Public", str(spec.get("public") or _DEFAULT_PUBLIC))])
    if method == "DESCRIBE":
        if spec.get("describe_status"):
            return rtsp_response(int(spec["describe_status"]), cseq, spec, host)
        state = exposure.stream_state(spec, url)
        if state == "missing":
            return rtsp_response(404, cseq, spec, host)
        if state == "auth" or (state is None and auth):
            return rtsp_response(401, cseq, spec, host, auth)
        base = url if url.endswith("/") else url + "/"
        body = sdp_for(spec, host)
        return rtsp_response(
            200, cseq, spec, host, [("Content-Base", base), ("Content-Type", "application/sdp")], body
        )
    if method in ("SETUP", "PLAY", "PAUSE", "RECORD", "ANNOUNCE", "GET_PARAMETER", "SET_PARAMETER", "TEARDOWN"):
        if auth:
            return rtsp_response(401, cseq, spec, host, auth)
        if method in ("GET_PARAMETER", "SET_PARAMETER", "TEARDOWN"):
            return rtsp_response(200, cseq, spec, host)
        if method == "SETUP":
            return rtsp_response(461, cseq, spec, host)
        return rtsp_response(454 if method in ("PLAY", "PAUSE") else 405, cseq, spec, host)
    return rtsp_response(501, cseq, spec, host)


async def serve_rtsp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: LabHost, spec: dict) -> None:
    stream = _Stream(reader)
    for index in range(MAX_RTSP_REQUESTS):
        head, status = await stream.head(READ_TIMEOUT if index == 0 else IDLE_TIMEOUT)
        if not head.strip():
            return
        if status != "ok":
            await _send(writer, _rtsp_bad_request(spec, host))
            return
        request_line, headers = _parse_headers(head)
        parts = request_line.split(b" ")
        if len(parts) == 3 and parts[2].startswith(b"HTTP/") and spec.get("http_response"):
            await _send(writer, host.render(str(spec["http_response"])).encode("latin-1", errors="replace"))
            return
        if len(parts) != 3 or not parts[2].startswith(b"RTSP/") or not _TOKEN.match(parts[0]):
            await _send(writer, _rtsp_bad_request(spec, host))
            return
        if parts[2] not in (b"RTSP/1.0", b"RTSP/2.0"):
            await _send(writer, rtsp_response(505, headers.get("cseq"), spec, host))
            return
        length = headers.get("content-length", "0")
        if length.isdigit() and int(length):
            await stream.skip(int(length), READ_TIMEOUT)
        method, url = parts[0].decode("latin-1"), parts[1].decode("latin-1")
        await _send(writer, rtsp_reply(method, url, headers.get("cseq"), spec, host))
        if method == "TEARDOWN":
            return


# --------------------------------------------------------------------------- banners


async def serve_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: LabHost, spec: dict) -> None:
    await _send(writer, host.render(str(spec["banner"])).encode("latin-1", errors="replace"))
    if spec.get("ftp_login"):
        await exposure.serve_ftp_login(reader, writer, host, spec, _send)
        return
    reply = spec.get("reply")
    if not reply:
        await _discard(reader, IDLE_TIMEOUT)
        return
    answer = host.render(str(reply)).encode("latin-1", errors="replace")
    replies, total = 0, 0
    while replies < MAX_BANNER_REPLIES and total < MAX_DISCARD:
        try:
            chunk = await asyncio.wait_for(reader.read(4096), IDLE_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            return
        if not chunk:
            return
        total += len(chunk)
        for _ in range(min(chunk.count(b"\n"), MAX_BANNER_REPLIES - replies)):
            await _send(writer, answer)
            replies += 1


async def serve_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: LabHost, spec: dict) -> None:
    await _discard(reader, IDLE_TIMEOUT)


HANDLERS: dict[str, Handler] = {
    "http": serve_http,
    "https": serve_http,
    "rtsp": serve_rtsp,
    "banner": serve_banner,
    "silent": serve_silent,
}


# --------------------------------------------------------------------------- runtime


def _quiet_exceptions(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    # TLS handshakes from scanners fail all the time; none of that is the lab's problem.
    log.debug("lab loop: %s (%r)", context.get("message"), context.get("exception"))


async def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 2.0)
    except Exception:
        try:
            writer.transport.abort()
        except Exception:
            pass


def make_listener(ip: str, port: int, backlog: int = 1024) -> socket.socket:
    """A bound, listening TCP socket (in the calling thread's network namespace), IPv4 or IPv6."""
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def make_responder_socket(protocol: str, ip: str, join_group: bool) -> socket.socket:
    """A UDP socket on *protocol*'s discovery port (in the calling thread's network namespace).

    ``join_group`` (namespace tier): bound to the wildcard address, joined to the protocol's
    multicast group on the interface that owns *ip*, sending multicast out of that interface
    (IP_MULTICAST_IF, so no route is needed) without looping it back.  Otherwise (loopback
    tier) bound to *ip* alone: unicast only, nothing joined.
    """
    port, group = discovery_replies.ENDPOINTS[protocol]
    if join_group and not any(ipaddress.ip_address(ip) in net for net in discovery_replies.LAB_SOURCES[:1]):
        raise ValueError(f"refusing to join {group} for {ip}: multicast is for lab namespaces on 198.18.0.0/15 only")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if join_group:
            sock.bind(("0.0.0.0", port))
            if group:  # SNMP and the XMEye search have none: unicast only
                membership = socket.inet_aton(group) + socket.inet_aton(ip)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            # RFC 6762 §11: mDNS goes out with TTL 255; the others stay on the link.
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255 if protocol == "mdns" else 1)
        else:
            sock.bind((ip, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Responder(asyncio.DatagramProtocol):
    """Answers each datagram on one host's discovery socket once, through :func:`discovery_replies.answer`."""

    def __init__(self, runtime: "LabRuntime", binding: "DatagramBinding") -> None:
        self.runtime = runtime
        self.host, self.protocol, _sock, self.site, self.multicast = binding
        self.transport: asyncio.DatagramTransport | None = None
        self.sequence = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.runtime.datagrams += 1
        self.sequence += 1
        try:
            replies = discovery_replies.answer(
                self.protocol, data, addr, self.host, self.site, multicast=self.multicast, sequence=self.sequence
            )
        except Exception:  # a bug in a reply builder must not take the lab down
            log.exception("lab %s responder failed for %s (%s)", self.protocol, self.host.ip, self.host.profile)
            return
        for payload, destination in replies:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.sendto(payload, destination)

    def error_received(self, exc: Exception) -> None:
        log.debug("lab %s responder on %s: %r", self.protocol, self.host.ip, exc)


# (host, protocol, bound UDP socket, what the host knows of its network, may it send multicast)
DatagramBinding = tuple[LabHost, str, socket.socket, discovery_replies.Site, bool]


class LabRuntime:
    """One asyncio loop in a background thread serving every lab socket."""

    def __init__(self, name: str = "camscan-lab") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._datagram_transports: list[asyncio.BaseTransport] = []
        self._ready = threading.Event()
        self.connections = 0  # accepted so far (for diagnostics)
        self.last_served: dict[str, float] = {}  # host address -> when (time.monotonic) a connection to it last ended
        self.datagrams = 0  # discovery datagrams received so far (for diagnostics)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_exceptions)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("lab event loop did not start")

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        loop.call_soon(self._ready.set)
        try:
            loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def serve(self, bindings: Iterable[tuple[LabHost, int, socket.socket]]) -> None:
        """Serve each (host, port, listening socket); sockets are owned by the lab from now on."""
        if not self.running:
            self.start()
        jobs = []
        for host, port, sock in bindings:
            spec = host.services[port]
            kind = spec["kind"]
            context = server_context(host.profile, spec["cert"]) if kind == "https" else None
            jobs.append((host, spec, sock, context))
        future = asyncio.run_coroutine_threadsafe(self._serve_all(jobs), self._loop)  # type: ignore[arg-type]
        future.result(timeout=120)

    async def _serve_all(self, jobs: list) -> None:
        for host, spec, sock, context in jobs:
            handler = HANDLERS[spec["kind"]]
            if spec.get("hostile"):
                handler = functools.partial(hostile.serve, answer=handler)
            callback = functools.partial(self._client, handler, host, spec)
            extra = {"ssl": context, "ssl_handshake_timeout": READ_TIMEOUT} if context else {}
            try:
                server = await asyncio.start_server(callback, sock=sock, backlog=1024, **extra)
            except BaseException:
                sock.close()
                raise
            self._servers.append(server)

    def serve_datagrams(self, bindings: Iterable[DatagramBinding]) -> None:
        """Answer discovery on each bound UDP socket; sockets are owned by the lab from now on."""
        if not self.running:
            self.start()
        future = asyncio.run_coroutine_threadsafe(self._serve_datagrams(list(bindings)), self._loop)  # type: ignore[arg-type]
        future.result(timeout=120)

    async def _serve_datagrams(self, bindings: list[DatagramBinding]) -> None:
        loop = asyncio.get_running_loop()
        for binding in bindings:
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_Responder, self, binding), sock=binding[2]
                )
            except BaseException:
                binding[2].close()
                raise
            self._datagram_transports.append(transport)

    async def _client(
        self, handler: Handler, host: LabHost, spec: dict, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            await handler(reader, writer, host, spec)
        except asyncio.CancelledError:
            raise
        except (ConnectionError, asyncio.TimeoutError, ssl.SSLError, OSError, asyncio.IncompleteReadError):
            pass
        except Exception:  # a bug in a handler must not take the lab down
            log.exception("lab handler failed for %s (%s)", host.ip, host.profile)
        finally:
            self.last_served[host.ip] = time.monotonic()
            self._writers.discard(writer)
            await _close(writer)

    def stop(self) -> None:
        """Close every socket and connection and end the loop thread."""
        if not self.running or self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=15)
        except Exception:  # pragma: no cover - best effort
            log.warning("lab shutdown did not finish cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=15)

    async def _shutdown(self) -> None:
        for transport in self._datagram_transports:
            transport.close()
        self._datagram_transports.clear()
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            try:
                writer.transport.abort()
            except Exception:
                pass
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2.0)
            except Exception:
                pass
        self._servers.clear()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()
