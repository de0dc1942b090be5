"""Passive identification: an inventory from traffic others generated, read from a capture or sniffed live.

Nothing here sends a packet. Evidence is kept under the address of the host that said it
(the sender of an ARP reply, of a discovery reply or announcement, of a DHCP request, the
server of a TCP conversation). Every observation's ``source`` is prefixed ``passive-``
(``passive-http``, ``passive-wsd``, ``passive-arp`` ...) and the scan is stored with the
parameter ``{"mode": "passive"}``, so an export tells passive evidence from probed evidence.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import select
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from camscan import correlate
from camscan.capture.reader import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    ArpFrame,
    CaptureProblem,
    Datagram,
    Record,
    TcpConversation,
    TrafficAssembler,
    iter_capture,
)
from camscan.fingerprint.identify import Identifier
from camscan.model import Device, Observation, Service, canonical_mac
from camscan.protocols import ProtocolError, arp, dhcp
from camscan.protocols.message import request_line, split_messages
from camscan.registry import STREAMS, discovery_protocol_of
from camscan.store import Store
from camscan.transport.record import open_listener, queued_frames

SOURCE_PREFIX = "passive-"
# How the server's side of an overheard TCP conversation is read (HTTP, RTSP, a TLS certificate).
SERVER_TURN_READERS = tuple(spec.read_server_turn for spec in STREAMS if spec.read_server_turn)

def _is_unicast(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (address.is_multicast or address.is_unspecified or str(address) == "255.255.255.255")


def _arp_request_sender(record: ArpFrame) -> Observation | None:
    """The sender of an Ethernet/IPv4 ARP request (RFC 826: its sender fields are valid in any ARP packet)."""
    try:
        opcode, seen = arp.parse_frame(record.frame, SOURCE_PREFIX + "arp", record.ts)
    except ProtocolError:
        return None
    if opcode != arp.REQUEST or not _is_unicast(seen.ip) or canonical_mac(seen.value) is None:
        return None
    return seen


@dataclass
class PassiveInventory:
    """Evidence collected so far, by responder address."""

    # per address, each distinct fact once (the first time it was seen), whatever the capture's size
    observations: dict[str, dict[tuple, Observation]] = field(default_factory=dict)
    services: dict[str, dict[int, Service]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    packets_seen: int = 0
    # MACs from ARP requests' sender fields: added to a host that answered something, but
    # asking is no answer, so they make no device of their own (the probing host asks most).
    arp_senders: dict[str, Observation] = field(default_factory=dict)

    def _add(self, found: Iterable[Observation]) -> None:
        for seen in found:
            if not _is_unicast(seen.ip):
                continue
            held = self.observations.setdefault(seen.ip, {})
            fact = (seen.source, seen.field, seen.value, seen.port, seen.transport)
            if fact not in held:
                held[fact] = dataclasses.replace(seen, source=SOURCE_PREFIX + seen.source)

    def add(self, record: Record) -> None:
        """Take one record of the capture reader."""
        if isinstance(record, ArpFrame):
            try:
                self._add([arp.parse_reply(record.frame, record.ts)])
            except ProtocolError:
                if (sender := _arp_request_sender(record)) is not None:
                    self.arp_senders.setdefault(sender.ip, sender)
        elif isinstance(record, Datagram):
            self._datagram(record)
        elif isinstance(record, TcpConversation):
            self._conversation(record)
        elif isinstance(record, CaptureProblem):
            self.problems.append(record.message)

    def _datagram(self, datagram: Datagram) -> None:
        if {datagram.sport, datagram.dport} & {dhcp.SERVER_PORT, dhcp.CLIENT_PORT}:
            try:
                self._add(dhcp.observations(dhcp.parse_message(datagram.payload), datagram.ts))
            except ProtocolError:
                pass
            return
        # Each protocol rejects requests (ProtocolError) or says nothing about them ([]):
        # only replies and announcements count.
        spec = discovery_protocol_of(datagram.sport, datagram.dport)
        if spec is None or not _is_unicast(datagram.src):
            return
        try:
            self._add(spec.parse(datagram.payload, datagram.src, datagram.sport, datagram.ts))
        except ProtocolError:
            pass

    def _conversation(self, conversation: TcpConversation) -> None:
        ip, port = conversation.server
        if not _is_unicast(ip):
            return
        protocol = None
        requests: list[bytes] = []  # sent and not yet answered: a client may pipeline several
        for role, data in conversation.turns:
            if role == "c":
                requests += split_messages(data)
                continue
            if data.startswith((b"HTTP/", b"RTSP/")):
                replies = split_messages(data, [request_line(request)[0] for request in requests])
            else:
                replies = [data]
            for reply in replies:
                request = requests[0] if requests else b""
                if requests and reply.startswith((b"HTTP/", b"RTSP/")) and reply[9:10] != b"1":
                    requests.pop(0)  # answered (a 1xx status is interim: the final answer follows)
                found, kind = self._server_turn(ip, port, request, reply, conversation.end)
                self._add(found)
                protocol = protocol or kind
        if conversation.established or protocol:
            known = self.services.setdefault(ip, {})
            if protocol or port not in known:
                known[port] = Service(ip=ip, port=port, protocol=protocol)
            self._add([Observation(ip=ip, source="tcp", field="tcp.open", value=str(port), port=port,
                                   observed_at=conversation.start)])

    @staticmethod
    def _server_turn(ip: str, port: int, request: bytes, data: bytes, at: float) -> tuple[list[Observation], str | None]:
        """What one run of server bytes says, read by the first protocol of the table that knows them."""
        for read in SERVER_TURN_READERS:
            if (said := read(ip, port, request, data, at)) is not None:
                return said
        return [], None

    def devices(self, identifier: Identifier) -> list[Device]:
        """One identified device per responder address, in address order."""
        found = []
        for ip in sorted(self.observations, key=lambda text: ipaddress.ip_address(text)):
            observations = list(self.observations[ip].values())
            if not any(seen.field == "mac.address" for seen in observations) and ip in self.arp_senders:
                observations = [*observations, self.arp_senders[ip]]
            mac = correlate.device_mac(observations) or next(
                (seen.value for seen in observations if seen.field == "dhcp.client_mac"), None)
            found.append(Device(
                ip=ip, mac=mac, mac_seen=correlate.mac_from_wire(observations),
                services=sorted(self.services.get(ip, {}).values(), key=lambda service: service.port),
                observations=observations, identification=identifier.identify(observations),
            ))
        return found


def analyse_capture(path: str | os.PathLike, on_progress: Callable[[int, int], None] | None = None) -> PassiveInventory:
    """Evidence from a pcap/pcapng file; damage is noted in ``problems`` (CaptureError if it is no capture)."""
    inventory = PassiveInventory()
    for record in iter_capture(path, on_progress):
        inventory.add(record)
    return inventory


def _linktype_of(layer) -> int | None:
    """The pcap link type of frames a scapy socket reports as starting with ``layer``."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import CookedLinux, Ether

    for cls, linktype in ((Ether, LINKTYPE_ETHERNET), (CookedLinux, LINKTYPE_LINUX_SLL), (IP, LINKTYPE_RAW),
                          (IPv6, LINKTYPE_RAW)):
        if isinstance(layer, type) and issubclass(layer, cls):
            return linktype
    return None


