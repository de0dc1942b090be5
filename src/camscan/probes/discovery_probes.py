"""The UDP discovery probes camscan sends, and how each reply is read.

One :class:`~camscan.protocols.spec.DiscoveryProbe` per protocol of :data:`camscan.registry.DISCOVERY` that sends
requests names its port, its multicast group (none for SNMP, the XMEye search and Bosch
discovery, which camscan sends to each live host only), the requests to send (built once
per scan, so replies can be matched to them) and the sans-IO parser for what comes back.
The live transport sends and listens; a pcap replay or passive analysis feeds the same parsers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from camscan.protocols import mdns
from camscan.protocols.spec import DiscoveryProbe
from camscan.registry import DISCOVERY


def discovery_probes(seed: int | None = None, without: Iterable[str] = ()) -> list[DiscoveryProbe]:
    """The probes of one scan, with fresh message ids: every protocol of the registry that sends
    requests, but those named in ``without`` (optional ones: the scan's ``--no-snmp``)."""
    rng = random.Random(seed)
    left_out = set(without)
    return [
        DiscoveryProbe(spec.name, spec.port, spec.group, spec.requests(rng), spec.parse,
                       listens_on_port=spec.listens_on_port, reply_port=spec.reply_port)
        for spec in DISCOVERY
        if spec.requests is not None and not (spec.optional and spec.name in left_out)
    ]


def mdns_query_probe(service_types: tuple[str, ...] = (mdns.SERVICE_ENUMERATION, *mdns.BROWSED_TYPES)) -> DiscoveryProbe:
    """DNS-SD questions asked of one host directly, for links where camscan may not multicast.

    RFC 6762 §5.5 lets a querier send a unicast query straight to a host's UDP 5353, and
    §6.7 has the responder answer a query from a source port other than 5353 (a one-shot,
    "legacy" querier) by unicast to that address and port, repeating the question and its
    ID: the probe's socket is ephemeral, so the answer comes back to it alone.
    """
    return DiscoveryProbe("mdns", mdns.PORT, mdns.MULTICAST_GROUP, (mdns.build_query(service_types),), mdns.parse_packet)
