"""RTSP/1.0: OPTIONS and DESCRIBE requests and what their responses reveal."""

from __future__ import annotations

from camscan.model import Observation
from camscan.protocols import Completion, sdp
from camscan.protocols.http import USER_AGENT
from camscan.protocols.message import MessageReader, Response, overheard_response, request_line, response_observations

__all__ = ["build_request", "response_complete", "observations", "read_server_turn"]


def build_request(method: str, url: str, cseq: int) -> bytes:
    """An RTSP request without credentials (OPTIONS or DESCRIBE)."""
    accept = "Accept: application/sdp\r\n" if method == "DESCRIBE" else ""
    return f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: {USER_AGENT}\r\n{accept}\r\n".encode("latin-1")


response_complete = Completion(lambda: MessageReader(unframed_body_runs_to_close=False))


def observations(response: Response, ip: str, port: int, method: str, at: float = 0.0) -> list[Observation]:
    """What an RTSP response says about the device, as observations."""
    is_sdp = response.status == 200 and (response.header("content-type") or "").startswith("application/sdp")
    extra = {"public": response.header("public"), **(sdp.session_fields(response.body) if is_sdp else {})}
    return response_observations(response, ip, port, method, extra, at)


def read_server_turn(ip: str, port: int, request: bytes, reply: bytes, at: float) -> tuple[list[Observation], str | None] | None:
    """An overheard RTSP response (passive analysis), filed under its request's method (OPTIONS if unseen)."""
    method = request_line(request)[0] or "OPTIONS"
    return overheard_response(reply, "RTSP", lambda response: observations(response, ip, port, method, at))