SNIFF_BUFFER_BYTES = 32 * 1024 * 1024  # kernel queue for bursts (discovery replies arrive together)


def sniff_interface(interface: str, duration: float, on_start: Callable[[], None] | None = None) -> PassiveInventory:
    """Listen on ``interface`` for ``duration`` seconds (needs root); sends nothing. ``on_start`` runs once listening.

    Frames are taken raw from scapy's listening socket (no per-packet dissection, which loses
    bursts) and go through the same assembler as a capture file.
    """
    inventory = PassiveInventory()
    assembler = TrafficAssembler()
    listener = open_listener(interface, buffer_bytes=SNIFF_BUFFER_BYTES)
    try:
        if on_start:
            on_start()
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            select.select([listener], [], [], left)
            for layer, frame, ts in queued_frames(listener):
                if time.monotonic() >= deadline:  # a link busier than this reader never empties its queue
                    break
                linktype = _linktype_of(layer)
                if frame is None or linktype is None:
                    continue
                inventory.packets_seen += 1
                for record in assembler.feed(linktype, frame, ts or time.time()):
                    inventory.add(record)
    finally:
        listener.close()
    for record in assembler.finish():
        inventory.add(record)
    return inventory


def store_inventory(store: Store, inventory: PassiveInventory, origin: str,
                    identifier: Identifier | None = None, site: str | None = None) -> tuple[int, list[int]]:
    """Identify and record every device as one passive scan of ``origin`` at ``site``; the scan id and the device ids."""
    parameters = {"mode": "passive", "capture": origin, "observation_source_prefix": SOURCE_PREFIX}
    return store.record_found_devices([origin], parameters, inventory.devices(identifier or Identifier()),
                                      complete=not inventory.problems, site=site)
