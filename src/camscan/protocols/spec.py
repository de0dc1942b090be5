"""What a protocol module declares about itself, for the one table in :mod:`camscan.registry`.

A discovery (UDP) protocol's module holds a :class:`DiscoverySpec`: its port and multicast
group, how to build its requests, the sans-IO parser of its replies (the live scan, a pcap
replay and passive analysis all call it) and the observation fields that identify a device
(a MAC, a serial number). Nothing here sends or reads a clock.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from camscan.model import Observation

# (datagram, sender address, sender port, time) -> observations; ProtocolError for bytes that are
# no reply or announcement (a request a passive listener hears says nothing of the device).
DatagramParser = Callable[[bytes, str, int, float], list[Observation]]
# The requests of one scan, built from the scan's random source (fresh message ids, so replies match them).
RequestBuilder = Callable[[random.Random], tuple[bytes, ...]]


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

    @property
    def ports(self) -> tuple[int, ...]:
        """The UDP ports its traffic uses: its own and the one replies come back to."""
        return (self.port,) if self.reply_port is None else (self.port, self.reply_port)
