"""SDP (RFC 8866) session descriptions, as returned by an RTSP DESCRIBE: what names the session and
the software that wrote it, and which codecs a stream carries."""

from __future__ import annotations

import re

from camscan.protocols import ProtocolError

SDP_LIMIT = 65536
# RFC 8866 section 6.6: a=rtpmap:<payload type> <encoding name>/<clock rate>[/<parameters>]
_RTPMAP = re.compile(r"^a=rtpmap:\s*(\d{1,3})\s+([A-Za-z0-9._+-]{1,32})/(\d{1,9})(?:/\d{1,3})?\s*$")
# RFC 3551 static payload types a stream may use without an rtpmap line.
STATIC_PAYLOADS = {"0": "PCMU", "8": "PCMA", "14": "MPA", "26": "JPEG", "32": "MPV", "33": "MP2T"}


def is_session_description(body: bytes) -> bool:
    """Whether ``body`` is an SDP session description (RFC 8866: it starts with ``v=0``)."""
    return body.lstrip()[:3] == b"v=0"


def session_fields(body: bytes) -> dict[str, str]:
    """The session name (``s=``) and the session-level ``a=tool:`` attribute (RFC 8866 section 6.3:
    the tool that created the description, e.g. ``LIVE555 Streaming Media v2020.08.19``), as
    ``sdp.session_name`` and ``sdp.tool``, and the kinds of media its streams carry (the first
    word of each ``m=`` line, RFC 8866 section 5.14: ``video audio``) as ``sdp.media``; a field
    the description lacks is left out."""
    found: dict[str, str] = {}
    media: list[str] = []
    for line in body[:SDP_LIMIT].decode("utf-8", "replace").replace("\r", "").split("\n"):
        if line.startswith("m="):
            media += line[2:].split()[:1]
        elif media:
            continue  # media-level lines describe one stream, not the session
        elif line.startswith("s=") and "sdp.session_name" not in found:
            found["sdp.session_name"] = line[2:].strip()
        elif line.startswith("a=tool:") and "sdp.tool" not in found:
            found["sdp.tool"] = line[7:].strip()
    found["sdp.media"] = " ".join(dict.fromkeys(media))
    return {field: value for field, value in found.items() if value}


def parse_codecs(body: bytes) -> list[str]:
    """The codecs the media of an SDP carry (``H264/90000``, ``PCMA/8000``), in order, without repeats.

    Raises ProtocolError if ``body`` is not an SDP session description.
    """
    if not is_session_description(body):
        raise ProtocolError(f"not an SDP session description: {body[:40]!r}")
    codecs: list[str] = []
    formats: list[str] = []
    mapped: set[str] = set()
    for line in body[:SDP_LIMIT].decode("utf-8", "replace").replace("\r", "").split("\n"):
        if line.startswith("m="):
            # m=<media> <port> <proto> <fmt> ...
            formats += line.split()[3:]
        elif match := _RTPMAP.match(line):
            payload, name, rate = match.groups()
            mapped.add(payload)
            codecs.append(f"{name}/{rate}")
    codecs += [STATIC_PAYLOADS[fmt] for fmt in formats if fmt in STATIC_PAYLOADS and fmt not in mapped]
    return list(dict.fromkeys(codecs))
