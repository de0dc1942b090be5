"""RTSP/1.0: OPTIONS and DESCRIBE requests and what their responses reveal."""

from __future__ import annotations

from camscan.model import Observation
from camscan.protocols.http import USER_AGENT
from camscan.protocols.message import Response, message_complete

__all__ = ["build_request", "response_complete", "observations"]


def build_request(method: str, url: str, cseq: int) -> bytes:
    """An RTSP request without credentials (OPTIONS or DESCRIBE)."""
    accept = "Accept: application/sdp\r\n" if method == "DESCRIBE" else ""
    return f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: {USER_AGENT}\r\n{accept}\r\n".encode("latin-1")


def response_complete(data: bytes) -> bool:
    return message_complete(data, unframed_body_runs_to_close=False)


def sdp_session_name(sdp: bytes) -> str | None:
    for line in sdp.decode("utf-8", "replace").splitlines():
        if line.startswith("s="):
            return line[2:].strip() or None
    return None


def observations(response: Response, ip: str, port: int, method: str, at: float = 0.0) -> list[Observation]:
    """What an RTSP response says about the device, as observations."""

    def seen(field: str, value: str) -> Observation:
        return Observation(ip=ip, source="rtsp", field=field, value=value, port=port, observed_at=at)

    found = [seen("rtsp.status", f"{response.status} {method}")]
    if server := response.header("server"):
        found.append(seen("rtsp.server", server))
    found += [seen("rtsp.www_authenticate", value) for value in response.header_values("www-authenticate")]
    if public := response.header("public"):
        found.append(seen("rtsp.public", public))
    if response.status == 200 and (response.header("content-type") or "").startswith("application/sdp"):
        if name := sdp_session_name(response.body):
            found.append(seen("sdp.session_name", name))
    return found
