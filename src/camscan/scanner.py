"""The active scan: ARP sweep, discovery, TCP connect sweep, protocol probes, identification, storage.

Hosts flow through as soon as they are found: an ARP reply starts that host's unicast
discovery probes and port sweep, open ports get their conversations, and the device is
identified and stored the moment its probes (and its discovery replies) are in, so an
interrupted scan keeps everything already seen. Multicast discovery and mDNS run beside
the sweep; an address heard only through discovery is still inventoried.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property

from camscan import correlate
from camscan.channels.runner import (
    ask_video_sources, channel_observations, connection_of, identify_channel, inventory_channels, source_question,
    wants_inventory,
)
from camscan.checks import DEFAULT_CHECKS, UPNP_PORT_FORWARD
from camscan.checks.passive import misaddressed_device
from camscan.checks.runner import gateway_findings, run_checks
from camscan.credentials import Credentials
from camscan.scan_discovery import Discovery, DiscoverySettings
from camscan.fingerprint.identify import Identifier, start_loading
from camscan.model import ChannelDevice, ChannelInventory, Device, Observation, Service
from camscan.onlink import ON_LINK_OUTSIDE_SCOPE, Ipv6Neighbour, OutsideDevice
from camscan.probes.onvif import OnvifMessages
from camscan.probes.ports import streams_for
from camscan.protocols import ProtocolError, tls
from camscan.protocols.spec import StreamSpec
from camscan.scope import Scope
from camscan.shard import Shard
from camscan.store import Store
from camscan.transport import DEFAULT_ARP_RATE
from camscan.transport.interface import Network, Transport
from camscan.transport.network import LiveNetwork

# A host still being probed after this long is stored with what it has said so far, and again
# this often while it says more (one that answers quickly is stored once, when done).
PARTIAL_RECORD_SECONDS = 1.0


@dataclass
class ScanSettings:
    ports: list[int]
    rate: float = 10000.0
    concurrency: int = 512
    timeout: float = 2.0
    interface: str | None = None
    arp_rate: float = DEFAULT_ARP_RATE  # requests/s, and each gets arp_wait seconds to be answered
    arp_wait: float = 0.5
    checks: frozenset[str] = DEFAULT_CHECKS
    channels: bool = True  # ask identified recorders for their channels (camscan.channels)
    credentials: Credentials = field(default_factory=Credentials)
    shard: Shard | None = None  # probe only this shard's (address, port) pairs (camscan.shard)


@dataclass
class Progress:
    """Counters a progress display reads; updated as the scan goes."""

    total_hosts: int = 0
    hosts_done: int = 0
    live_hosts: int = 0
    devices: list[Device] = field(default_factory=list)


class Scan:
    """One run over a scope; ``run`` returns the devices found, each already stored."""

    def __init__(
        self,
        scope: Scope,
        settings: ScanSettings,
        store: Store,
        scan_id: int,
        identifier: Identifier | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        discovery: DiscoverySettings | None = None,
        network: Network | None = None,
    ) -> None:
        self.scope = scope
        self.settings = settings
        self.store = store
        self.scan_id = scan_id
        self._identifier = identifier
        self.progress = Progress()
        self.notices: list[str] = []
        self.device_ids: set[int] = set()
        self.discovery_settings = discovery
        self.network: Network = network or LiveNetwork()
        self.discovery: Discovery | None = None
        self._recorded: dict[str, Device] = {}
        self._device_ids_by_ip: dict[str, int] = {}
        self._mac_holders: dict[str, set[str]] = {}  # MAC -> the addresses that reported it
        self._on_progress = on_progress or (lambda progress: None)

    @cached_property
    def identifier(self) -> Identifier:
        """The identifier given, or one of signatures/ (built once its data has loaded)."""
        return self._identifier or Identifier()

    async def _identification_ready(self) -> None:
        """Wait for identification's data, which loads in a thread while the sweep begins."""
        await asyncio.wrap_future(start_loading())

    async def run(self) -> list[Device]:
        start_loading()
        network = self.network
        hosts = list(self.scope.hosts())
        self.progress.total_hosts = len(hosts)
        by_interface, routed, notices = network.plan(hosts, self.settings.interface)
        self.notices += notices
        links = network.multicast_links(self.scope, self.settings.interface) if self.discovery_settings else {}
        # Every host is committed as it is stored: a scan killed mid-way keeps every finished host.
        try:
            network.start_recording(self.scope, by_interface, routed, links)
            await self._run(network, by_interface, routed, links)
        finally:
            network.stop_recording()
        return sorted(self._recorded.values(), key=lambda device: _address_order(device.ip))

    async def _run(self, network: Network, by_interface: dict[str, list[str]], routed: list[str], links: dict) -> None:
        transport = network.transport(self.scope, self.settings.rate, self.settings.concurrency, self.settings.timeout)
        if self.discovery_settings:
            self.discovery = Discovery(
                self.scope, self.discovery_settings, transport, self.store, self.scan_id, network, links
            )
        tasks: set[asyncio.Task] = set()
        try:
            if self.discovery:
                await self.discovery.start()
            if routed:
                tasks.add(asyncio.create_task(self._sweep_routed(transport, routed)))

            def reply(seen: Observation) -> None:
                self.progress.live_hosts += 1
                tasks.add(asyncio.create_task(self._host(transport, seen.ip, seen)))

            await asyncio.gather(*(
                transport.arp_sweep(interface, on_link, reply, self.settings.arp_wait, self.settings.arp_rate)
                for interface, on_link in by_interface.items()
            ))
            self.progress.hosts_done += sum(len(v) for v in by_interface.values()) - self.progress.live_hosts
            self._on_progress(self.progress)
            while pending := [task for task in tasks if not task.done()]:
                await asyncio.wait(pending)
            for task in tasks:
                task.result()
            self._late_neighbour_macs()
            if self.discovery:
                await self._finish_discovery(transport, self.discovery)
            await self._recorder_pass(transport)
            if UPNP_PORT_FORWARD in self.settings.checks:
                await self._gateway_pass(transport)
        finally:
            for task in tasks:
                task.cancel()
            if self.discovery:
                self.discovery.close()
                self.notices += self.discovery.notices

    async def _finish_discovery(self, transport: Transport, discovery: Discovery) -> None:
        """Devices heard only through discovery (checked like any other), replies that came
        after their device was stored, and addresses reporting the same serial or ONVIF endpoint."""
        await discovery.finish()
        await self._identification_ready()
        heard_only = set(discovery.untaken()) - set(self._recorded)
        for ip in discovery.untaken() + discovery.late_arrivals():
            found = discovery.take(ip)
            known = self._recorded[ip].observations if ip in self._recorded else []
            makers = await self._makers(known + found)
            recorded = self._absorb(ip, found + await discovery.follow_up(ip, found, makers))
            if ip in heard_only and self.settings.checks:
                await self._check(transport, *recorded)
        by_ip = {ip: device.observations for ip, device in self._recorded.items()}
        shared: dict[str, list[Observation]] = {}
        for seen in correlate.shared_identities(by_ip, time.time()):
            shared.setdefault(seen.ip, []).append(seen)
        for ip, extra in shared.items():
            self._absorb(ip, extra)
        self._record_outside(discovery.hearing.outside.values())
        for neighbour in list(discovery.hearing.ipv6.values()):
            await self._record_ipv6(transport, neighbour)

    def _record_outside(self, heard: Iterable[OutsideDevice]) -> None:
        """Devices heard on an in-scope link at an address outside scope: stored with everything
        they said, identified, marked and given the ``misaddressed-device`` finding. Nothing is
        ever sent to them (no follow-up, no check). One whose MAC an in-scope device of this scan
        holds is that device, also claiming an address off its link: the finding goes to it."""
        for device in sorted(heard, key=lambda device: _address_order(device.ip)):
            observations = list(device.observations.values())
            mac = correlate.device_mac(observations)
            holder = next((ip for ip, known in self._recorded.items() if mac and known.mac == mac
                           and known.seen_as is None), None)
            finding = misaddressed_device(device.ip, device.interface, device.network)
            if holder:
                _known, device_id = self._absorb(holder, [Observation(
                    ip=holder, source="arp-heard", field="onlink.outside_address", value=device.ip,
                    transport="ethernet", observed_at=time.time())])
            else:
                _known, device_id = self._record(device.ip, [], observations, seen_as=ON_LINK_OUTSIDE_SCOPE)
            self.store.record_findings(self.scan_id, device_id, [finding])

    async def _record_ipv6(self, transport: Transport, neighbour: Ipv6Neighbour) -> None:
        """An IPv6 neighbour of an in-scope link: its addresses join the device of the same MAC
        or address; else it is a device of its own, probed only at an address in scope (an IPv6
        range or link-local address the scope names), otherwise recorded and never contacted."""
        addresses = sorted(neighbour.addresses, key=_ipv6_preference(self.scope))
        known = next((address for address in addresses if address in self._recorded), None) or next(
            (ip for ip, device in self._recorded.items() if device.mac == neighbour.mac and device.seen_as is None), None)
        if known is None and self.scope.allowed(addresses[0]):
            self.progress.live_hosts += 1
            await self._host(transport, addresses[0], None)
            known = addresses[0]
        ip = known or addresses[0]
        now = time.time()
        said = [Observation(ip=ip, source="icmpv6", field="mac.address", value=neighbour.mac, transport="icmpv6",
                            observed_at=now)]
        said += [Observation(ip=ip, source="icmpv6", field="ipv6.address", value=address, transport="icmpv6",
                             observed_at=now) for address in addresses]
        if ip in self._recorded:
            self._absorb(ip, said)
        else:
            self._record(ip, [], said, seen_as=ON_LINK_OUTSIDE_SCOPE)

    def _late_neighbour_macs(self) -> None:
        """MACs the kernel's ARP table gained after their host's own lookup (the table is read
        again once, fresh, for the first host still without one)."""
        max_age = 0.0
        for ip, device in list(self._recorded.items()):
            if device.mac is not None:
                continue
            if mac := self.network.neighbour_mac(ip, max_age):
                self._absorb(ip, [mac])
            max_age = float("inf")

    async def _sweep_routed(self, transport: Transport, hosts: list[str]) -> None:
        """Sweep hosts that ARP cannot vouch for: by a stateless SYN sweep at the scan's rate
        where the transport can, the others by TCP connects, a bounded number of hosts at a
        time (memory stays flat)."""
        stateless = set(transport.stateless_targets(hosts))
        if stateless:
            await self._syn_sweep(transport, [ip for ip in hosts if ip in stateless])
        await self._visit(transport, [ip for ip in hosts if ip not in stateless])

    async def _syn_sweep(self, transport: Transport, hosts: list[str]) -> None:
        """The SYN sweep, with each host that answers visited (its open ports' conversations,
        its discovery) while the sweep goes on: once every port of it has answered (SYN-ACK or
        RST), or ``timeout`` after its first answer, or the sweep's end. With discovery, the
        silent hosts are visited after the sweep (their unicast discovery probes), else never.
        Hosts are swept in groups that share their ports (all of them, or a shard's share)."""
        ports_of = {ip: self._ports_of(ip) for ip in hosts}
        groups: dict[tuple[int, ...], list[str]] = {}
        for ip in hosts:
            groups.setdefault(tuple(ports_of[ip]), []).append(ip)
        answers: dict[str, dict[int, bool]] = {}
        settled: dict[str, asyncio.Event] = {}
        visits: set[asyncio.Task] = set()
        visiting = asyncio.Semaphore(max(1, self.settings.concurrency // 4))

        async def visit(ip: str) -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled[ip].wait(), self.settings.timeout)
            found = sorted(port for port, is_open in answers[ip].items() if is_open)
            if not found and not self.discovery:
                self.progress.hosts_done += 1
                return
            async with visiting:
                await self._host(transport, ip, None, found)

        def answered(ip: str, port: int, is_open: bool) -> None:
            states = answers.setdefault(ip, {})
            if port in states:
                return
            states[port] = is_open
            if ip not in settled:
                settled[ip] = asyncio.Event()
                visits.add(asyncio.create_task(visit(ip)))
            if len(states) == len(ports_of[ip]):
                settled[ip].set()

        unroutable = 0
        try:
            for ports, group in groups.items():
                if ports:
                    unroutable += (await transport.syn_sweep(group, list(ports), answered)).unroutable
            for event in settled.values():  # the sweep's own wait is over: every answer has come that will
                event.set()
            silent = [ip for ip in hosts if ip not in answers]
            if self.discovery:
                await self._visit(transport, silent, open_ports=[])
            else:
                self.progress.hosts_done += len(silent)
            await asyncio.gather(*visits)
        finally:
            for task in visits:
                task.cancel()
        if unroutable:
            self.notices.append(f"{unroutable} address(es) had no route from this host: not swept")

    async def _visit(self, transport: Transport, hosts: list[str], open_ports: list[int] | None = None) -> None:
        """Every host in turn, a bounded number at a time: each its port sweep (unless its
        ``open_ports`` are known), conversations and discovery."""
        pending = iter(hosts)

        async def worker() -> None:
            for ip in pending:
                await self._host(transport, ip, None, open_ports)

        workers = max(1, self.settings.concurrency // 4)
        await asyncio.gather(*(worker() for _ in range(min(workers, len(hosts)))))

    async def _host(self, transport: Transport, ip: str, arp_reply: Observation | None,
                    open_ports: list[int] | None = None) -> None:
        """Everything about one host: its port sweep (unless the SYN sweep found ``open_ports``
        already), its conversations and discovery, its record and checks."""
        observations: list[Observation] = []
        services: dict[int, Service] = {}
        recorded: tuple[Device, int] | None = None
        storing = None if self.network.answers_at_once else asyncio.create_task(
            self._store_meanwhile(ip, services, observations))
        try:
            if arp_reply:
                observations.append(arp_reply)
            swept = asyncio.Event()

            async def sweep() -> None:
                try:
                    await self._sweep_ports(transport, ip, observations, services, open_ports)
                finally:
                    swept.set()

            await asyncio.gather(sweep(), self._discover(ip, observations, swept))
            await self._identification_ready()
            if arp_reply is None and observations and (mac := self.network.neighbour_mac(ip)):
                observations.append(mac)
        finally:
            if storing:
                storing.cancel()
            # Runs on Ctrl-C too: a host part-way through keeps what it already said.
            if observations:
                recorded = self._record(ip, services.values(), observations)
            self.progress.hosts_done += 1
            self._on_progress(self.progress)
        if recorded and self.settings.checks:
            await self._check(transport, *recorded)

    async def _store_meanwhile(self, ip: str, services: dict[int, Service], observations: list[Observation]) -> None:
        """While a host's probes run, store what it has said so far every PARTIAL_RECORD_SECONDS:
        a host that stalls on one port keeps, even if the scan is killed, what it answered."""
        stored = 0
        while True:
            await asyncio.sleep(PARTIAL_RECORD_SECONDS)
            if len(observations) > stored:
                stored = len(observations)
                self._record(ip, services.values(), observations)

    async def _gateway_pass(self, transport: Transport) -> None:
        """After every host: UPnP gateways' port mappings to this scan's cameras (camscan.checks)."""
        probed = [device for device in self.progress.devices if device.seen_as is None]  # never the unreachable
        found, notices = await gateway_findings(transport, probed)
        self.notices += notices
        for camera, finding in found:
            self.store.record_findings(self.scan_id, self._device_ids_by_ip[camera.ip], [finding])

    async def _recorder_pass(self, transport: Transport) -> None:
        """Once every host is identified: each recorder's channels (camscan.channels), one
        recorder at a time, each stored as it comes (without ``settings.channels``, each recorder
        is recorded as not asked); then every other camera's one question about its video sources,
        all at once, a camera with two or more stored as its sensors (one with a single source, or
        no answer, stores nothing). An IP channel's camera is one the sweep found only when its
        MAC or serial agrees; its reported address is never contacted."""
        swept = list(self._recorded.values())
        messages = self.discovery.onvif if self.discovery else OnvifMessages()
        maker_of = self.identifier.catalogue.manufacturer_of
        for recorder in [device for device in swept if wants_inventory(device)]:
            if not self.settings.channels:
                self.store.record_channels(self.scan_id, self._device_ids_by_ip[recorder.ip], "not-asked", [])
                continue
            inventory, notices = await inventory_channels(transport, recorder, self.settings.credentials,
                                                          maker_of, messages)
            self.notices += notices
            self._store_channels(recorder, inventory, swept)
        if not self.settings.channels:
            return
        questions = [(camera, question) for camera in swept if not wants_inventory(camera)
                     for question in [source_question(camera, maker_of)] if question]
        answers = await asyncio.gather(*(ask_video_sources(transport, camera, question, self.settings.credentials,
                                                           messages) for camera, question in questions))
        for (camera, _), (sensors, notices) in zip(questions, answers):
            self.notices += notices
            if sensors is not None:
                self._store_channels(camera, sensors, swept)

    def _store_channels(self, recorder: Device, inventory: ChannelInventory, swept: list[Device]) -> None:
        """Store a recorder's (or a multi-sensor camera's) inventory, each channel a device of its own."""
        port = next((service.port for service in recorder.services if service.protocol in ("http", "https")), None)
        stored = []
        for channel in inventory.channels:
            connection = connection_of(channel, self.scope.allowed)
            seen = channel_observations(recorder.ip, port, inventory.api or "", channel)
            twin = correlate.same_device(channel.mac, channel.serial,
                                         [device for device in swept if device is not recorder])
            identified = identify_channel(self.identifier, seen, recorder.identification, connection)
            stored.append(ChannelDevice(
                channel, connection, identified, tuple(seen),
                same_as=self._device_ids_by_ip[twin.ip] if twin and connection == "ip-lan" else None))
        recorder_id = self._device_ids_by_ip[recorder.ip]
        self.device_ids.update(self.store.record_channels(self.scan_id, recorder_id, inventory.status, stored))

    async def _check(self, transport: Transport, device: Device, device_id: int) -> None:
        """Exposure checks on an identified device (see camscan.checks); findings stored at once."""
        findings, notices = await run_checks(transport, device, self.settings.checks)
        self.notices += notices
        if findings:
            self.store.record_findings(self.scan_id, device_id, findings)

    async def _sweep_ports(
        self, transport: Transport, ip: str, observations: list[Observation], services: dict[int, Service],
        open_ports: list[int] | None = None,
    ) -> None:
        if open_ports is None:
            open_ports = await transport.open_ports(ip, self._ports_of(ip))
        await asyncio.gather(*(self._probe_port(transport, ip, port, observations, services) for port in open_ports))

    def _ports_of(self, ip: str) -> list[int]:
        """The ports to sweep at ``ip``: all of them, or this shard's share."""
        shard = self.settings.shard
        if shard is None:
            return self.settings.ports
        position = self.scope.position(ip)
        return [] if position is None else shard.ports_of(position)

    async def _discover(self, ip: str, observations: list[Observation], swept: asyncio.Event) -> None:
        """Unicast discovery to one host while its ports are swept; then the replies' follow-ups.

        When an ONVIF or SNMP account is narrowed to a maker, its use waits for the sweep: the
        maker is then identified from everything the host said anonymously.
        """
        if not self.discovery:
            return
        await self.discovery.probe_host(ip)
        if self.discovery.credentials.narrowed_by_maker("snmp"):
            await swept.wait()
            await self.discovery.offer_snmp_account(ip, await self._makers(observations + self.discovery.take(ip)))
        else:
            await self.discovery.offer_snmp_account(ip)
        await self.discovery.settle(ip)
        found = self.discovery.take(ip)
        if found:
            observations += found
            makers: frozenset[str] = frozenset()
            if self.discovery.credentials.narrowed_by_maker("onvif"):
                await swept.wait()
                makers = await self._makers(observations)
            observations += await self.discovery.follow_up(ip, found, makers)

    async def _makers(self, observations: list[Observation]) -> frozenset[str]:
        """The vendor keys (brand and manufacturer) the observations identify, for maker-narrowed accounts."""
        await self._identification_ready()
        identification = self.identifier.identify(observations)
        return frozenset(key for key in (identification.vendor, identification.manufacturer) if key)

    def _absorb(self, ip: str, found: list[Observation]) -> tuple[Device, int]:
        """Add discovery replies to an address's device (a new one if it had none) and store it again."""
        device = self._recorded.get(ip)
        known = set(device.observations) if device else set()
        return self._record(
            ip, device.services if device else [], (device.observations if device else []) + [
                seen for seen in found if seen not in known
            ]
        )

    def _record(self, ip: str, services: Iterable[Service], observations: list[Observation],
                seen_as: str | None = None) -> tuple[Device, int]:
        """Identify and store one address's device (again, if it was stored before); the device and its id."""
        observations = [seen for seen in observations if not seen.field.startswith("conflict.")]
        macs = correlate.reported_macs(observations)
        now_sharing: set[str] = set()  # addresses that reported one of these MACs before this one did
        for mac in macs:
            holders = self._mac_holders.setdefault(mac, set())
            if ip not in holders:
                now_sharing |= holders
                holders.add(ip)
        elsewhere = {mac: self._mac_holders[mac] - {ip} for mac in macs}
        observations += correlate.conflicts(ip, observations, time.time(), elsewhere)
        device = Device(
            ip=ip,
            mac=correlate.device_mac(observations),
            mac_seen=correlate.mac_from_wire(observations),
            services=sorted(services, key=lambda service: service.port),
            observations=observations,
            identification=self.identifier.identify(observations),
            seen_as=seen_as if ip not in self._recorded else self._recorded[ip].seen_as,
        )
        device_id = self.store.record_device(self.scan_id, device)
        self.device_ids.add(device_id)
        self._device_ids_by_ip[ip] = device_id
        if ip in self._recorded:
            self.progress.devices.remove(self._recorded[ip])
        self._recorded[ip] = device
        self.progress.devices.append(device)
        for other in sorted(now_sharing):  # their conflict.mac names this address too
            self._absorb(other, [])
        return device, device_id

    async def _probe_port(
        self, transport: Transport, ip: str, port: int, observations: list[Observation],
        services: dict[int, Service]
    ) -> None:
        """Try the port's conversations in order until one gets a recognisable answer.

        The open port, then what it says, go into the host's ``observations`` and
        ``services`` (by port), which are stored while the host goes on and when it is done.
        """
        observations.append(
            Observation(ip=ip, source="tcp", field="tcp.open", value=str(port), port=port, observed_at=time.time()))
        services[port] = Service(ip=ip, port=port, protocol=None)
        for spec in streams_for(port):
            said = await self._converse(transport, ip, port, spec)
            protocol = spec.proves(said)
            if protocol:
                now = time.time()
                observations.extend(replace(seen, observed_at=now) for seen in said)
                services[port] = Service(ip=ip, port=port, protocol=protocol, banner=spec.summary(said))
                break

    async def _converse(self, transport: Transport, ip: str, port: int, spec: StreamSpec) -> list[Observation]:
        """One conversation with an open port: what it said, and the certificate it presented."""
        result = await transport.run_flow(ip, port, spec.flow(ip, port), tls=spec.tls)
        if result.error:
            self.notices.append(f"{spec.name} conversation cut short by an unreadable reply from {result.error}")
        found = list(result.observations)
        if result.certificate:
            try:
                found += tls.parse_certificate(result.certificate, ip, port)
            except ProtocolError as error:
                self.notices.append(str(error))
        return found


def _address_order(ip: str) -> tuple[int, int, str]:
    """IPv4 before IPv6, then by address (an IPv6 link-local one with its interface)."""
    address = ipaddress.ip_address(ip)
    return address.version, int(address), ip


def _ipv6_preference(scope: Scope):
    """Which of a neighbour's addresses names it: one in scope, then a global or ULA one, then link-local."""
    def order(address: str) -> tuple[bool, bool, tuple]:
        return not scope.allowed(address), ipaddress.ip_address(address).is_link_local, _address_order(address)
    return order

