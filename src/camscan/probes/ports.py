"""The default port set and which conversations each port gets (from the protocol table)."""

from __future__ import annotations

from camscan.errors import InputError
from camscan.protocols.spec import StreamSpec
from camscan.registry import ON_OTHER_PORTS, STREAM_BY_PORT, STREAMS
from camscan.transport.guard import CONNECT_ONLY

# Ports swept by default that get no conversation (transport.guard.CONNECT_ONLY: data sent
# there does harm or nothing), and why they are swept; the others' reasons are the protocol
# table's (camscan.registry.STREAMS).
CONNECT_ONLY_PORTS: dict[int, str] = {
    445: "SMB: PCs and NAS boxes (connect only; tells non-cameras apart)",
    9100: "JetDirect: printers (connect only: data sent here gets printed)",
    34567: "Xiongmai/XMEye DVR media and management port (binary)",
    37777: "Dahua SDK port (binary) of Dahua cameras and recorders",
}
# Why each port is swept by default (README.md lists the same table), in port order.
DEFAULT_PORTS: dict[int, str] = dict(sorted(
    {**{port: reason for spec in STREAMS for port, reason in spec.ports.items()}, **CONNECT_ONLY_PORTS}.items()))


def parse_ports(text: str) -> list[int]:
    """A port list such as ``80,443,8000-8010``; ``default`` (or empty) is the default set."""
    if text.strip() in ("", "default"):
        return sorted(DEFAULT_PORTS)
    ports: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "default":
            ports.update(DEFAULT_PORTS)
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise InputError(f"{part!r} is not a port or port range (e.g. 80,443,8000-8100)") from None
        if not (1 <= first <= last <= 65535):
            raise InputError(f"{part!r} is outside 1-65535")
        ports.update(range(first, last + 1))
    return sorted(ports)


def streams_for(port: int) -> tuple[StreamSpec, ...]:
    """The conversations to try on an open port, in order; none on a connect-only port."""
    if port in CONNECT_ONLY:
        return ()
    spec = STREAM_BY_PORT.get(port)
    return (spec,) if spec else ON_OTHER_PORTS
