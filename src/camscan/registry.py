"""The one table of the protocols camscan speaks; the scanner, passive analysis, replay,
correlation and the CLI read it rather than lists of their own.

Each protocol's own module declares what it is (``SPEC``: see :mod:`camscan.protocols.spec`);
adding a protocol is its module, its signatures, its lab responder and one line here.
"""

from __future__ import annotations

from camscan.probes import flows
from camscan.protocols import bosch, dhip, gvcp, mdns, sadp, snmp, ssdp, ubnt, wsd, xmeye
from camscan.protocols.spec import DiscoverySpec, StreamSpec

# UDP discovery, in the order a scan sends it (a seeded scan draws its message ids in this order).
DISCOVERY: tuple[DiscoverySpec, ...] = (
    wsd.SPEC, sadp.SPEC, dhip.SPEC, ssdp.SPEC, ubnt.SPEC, xmeye.SPEC, bosch.SPEC, snmp.SPEC, gvcp.SPEC, mdns.SPEC,
)

# Conversations with open TCP ports (the ports each gets: probes/default_ports.yaml); a port no
# conversation claims gets those tried on other ports, in this order, until one is answered.
STREAMS: tuple[StreamSpec, ...] = (flows.BANNER, flows.HTTP, flows.HTTPS, flows.RTSP)
STREAMS_BY_NAME: dict[str, StreamSpec] = {spec.name: spec for spec in STREAMS}
ON_OTHER_PORTS: tuple[StreamSpec, ...] = tuple(spec for spec in STREAMS if spec.on_other_ports)

# Each discovery port (requests' and replies') and the protocol whose traffic it carries.
DISCOVERY_BY_PORT: dict[int, DiscoverySpec] = {port: spec for spec in DISCOVERY for port in spec.ports}


def discovery_protocol_of(sport: int, dport: int) -> DiscoverySpec | None:
    """The discovery protocol of a datagram between these ports (its source port first: a reply)."""
    return DISCOVERY_BY_PORT.get(sport) or DISCOVERY_BY_PORT.get(dport)


def discovery_mac_fields() -> tuple[str, ...]:
    """The fields in which devices report their own MAC, in the table's order."""
    return tuple(field for spec in DISCOVERY for field in spec.mac_fields)


def discovery_serial_fields() -> tuple[str, ...]:
    """The fields in which devices report their serial number."""
    return tuple(field for spec in DISCOVERY for field in spec.serial_fields)


def discovery_name_fields() -> frozenset[str]:
    """The fields in which devices name their maker, whole."""
    return frozenset(field for spec in DISCOVERY for field in spec.name_fields)


def discovery_text_fields() -> frozenset[str]:
    """The free text devices write about themselves in discovery replies."""
    return frozenset(field for spec in DISCOVERY for field in spec.text_fields)


def video_only_prefixes() -> tuple[str, ...]:
    """The field prefixes of discovery protocols only video devices answer ("sadp." ...)."""
    return tuple(f"{spec.name}." for spec in DISCOVERY if spec.video_only)


def discovery_titles(include_optional: bool = True) -> list[str]:
    """The discovery protocols as a person names them ("WS-Discovery", "SADP" ...), in the table's order."""
    return [spec.title for spec in DISCOVERY if include_optional or not spec.optional]
