"""The conversations camscan holds with an open port, as sans-IO flows, and their entries
(:class:`~camscan.protocols.spec.StreamSpec`) in the protocol table :mod:`camscan.registry`.

Each flow yields :class:`~camscan.protocols.Exchange` steps and returns observations; the
live transport, a pcap replay and the unit tests drive the same generators.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from camscan.model import Observation
from camscan.protocols import Exchange, Flow, ProtocolError, banner, http, rtsp, ssdp, tls
from camscan.protocols.message import parse_response
from camscan.protocols.spec import StreamSpec, declared_values, proved_by

# Read-only pages that name the maker even behind a login (data: each with its maker's API).
VENDOR_PATHS = declared_values(Path(__file__).with_name("http_vendor_paths.yaml"), "path", "api")
MAX_REDIRECTS = 2


def _url_host(ip: str) -> str:
    """An address as it stands in a URL or Host header (IPv6 in brackets)."""
    return f"[{ip}]" if ":" in ip else ip


def host_header_for(ip: str, port: int, default_port: int) -> str:
    return _url_host(ip) if port == default_port else f"{_url_host(ip)}:{port}"


def http_flow(ip: str, port: int, tls: bool = False, vendor_paths: tuple[str, ...] = VENDOR_PATHS) -> Flow:
    """GET /, follow same-host redirects, then the vendor paths and the icon (only if / spoke HTTP)."""
    host = host_header_for(ip, port, 443 if tls else 80)
    found: list[Observation] = []
    queue = ["/"]
    fetched: set[str] = set()
    redirects = 0
    spoke_http = False
    icon: str | None = None
    while queue:
        path = queue.pop(0)
        if path in fetched:
            continue
        fetched.add(path)
        reply = yield Exchange(http.build_get(host, path), http.response_complete)
        try:
            response = parse_response(reply)
        except ProtocolError:
            if not spoke_http:
                return found
            continue
        if response.protocol != "HTTP":
            return found
        if spoke_http and path in vendor_paths and response.status == 404:
            # A page this device does not have says nothing beyond its status.
            found += http.observations(response, ip, port, path)[:1]
        else:
            found += http.observations(response, ip, port, path)
        if not spoke_http:
            spoke_http = True
            queue.extend(vendor_paths)
        icon = icon or http.icon_path(response, ip, port, path, tls)
        target = http.same_host_redirect(response, ip, port)
        if target and redirects < MAX_REDIRECTS:
            redirects += 1
            queue.insert(0, target)
    if spoke_http:
        # One more GET: the icon the pages named on this host and port, else the conventional one.
        found += yield from favicon_flow(host, ip, port, icon or "/favicon.ico")
    return found


def favicon_flow(host: str, ip: str, port: int, path: str) -> Flow:
    """GET a web interface's icon, bounded in size, and hash it."""
    reply = yield Exchange(http.build_get(host, path), http.response_complete, max_bytes=http.FAVICON_REPLY_LIMIT)
    return http.favicon_observations(reply, ip, port)


def rtsp_flow(ip: str, port: int) -> Flow:
    """OPTIONS then DESCRIBE of the root URL, without credentials."""
    url = f"rtsp://{_url_host(ip)}:{port}/"
    found: list[Observation] = []
    for cseq, method in enumerate(("OPTIONS", "DESCRIBE"), start=1):
        reply = yield Exchange(rtsp.build_request(method, url, cseq), rtsp.response_complete)
        try:
            response = parse_response(reply)
        except ProtocolError:
            return found
        if response.protocol != "RTSP":
            return found
        found += rtsp.observations(response, ip, port, method)
    return found


def banner_flow(ip: str, port: int) -> Flow:
    """Listen for what the service says on connect, refusing telnet options once."""
    data = yield Exchange(b"", banner.banner_complete, max_bytes=banner.BANNER_LIMIT)
    refusals = banner.telnet_refusals(data)
    if refusals and not banner.strip_telnet(data).strip():
        data += yield Exchange(refusals, banner.banner_complete, max_bytes=banner.BANNER_LIMIT)
    return banner.observations(data, ip, port)


def banner_protocol(found: list[Observation]) -> str | None:
    """The protocol a banner belongs to (``ssh.banner`` -> ssh), if the service said one."""
    return next((seen.field.split(".")[0] for seen in found if seen.field.endswith(".banner")), None)


# The conversations, by name in default_ports.yaml (the port table).
BANNER = StreamSpec(
    "banner", banner_flow, banner_protocol, on_other_ports=True,
    summary_fields=("ssh.banner", "ftp.banner", "telnet.banner"),
)
HTTP = StreamSpec(
    "http", http_flow, proved_by("http.status", "http"), on_other_ports=True,
    summary_fields=("http.server", "html.title"), read_server_turn=http.read_server_turn,
)
HTTPS = StreamSpec(
    "https", partial(http_flow, tls=True), proved_by("http.status", "https"), tls=True,
    summary_fields=("http.server", "html.title", "tls.subject"), read_server_turn=tls.read_server_turn,
)
RTSP = StreamSpec(
    "rtsp", rtsp_flow, proved_by("rtsp.status", "rtsp"), on_other_ports=True,
    summary_fields=("rtsp.server",), read_server_turn=rtsp.read_server_turn,
)


def upnp_description_flow(ip: str, host: str, port: int, path: str, tls: bool = False) -> Flow:
    """GET the UPnP device description an SSDP LOCATION names; observations are filed under ``ip``.

    ``host`` is the LOCATION's address (the caller has checked it is in scope).
    """
    reply = yield Exchange(
        http.build_get(host_header_for(host, port, 443 if tls else 80), path),
        http.response_complete,
        max_bytes=ssdp.MAX_DESCRIPTION_BYTES,
    )
    try:
        response = parse_response(reply)
    except ProtocolError:
        return []
    if response.protocol != "HTTP" or response.status != 200:
        return []
    return ssdp.parse_device_description(response.body, ip, port)
