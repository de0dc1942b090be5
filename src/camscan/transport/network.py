"""The network a scan runs on: the live one, or a recording of it (see :mod:`camscan.transport.replay`).

A scan asks its network for everything that depends on where it runs: which targets ARP
can reach, which links may carry multicast, the transport for TCP conversations, the
discovery sockets and mDNS browsing. The probing core above is the same either way.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from camscan.model import Observation
from camscan.protocols.spec import DiscoveryProbe
from camscan.scope import Scope
from camscan.transport import Pacer, raw_frames_allowed
from camscan.transport import mdns as mdns_transport
from camscan.transport.discovery_sockets import Datagram, DiscoverySockets, multicast_links
from camscan.transport.linklisten import Frame, LinkListener, echo_all_nodes
from camscan.transport.live import LiveTransport, on_link_interface
from camscan.transport.neighbours import REREAD_SECONDS, KernelNeighbours, ipv6_neighbours
from camscan.transport.record import Recorder


class LiveNetwork:
    """The machine's own interfaces; with ``record`` set, every frame the scan exchanges is saved."""

    # A live host may stall on a port for as long as the timeout: the scan stores what it said so far.
    answers_at_once = False

    def __init__(self, record: str | Path | None = None, scan_options: dict | None = None,
                 record_credentials: bool = False) -> None:
        """``scan_options`` go into the recording, for its replays; credentials are kept out of
        it unless ``record_credentials``."""
        self.record = record
        self.scan_options = scan_options
        self.record_credentials = record_credentials
        self.recorder: Recorder | None = None
        self._neighbours: KernelNeighbours | None = None  # set by plan() when the scan cannot ARP

    def plan(self, hosts: list[str], interface: str | None) -> tuple[dict[str, list[str]], list[str], list[str]]:
        """(on-link targets by interface, routed targets, notices)."""
        by_interface: dict[str, list[str]] = {}
        routed: list[str] = []
        can_arp = raw_frames_allowed()
        for ip in hosts:
            link = on_link_interface(ip, interface) if can_arp else None
            (by_interface.setdefault(link, []) if link else routed).append(ip)
        self._neighbours = None if can_arp else KernelNeighbours()
        notices = [] if can_arp else ["no raw-socket permission (root or CAP_NET_RAW): no ARP sweep; every address "
                                      "gets a TCP sweep, and on-link hosts' MAC addresses come from the kernel's ARP table"]
        return by_interface, routed, notices

    def neighbour_mac(self, ip: str, max_age: float = REREAD_SECONDS) -> Observation | None:
        """A host's MAC from the kernel's ARP table, where the scan had no ARP sweep of its own
        (read again for an address it lacks once the copy is ``max_age`` seconds old)."""
        return self._neighbours.mac_observation(ip, max_age) if self._neighbours else None

    def multicast_links(self, scope: Scope, interface: str | None) -> dict[str, ipaddress.IPv4Interface]:
        return multicast_links(scope, interface)

    def transport(self, scope: Scope, rate: float, concurrency: int, timeout: float) -> LiveTransport:
        keylog = self.recorder.keylog_path if self.recorder else None
        conceal = self.recorder.conceal if self.recorder and not self.record_credentials else None
        return LiveTransport(scope, rate, concurrency, timeout, keylog=keylog, conceal=conceal)

    def discovery_sockets(
        self, scope: Scope, pacer: Pacer, probes: list[DiscoveryProbe], links: dict, on_datagram: Datagram,
        unicast_probes: Sequence[DiscoveryProbe] = (),
    ) -> DiscoverySockets:
        conceal = self.recorder.conceal_datagrams if self.recorder and not self.record_credentials else None
        return DiscoverySockets(scope, pacer, probes, links, on_datagram, unicast_probes, conceal)

    def link_listener(self, links: dict, bpf: str, on_frame: Frame) -> LinkListener:
        """Frames other hosts send on the multicast links (``bpf`` chooses which), while discovery runs."""
        return LinkListener(links, bpf, on_frame)

    async def echo_all_nodes(self, scope: Scope, links: dict, pacer: Pacer, payload: bytes) -> None:
        """An ICMPv6 Echo Request to ff02::1 on each multicast link (needs raw-socket permission)."""
        if raw_frames_allowed():
            await echo_all_nodes(scope, links, pacer, payload)

    def ipv6_neighbours(self, interface: str) -> list[tuple[ipaddress.IPv6Address, str]]:
        """The kernel's IPv6 neighbour cache of one link: ``(address, MAC)`` pairs."""
        return ipv6_neighbours(interface)

    async def browse_mdns(
        self, scope: Scope, links: dict, wait: float, on_observations: Callable[[str, list[Observation]], None]
    ) -> list[str]:
        return await mdns_transport.browse(scope, [str(link.ip) for link in links.values()], wait, on_observations)

    def start_recording(self, scope: Scope, by_interface: dict[str, list[str]], routed: list[str], links: dict) -> None:
        """Start capturing on every interface the scan will use (before the first packet leaves)."""
        if not self.record:
            return
        import scapy.route  # noqa: F401  (importing it fills conf.route with the routing table)
        from scapy.config import conf

        interfaces = set(by_interface) | set(links)
        # Routed targets leave by their route's interface; one lookup per address block is enough.
        for block in {ipaddress.ip_network(f"{ip}/24", strict=False) for ip in routed if ":" not in ip}:
            route_interface = conf.route.route(str(block.network_address + 1))[0]
            interfaces.add(getattr(route_interface, "name", route_interface))
        # The links multicast goes out on, so that a replay multicasts only where the scope holds them whole.
        options = {**(self.scan_options or {}), "multicast_links": [str(link) for link in links.values()]}
        self.recorder = Recorder(self.record, sorted(interfaces), scope.blocks(), scan_options=options)
        self.recorder.start()

    def stopped_listening(self) -> None:
        """Discovery has closed its sockets: a recording keeps no UDP that arrives later, which
        the scan never read, so a replay of it hears exactly what the scan heard."""
        if self.recorder:
            self.recorder.keep_udp_until(time.time())

    def stop_recording(self) -> None:
        if self.recorder:
            self.recorder.stop()
