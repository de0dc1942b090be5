"""The interface of a network a scan runs on, which the live network and a recording's replay both implement.

The probing core (scanner, discovery, checks, channel inventories) is written against these
protocols alone, so it runs unchanged on either network (:mod:`camscan.transport.network`,
:mod:`camscan.transport.replay`). ``links`` maps each multicast link's name to its address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from camscan.model import Observation
    from camscan.protocols import Conversation, FlowReturn
    from camscan.protocols.spec import DiscoveryProbe
    from camscan.scope import Scope
    from camscan.transport import Pacer
    from camscan.transport.discovery_sockets import Datagram
    from camscan.transport.linklisten import Frame
    from camscan.transport.live import FlowResult
    from camscan.transport.synsweep import SweepReport


class Transport(Protocol):
    """TCP conversations and the ARP sweep; every send passes the scope guard and the pacer."""

    @property
    def pacer(self) -> Pacer:
        """The token bucket every sender of the scan shares."""

    async def open_ports(self, ip: str, ports: list[int]) -> list[int]:
        """The ports of ``ip`` that accept a TCP connection."""

    def stateless_targets(self, hosts: list[str]) -> list[str]:
        """Which of ``hosts`` :meth:`syn_sweep` can sweep (none where there are no raw sockets)."""

    async def syn_sweep(
        self, hosts: list[str], ports: list[int], on_answer: Callable[[str, int, bool], None]
    ) -> SweepReport:
        """A stateless SYN sweep of ``hosts``' ports at the scan's rate; ``on_answer(ip, port, open)``
        hears each port that answers, once."""

    async def run_flow(
        self, ip: str, port: int, flow: Conversation[FlowReturn], tls: bool = False
    ) -> FlowResult[FlowReturn]:
        """Drive a sans-IO flow over a conversation with ip:port."""

    async def arp_sweep(
        self, interface: str, targets: Iterable[str], on_reply: Callable[[Observation], None], wait: float,
        rate: float,
    ) -> None:
        """Ask every target on ``interface`` for its MAC, ``rate`` requests per second, each
        given ``wait`` seconds to answer; ``on_reply`` hears each in-scope reply."""


class DiscoveryChannel(Protocol):
    """One scan's discovery probes out, and their in-scope replies to the ``on_datagram`` it was made with."""

    @property
    def notices(self) -> list[str]:
        """What the user should know about the discovery (a port it could not bind)."""

    @property
    def dropped_out_of_scope(self) -> int:
        """Replies from addresses outside scope, counted and dropped."""

    def open(self) -> None:
        """Start listening."""

    async def send_multicast(self) -> None:
        """Every probe that has a group, on each multicast link."""

    async def send_unicast(self, ip: str) -> None:
        """Every probe straight to one host."""

    async def send_secret(self, name: str, ip: str, payload: bytes, blank: Callable[[bytes], bytes]) -> None:
        """One request of probe ``name`` that carries a secret (a recording keeps its datagrams as ``blank`` gives them)."""

    async def send_request(self, ip: str, probe: DiscoveryProbe, request: bytes) -> None:
        """One more request of ``probe`` to one host."""

    def close(self) -> None:
        """Stop listening."""


class FrameListener(Protocol):
    """Raw frames other hosts send on the multicast links, while discovery runs."""

    @property
    def notices(self) -> list[str]:
        """What the user should know about the listening (no permission to hear raw frames)."""

    def open(self) -> None:
        """Start listening."""

    def close(self) -> None:
        """Stop listening."""


class Network(Protocol):
    """Everything a scan asks of the network it runs on."""

    # Whether every host answers at once (a recording): then a host's findings are stored once, when it is done.
    answers_at_once: bool

    def plan(self, hosts: list[str], interface: str | None) -> tuple[dict[str, list[str]], list[str], list[str]]:
        """(on-link targets by interface, routed targets, notices)."""

    def neighbour_mac(self, ip: str, max_age: float = ...) -> Observation | None:
        """A host's MAC from the kernel's ARP table, where the scan had no ARP sweep of its own."""

    def multicast_links(self, scope: Scope, interface: str | None) -> dict[str, Any]:
        """The links discovery may multicast on."""

    def transport(self, scope: Scope, rate: float, concurrency: int, timeout: float) -> Transport:
        """The transport of the scan's TCP conversations and ARP sweep."""

    def discovery_sockets(
        self, scope: Scope, pacer: Pacer, probes: list[DiscoveryProbe], links: dict[str, Any], on_datagram: Datagram,
        unicast_probes: Sequence[DiscoveryProbe] = (),
    ) -> DiscoveryChannel:
        """The discovery probes' sockets (``unicast_probes`` go only to hosts on no multicast link)."""

    def link_listener(self, links: dict[str, Any], bpf: str, on_frame: Frame) -> FrameListener:
        """A listener for the frames ``bpf`` chooses on the multicast links."""

    async def echo_all_nodes(self, scope: Scope, links: dict[str, Any], pacer: Pacer, payload: bytes) -> None:
        """An ICMPv6 Echo Request to the all-nodes group on each multicast link."""

    def ipv6_neighbours(self, interface: str) -> list[tuple[ipaddress.IPv6Address, str]]:
        """``(address, MAC)`` of each IPv6 neighbour known on ``interface``."""

    async def browse_mdns(
        self, scope: Scope, links: dict[str, Any], wait: float,
        on_observations: Callable[[str, list[Observation]], None],
    ) -> list[str]:
        """mDNS answers on the links, each address's to ``on_observations``; the notices."""

    def start_recording(
        self, scope: Scope, by_interface: dict[str, list[str]], routed: list[str], links: dict[str, Any]
    ) -> None:
        """Start recording, when the network records, before the first packet leaves."""

    def stopped_listening(self) -> None:
        """Discovery has closed its sockets."""

    def stop_recording(self) -> None:
        """Stop recording, when the network records."""
