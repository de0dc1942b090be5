"""The conversations of the active checks, as sans-IO flows that return findings.

Each flow takes a :class:`RequestBudget` shared by every check of one device and stops
asking once it is spent, so a device never gets more than the budget's requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from urllib.parse import urlsplit

from camscan.checks import DEFAULT_CREDENTIALS, FTP_ANONYMOUS, ONVIF_NO_AUTH, RTSP_NO_AUTH, SNAPSHOT_NO_AUTH
from camscan.model import Finding
from camscan.protocols import Exchange, ProtocolError, ftp, http, http_auth, onvif, rtsp, sdp, upnp_igd
from camscan.protocols.message import parse_response

CheckFlow = Generator[Exchange, bytes, list[Finding]]
SNAPSHOT_LIMIT = 4 * 1024 * 1024  # bytes of one image read to hash it (a camera JPEG is well below)
ANONYMOUS_PASSWORD = "camscan@"
MAX_LOGIN_ATTEMPTS = 3
LOCKOUT_SIGNS = ("locked", "too many")  # RFC 1635: anonymous FTP asks for an e-mail-like password


class RequestBudget:
    """How many more requests the checks may send to one device."""

    def __init__(self, limit: int) -> None:
        self.remaining = limit

    def take(self) -> bool:
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


def _url_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def rtsp_no_auth_flow(ip: str, port: int, paths: list[str], budget: RequestBudget) -> CheckFlow:
    """DESCRIBE each path without credentials until one answers with an SDP (the stream is open).

    401/403 (protected) and 404 (no such stream) move on to the next path.
    """
    for cseq, path in enumerate(paths, start=1):
        if not budget.take():
            break
        url = f"rtsp://{_url_host(ip)}:{port}{path}"
        reply = yield Exchange(rtsp.build_request("DESCRIBE", url, cseq), rtsp.response_complete)
        try:
            response = parse_response(reply)
        except ProtocolError:
            break
        if response.protocol != "RTSP":
            break
        if response.status != 200 or not sdp.is_session_description(response.body):
            continue
        codecs = sdp.parse_codecs(response.body)
        detail = f"RTSP stream {url} plays without a password" + (f" ({', '.join(codecs)})" if codecs else "")
        evidence = (("url", url), ("status", f"{response.status} {response.reason}".strip()), ("codecs", ",".join(codecs)))
        return [Finding(RTSP_NO_AUTH, "high", detail, port, evidence)]
    return []


def snapshot_no_auth_flow(ip: str, port: int, paths: list[str], budget: RequestBudget, tls: bool = False) -> CheckFlow:
    """GET each snapshot URL without credentials until one returns an image.

    Only the content type, size and SHA-256 of the image are kept, never the image.
    """
    default_port = 443 if tls else 80
    host = _url_host(ip) if port == default_port else f"{_url_host(ip)}:{port}"
    scheme = "https" if tls else "http"
    for path in paths:
        if not budget.take():
            break
        reply = yield Exchange(http.build_get(host, path), http.response_complete, max_bytes=SNAPSHOT_LIMIT)
        try:
            response = parse_response(reply)
        except ProtocolError:
            break
        if response.protocol != "HTTP":
            break
        content_type = (response.header("content-type") or "").split(";")[0].strip().lower()
        if response.status != 200 or not content_type.startswith("image/") or not response.body:
            continue
        url = f"{scheme}://{host}{path}"
        declared = response.header("content-length")
        complete = declared is None or (declared.isdigit() and int(declared) == len(response.body))
        size = int(declared) if declared and declared.isdigit() else len(response.body)
        evidence = [("url", url), ("content_type", content_type), ("size", str(size))]
        if complete:
            evidence.append(("sha256", hashlib.sha256(response.body).hexdigest()))
        detail = f"snapshot {url} returns an image without a password ({content_type}, {size} bytes)"
        return [Finding(SNAPSHOT_NO_AUTH, "high", detail, port, tuple(evidence))]
    return []


def ftp_anonymous_flow(ip: str, port: int, budget: RequestBudget) -> CheckFlow:
    """Log in as ``anonymous``; a 230 means anonymous access is granted. QUIT right after."""
    greeting = yield Exchange(b"", ftp.reply_complete, max_bytes=ftp.REPLY_LIMIT)
    try:
        code, _ = ftp.parse_reply(greeting)
    except ProtocolError:
        return []
    if code != 220 or not budget.take():
        return []
    reply = yield Exchange(ftp.build_command("USER", "anonymous"), ftp.reply_complete, max_bytes=ftp.REPLY_LIMIT)
    try:
        code, _ = ftp.parse_reply(reply)
        if code == 331 and budget.take():
            reply = yield Exchange(ftp.build_command("PASS", ANONYMOUS_PASSWORD), ftp.reply_complete,
                                   max_bytes=ftp.REPLY_LIMIT)
            code, _ = ftp.parse_reply(reply)
    except ProtocolError:
        return []
    if code != 230:
        return []
    # Logged in: leave at once (QUIT is the session's last word, not counted as a probe).
    yield Exchange(ftp.build_command("QUIT"), ftp.reply_complete, max_bytes=ftp.REPLY_LIMIT)
    evidence = (("user", "anonymous"), ("reply", str(code)))
    return [Finding(FTP_ANONYMOUS, "medium", f"FTP on port {port} accepts anonymous login", port, evidence)]


def locked_out(response) -> bool:
    text = (response.reason + " " + response.body[:4096].decode("utf-8", "replace")).lower()
    return response.status == 423 or any(sign in text for sign in LOCKOUT_SIGNS)


def default_credentials_flow(ip: str, port: int, path: str, credentials: list[tuple[str, str]],
                             budget: RequestBudget, cnonce: str, tls: bool = False) -> CheckFlow:
    """Try factory logins on a page that asks for one: at most MAX_LOGIN_ATTEMPTS, stopping at
    the first success, the first lockout sign (423, 'locked', 'too many') or any other answer.

    The finding names the account, never the password.
    """
    default_port = 443 if tls else 80
    host = _url_host(ip) if port == default_port else f"{_url_host(ip)}:{port}"
    url = f"{'https' if tls else 'http'}://{host}{path}"
    if not budget.take():
        return []
    reply = yield Exchange(http.build_get(host, path), http.response_complete)
    for attempt, (user, password) in enumerate(credentials[:MAX_LOGIN_ATTEMPTS], start=1):
        try:
            response = parse_response(reply)
            if response.status != 401 or locked_out(response):
                return []
            scheme, params = http_auth.parse_challenge(response.header("www-authenticate") or "")
            answer = http_auth.authorization(scheme, params, "GET", path, user, password, cnonce, attempt)
        except ProtocolError:
            return []
        if not budget.take():
            return []
        login = http.build_get(host, path, answer)
        reply = yield Exchange(login, http.response_complete, credentials=http.credential_spans(login))
        try:
            response = parse_response(reply)
        except ProtocolError:
            return []
        if response.status == 200:
            evidence = (("url", url), ("account", user), ("attempts", str(attempt)))
            detail = f"{url} accepts the factory password of account {user!r}"
            return [Finding(DEFAULT_CREDENTIALS, "critical", detail, port, evidence)]
    return []


def onvif_no_auth_flow(ip: str, port: int, budget: RequestBudget, tls: bool = False) -> CheckFlow:
    """Ask the ONVIF device service where media lives, then for its profiles and a stream URI,
    all without credentials. Profiles given out (no 401, no SOAP fault) = open.

    A media address on another host or port is not followed (it is outside what was asked).
    """
    default_port = 443 if tls else 80
    host = _url_host(ip) if port == default_port else f"{_url_host(ip)}:{port}"

    def soap(path: str, body: str) -> Exchange:
        return Exchange(onvif.build_request(host, path, body), http.response_complete, max_bytes=onvif.MAX_SOAP_BYTES)

    if not budget.take():
        return []
    reply = yield soap(onvif.DEVICE_SERVICE_PATH, onvif.GET_CAPABILITIES)
    try:
        response = parse_response(reply)
        xaddr = onvif.media_xaddr(response.body) if response.status == 200 else None
        if xaddr is None:
            return []
        target = urlsplit(xaddr)
        if target.hostname != ip or (target.port or (443 if target.scheme == "https" else 80)) != port:
            return []
        media_path = target.path or "/"
    except (ProtocolError, ValueError):
        return []
    if not budget.take():
        return []
    reply = yield soap(media_path, onvif.GET_PROFILES)
    try:
        response = parse_response(reply)
        if response.status != 200 or onvif.fault_reason(response.body):
            return []
        tokens = onvif.profile_tokens(response.body)
    except ProtocolError:
        return []
    if not tokens:
        return []
    evidence = [("service", f"{'https' if tls else 'http'}://{host}{media_path}"), ("profiles", str(len(tokens)))]
    if budget.take():
        reply = yield soap(media_path, onvif.get_stream_uri(tokens[0]))
        try:
            response = parse_response(reply)
            uri = onvif.stream_uri(response.body) if response.status == 200 else None
        except ProtocolError:
            uri = None
        if uri:
            evidence.append(("stream_uri", uri))
    detail = f"ONVIF media service on port {port} lists {len(tokens)} profile(s) without a password"
    return [Finding(ONVIF_NO_AUTH, "high", detail, port, tuple(evidence))]


MAX_PORT_MAPPINGS = 16


def igd_port_mappings_flow(ip: str, port: int, location: str, budget: RequestBudget) -> Generator[
        Exchange, bytes, list[dict[str, str]]]:
    """The gateway's port-mapping table: its description, then GetGenericPortMappingEntry from
    index 0 until the end of the table (a fault) or MAX_PORT_MAPPINGS. Only URLs on the
    asked host and port are used."""
    host = _url_host(ip) if port == 80 else f"{_url_host(ip)}:{port}"

    def same_place(url: str) -> str | None:
        target = urlsplit(url)
        if target.scheme != "http" or target.hostname != ip or (target.port or 80) != port:
            return None
        return (target.path or "/") + (f"?{target.query}" if target.query else "")

    path = same_place(location)
    if path is None or not budget.take():
        return []
    reply = yield Exchange(http.build_get(host, path), http.response_complete, max_bytes=upnp_igd.MAX_IGD_BYTES)
    try:
        response = parse_response(reply)
        services = upnp_igd.wan_connection_services(response.body, location) if response.status == 200 else []
    except (ProtocolError, ValueError):
        return []
    mappings: list[dict[str, str]] = []
    for service_type, control_url in services[:1]:
        control = same_place(control_url)
        if control is None:
            return []
        for index in range(MAX_PORT_MAPPINGS):
            if not budget.take():
                break
            reply = yield Exchange(upnp_igd.build_mapping_request(host, control, service_type, index),
                                   http.response_complete, max_bytes=upnp_igd.MAX_IGD_BYTES)
            try:
                mapping = upnp_igd.parse_mapping(parse_response(reply).body)
            except ProtocolError:
                break
            if mapping is None:
                break
            mappings.append(mapping)
    return mappings
