"""Services that speak first on connect (telnet, FTP, SSH): reading their banners."""

from __future__ import annotations

from camscan.model import Observation
from camscan.protocols import Completion

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
BANNER_LIMIT = 512


def _banner_ends(data: bytes) -> bool:
    """A banner is complete at its first line end or a login prompt; bare telnet
    negotiation is complete too, since the server waits for our answer before its prompt."""
    text = strip_telnet(data)
    if not text.strip():
        return bool(telnet_refusals(data))
    return b"\n" in text or text.rstrip().endswith((b":", b">", b"#", b"$"))


banner_complete = Completion.rescanning(_banner_ends)  # a banner is read up to BANNER_LIMIT bytes only


def strip_telnet(data: bytes) -> bytes:
    """The text of a telnet stream, without IAC negotiation sequences."""
    if IAC not in data:
        return data
    out = bytearray()
    index = 0
    while index < len(data):
        byte = data[index]
        if byte != IAC:
            out.append(byte)
            index += 1
            continue
        command = data[index + 1] if index + 1 < len(data) else None
        if command in (DO, DONT, WILL, WONT):
            index += 3
        elif command == SB:
            end = data.find(bytes([IAC, SE]), index + 2)
            index = len(data) if end < 0 else end + 2
        elif command == IAC:
            out.append(IAC)
            index += 2
        else:
            index += 2
    return bytes(out)


def telnet_refusals(data: bytes) -> bytes:
    """Refuse every option the server asks for, so it goes on to its login prompt."""
    replies = bytearray()
    for index in range(len(data) - 2):
        if data[index] == IAC and data[index + 1] in (DO, WILL):
            refusal = WONT if data[index + 1] == DO else DONT
            replies += bytes([IAC, refusal, data[index + 2]])
    return bytes(replies)


def classify(text: str, port: int) -> str:
    """Which protocol a banner belongs to."""
    if text.startswith("SSH-"):
        return "ssh"
    if text[:4] in ("220 ", "220-"):
        return "ftp"
    if port == 21:
        return "ftp"
    return "telnet"


def observations(data: bytes, ip: str, port: int, at: float = 0.0) -> list[Observation]:
    """The banner as an ``ssh.banner``, ``ftp.banner`` or ``telnet.banner`` observation."""
    text = strip_telnet(data)[:BANNER_LIMIT].decode("utf-8", "replace")
    text = "\n".join(line.strip() for line in text.replace("\r", "").split("\n") if line.strip())
    if not text:
        return []
    protocol = classify(text, port)
    value = text.split("\n", 1)[0] if protocol in ("ssh", "ftp") else text
    return [Observation(ip=ip, source="banner", field=f"{protocol}.banner", value=value, port=port, observed_at=at)]
