"""The default port set and which conversation each port gets (default_ports.yaml, the protocol table's names)."""

from __future__ import annotations

from pathlib import Path

import yaml

from camscan.errors import InputError
from camscan.protocols.spec import StreamSpec
from camscan.registry import ON_OTHER_PORTS, STREAMS_BY_NAME
from camscan.transport.guard import CONNECT_ONLY

PORT_TABLE = Path(__file__).with_name("default_ports.yaml")


def _load_port_table(path: Path) -> tuple[dict[int, str], dict[int, StreamSpec]]:
    """Why each default port is swept, and the conversation each that names one gets."""
    table = yaml.safe_load(path.read_text(encoding="utf-8"))
    reasons: dict[int, str] = {}
    conversations: dict[int, StreamSpec] = {}
    for port, entry in sorted(table.items()):
        if not (isinstance(port, int) and 1 <= port <= 65535 and isinstance(entry, dict)
                and isinstance(entry.get("why"), str) and set(entry) <= {"why", "conversation"}):
            raise ValueError(f"{path.name}: port {port!r} needs a mapping of why and, optionally, conversation")
        reasons[port] = entry["why"]
        if "conversation" in entry:
            if entry["conversation"] not in STREAMS_BY_NAME:
                raise ValueError(f"{path.name}: port {port}: no conversation named {entry['conversation']!r} "
                                 f"(want one of {sorted(STREAMS_BY_NAME)})")
            conversations[port] = STREAMS_BY_NAME[entry["conversation"]]
    return reasons, conversations


# Why each port is swept by default, in port order, and the conversation each gets.
DEFAULT_PORTS, STREAM_BY_PORT = _load_port_table(PORT_TABLE)


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
