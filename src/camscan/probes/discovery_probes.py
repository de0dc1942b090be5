"""The UDP discovery probes camscan sends, and how each reply is read.

One :class:`DiscoveryProbe` per protocol names its port, its multicast group (none for
SNMP, the XMEye search and Bosch discovery, which camscan sends to each live host only),
the requests to send (built once per scan, so replies can be matched to them) and the
sans-IO parser for what comes back. The live transport sends and listens; a pcap
replay or passive analysis feeds the same parsers.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from camscan.model import Observation
from camscan.protocols import bosch, dhip, mdns, sadp, snmp, ssdp, ubnt, wsd, xmeye

Parser = Callable[[bytes, str, int, float], list[Observation]]

# ONVIF Core §7.3.1: legacy cameras answer only NetworkVideoTransmitter, current ones
# tds:Device; one type per probe because a target must match every listed type.
WSD_PROBE_TYPES = ("dn:NetworkVideoTransmitter", "tds:Device")
# Seconds devices may spread their M-SEARCH answers over (UDA 1.1 §1.3.2).
SSDP_MX = 1


@dataclass(frozen=True)
class DiscoveryProbe:
    """One discovery protocol: where its requests go and how its replies are parsed."""

    name: str
    port: int
    group: str | None
    requests: tuple[bytes, ...]
    parse: Parser
    # Where multicast is allowed, listen on the protocol's own port: replies some devices send
    # to the group or the broadcast address arrive there. An SNMP agent answers the asker's port.
    listens_on_port: bool = True
    # Devices answer to this port whoever asks (Bosch: 1758): the socket always binds it.
    reply_port: int | None = None


def discovery_probes(seed: int | None = None, snmp_get: bool = True) -> list[DiscoveryProbe]:
    """The probes of one scan, with fresh message ids: WS-Discovery, SADP, DHIP, SSDP, Ubiquiti
    discovery, the XMEye search, Bosch discovery and, with ``snmp_get``, an SNMPv2c GET of the system group with
    community ``public`` (SNMP answers the asker's port: no need to listen on 161)."""
    rng = random.Random(seed)
    fresh_uuid = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731
    probes = [
        DiscoveryProbe(
            "wsd", wsd.PORT, wsd.MULTICAST_GROUP,
            tuple(wsd.build_probe(types, f"uuid:{fresh_uuid()}") for types in WSD_PROBE_TYPES), wsd.parse_probe_matches,
        ),
        DiscoveryProbe("sadp", sadp.PORT, sadp.MULTICAST_GROUP, (sadp.build_inquiry(fresh_uuid()),), sadp.parse_probe_match),
        DiscoveryProbe("dhip", dhip.PORT, dhip.MULTICAST_GROUP, (dhip.build_search(rng.getrandbits(31)),), dhip.parse_reply),
        DiscoveryProbe("ssdp", ssdp.PORT, ssdp.MULTICAST_GROUP, (ssdp.build_msearch("ssdp:all", SSDP_MX),), ssdp.parse_ssdp),
        DiscoveryProbe("ubnt", ubnt.PORT, ubnt.MULTICAST_GROUP, (ubnt.build_request(),), ubnt.parse_reply),
        DiscoveryProbe("xmeye", xmeye.PORT, None, (xmeye.build_search(),), xmeye.parse_reply),
        DiscoveryProbe("bosch", bosch.PORT, None, (bosch.build_scan(rng.getrandbits(32)),), bosch.parse_reply,
                       reply_port=bosch.REPLY_PORT),
    ]
    if snmp_get:
        request = snmp.build_get(snmp.PUBLIC, snmp.SYSTEM_OIDS, rng.getrandbits(31))
        probes.append(DiscoveryProbe("snmp", snmp.PORT, None, (request,), snmp.parse_response, listens_on_port=False))
    return probes


def mdns_query_probe(service_types: tuple[str, ...] = (mdns.SERVICE_ENUMERATION, *mdns.BROWSED_TYPES)) -> DiscoveryProbe:
    """DNS-SD questions asked of one host directly, for links where camscan may not multicast.

    RFC 6762 §5.5 lets a querier send a unicast query straight to a host's UDP 5353, and
    §6.7 has the responder answer a query from a source port other than 5353 (a one-shot,
    "legacy" querier) by unicast to that address and port, repeating the question and its
    ID: the probe's socket is ephemeral, so the answer comes back to it alone.
    """
    return DiscoveryProbe("mdns", mdns.PORT, mdns.MULTICAST_GROUP, (mdns.build_query(service_types),), mdns.parse_packet)
