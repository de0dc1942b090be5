"""What a protocol declares about itself, for the one table in :mod:`camscan.registry`.

A discovery (UDP) protocol's module holds a :class:`DiscoverySpec`: its port and multicast
group, how to build its requests, the sans-IO parser of its replies (the live scan, a pcap
replay and passive analysis all call it) and the observation fields that identify a device
(a MAC, a serial number). A conversation on an open TCP port is a :class:`StreamSpec`: the
conversation's sans-IO flow, what proves the service spoke it, and how passive
analysis reads the server's side of a conversation it overheard. Nothing here sends or reads a clock.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from camscan.model import Observation
from camscan.protocols import Flow

# (datagram, sender address, sender port, time) -> observations; ProtocolError for bytes that are
# no reply or announcement (a request a passive listener hears says nothing of the device).
DatagramParser = Callable[[bytes, str, int, float], list[Observation]]
# The requests of one scan, built from the scan's random source (fresh message ids, so replies match them).
RequestBuilder = Callable[[random.Random], tuple[bytes, ...]]
# (address, port) -> the conversation a transport drives with that service.
FlowBuilder = Callable[[str, int], Flow]
# (server address, server port, the request it answered, its reply, time) -> (observations, the
# service's protocol if the reply proves one), or None when the reply is not this protocol's.
ServerTurnReader = Callable[[str, int, bytes, bytes, float], "tuple[list[Observation], str | None] | None"]


def declared_values(path: Path, key: str, said: str) -> tuple[str, ...]:
    """The ``key`` of each entry of a packaged YAML list, every entry also saying ``said`` (why it is there)."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get(key), str) and isinstance(entry.get(said), str)
            for entry in entries):
        raise ValueError(f"{path.name}: want a list of mappings, each with {key} and {said}")
    return tuple(entry[key] for entry in entries)


def fresh_uuid(rng: random.Random) -> str:
    """A version 4 UUID drawn from ``rng`` (a seeded scan sends the same message ids)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True)
class DiscoverySpec:
    """A UDP discovery protocol: where its requests go, how its replies read, what identifies a device."""

    name: str  # the observations' source and field prefix: "sadp" -> sadp.serial
    title: str  # as a person names it: "SADP", "WS-Discovery"
    port: int
    parse: DatagramParser
    group: str | None = None  # multicast group; None: sent to each live host only
    # None: camscan sends no request of this table's kind (mDNS asks through its own browser)
    requests: RequestBuilder | None = None
    # Where multicast is allowed, listen on the protocol's own port: replies some devices send
    # to the group or the broadcast address arrive there. An SNMP agent answers the asker's port.
    listens_on_port: bool = True
    # Devices answer to this port whoever asks (Bosch: 1758): the socket always binds it.
    reply_port: int | None = None
    # A scan may leave this protocol out by its own option (--no-snmp).
    optional: bool = False
    # Fields carrying the MAC a device reports of itself, most trusted first, and its serial number.
    mac_fields: tuple[str, ...] = ()
    serial_fields: tuple[str, ...] = ()
    # Fields whose whole value names a company, and free text the device writes about itself
    # (camscan.fingerprint.resolvers reads maker names and model numbers in both).
    name_fields: tuple[str, ...] = ()
    text_fields: tuple[str, ...] = ()
    # Only video devices answer it: a short or common-word brand name in its fields needs no other context.
    video_only: bool = False

    @property
    def ports(self) -> tuple[int, ...]:
        """The UDP ports its traffic uses: its own and the one replies come back to."""
        return (self.port,) if self.reply_port is None else (self.port, self.reply_port)


@dataclass(frozen=True)
class DiscoveryProbe:
    """One discovery protocol as one scan sends it (built from its :class:`DiscoverySpec` by
    :func:`camscan.probes.discovery_probes.discovery_probes`): where its requests go, the
    requests themselves, and how its replies are parsed. Transports carry it without knowing
    the probes that build it."""

    name: str
    port: int
    group: str | None
    requests: tuple[bytes, ...]
    parse: DatagramParser
    # Where multicast is allowed, listen on the protocol's own port: replies some devices send
    # to the group or the broadcast address arrive there. An SNMP agent answers the asker's port.
    listens_on_port: bool = True
    # Devices answer to this port whoever asks (Bosch: 1758): the socket always binds it.
    reply_port: int | None = None


@dataclass(frozen=True)
class StreamSpec:
    """A conversation with an open TCP port: how it goes, what it proves (the ports it gets are data:
    camscan/probes/default_ports.yaml)."""

    name: str  # "http", "rtsp", "banner" (notices name a conversation cut short by it)
    flow: FlowBuilder
    # The service's protocol the conversation's observations prove ("http", "ftp" ...), None if they prove none.
    proves: Callable[[list[Observation]], str | None]
    tls: bool = False
    # Tried (in the table's order) on a port no conversation claims.
    on_other_ports: bool = False
    # The fields summarising what the service said, in the order a summary shows them.
    summary_fields: tuple[str, ...] = ()
    # How passive analysis reads the server's turn of an overheard conversation (None: it cannot).
    read_server_turn: ServerTurnReader | None = None

    def summary(self, found: list[Observation]) -> str:
        """A one-line account of what the service said, for tables and exports."""
        parts = []
        for name in self.summary_fields:
            value = next((seen.value for seen in found if seen.field == name), None)
            if value:
                label = name.split(".")[-1] if name.endswith("banner") else name
                parts.append(f"{label}: {value.splitlines()[0][:80]}")
        return "; ".join(parts)


def proved_by(field: str, protocol: str) -> Callable[[list[Observation]], str | None]:
    """``protocol`` when the observations hold ``field`` (an HTTP status proves HTTP was spoken)."""
    return lambda found: protocol if any(seen.field == field for seen in found) else None
