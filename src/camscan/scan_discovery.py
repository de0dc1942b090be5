"""One scan's discovery: multicast and unicast probes, mDNS, and the follow-ups replies invite.

Runs beside the port sweep. Replies are parsed as they arrive and kept per address until
the scanner takes them for that address's device; a follow-up (ONVIF device information
at an XAddr, the UPnP description at an SSDP LOCATION) happens only where the address it
names is in scope — otherwise it stays evidence and is never contacted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

from camscan.credentials import Account, Credentials
from camscan.model import Observation
from camscan.onlink import LinkHearing, link_filter
from camscan.probes import flows
from camscan.probes.onvif import OnvifMessages, device_information_flow, xaddr_target
from camscan.probes.discovery_probes import discovery_probes, mdns_query_probe
from camscan.protocols import ProtocolError, icmpv6, mdns, snmp, snmpv3
from camscan.protocols.spec import DiscoveryProbe
from camscan.scope import Scope
from camscan.store import Store
from camscan.transport.guard import CONNECT_ONLY
from camscan.transport.interface import Network, Transport

# Follow-ups per device: a camera lists one or two XAddrs (IPv4 and IPv6) and one LOCATION.
MAX_XADDRS = 2
MAX_LOCATIONS = 2
# Each multicast probe goes out this many times in the listening window, as the vendors' tools
# do: UDP may lose any one copy. SOAP-over-UDP (WS-Discovery's transport), Appendix I, repeats
# each multicast message after a random delay (Windows' WSD API: WSDUdpRetransmitParams), and
# UPnP Device Architecture 1.1 §1.2.2 sends discovery messages more than once for the same reason.
MULTICAST_ROUNDS = 3
# Service types a host listed (RFC 6763 §9) asked of it in one follow-up query when unicast.
MAX_MDNS_FOLLOW_UP_TYPES = 8


def multicast_offsets(wait: float, rng: random.Random) -> list[float]:
    """Seconds after the first round at which each round leaves: spread with jitter over the
    first half of the window, so that the last round's answers have the other half."""
    step = wait / 2 / MULTICAST_ROUNDS
    return [0.0] + [index * step + rng.uniform(0, step) for index in range(1, MULTICAST_ROUNDS)]


@dataclass
class SnmpV3Exchange:
    """One SNMPv3 account's exchange with one agent: engine discovery, then the GET (RFC 3414 §4)."""

    account: Account
    engine: snmpv3.Engine | None = None  # as the agent reported it ...
    reported_at: float = 0.0  # ... at this monotonic moment
    keys: snmpv3.Keys | None = None
    asked: int = 0  # GETs sent: a second only after a Report that the first missed the time window
    done: bool = False

    def engine_now(self) -> snmpv3.Engine:
        """The agent's engine as it stands now, by its clock (RFC 3414 §2.3: the local notion of its time)."""
        assert self.engine is not None
        elapsed = int(time.monotonic() - self.reported_at)
        return snmpv3.Engine(self.engine.engine_id, self.engine.boots, self.engine.time + elapsed)


@dataclass
class DiscoverySettings:
    wait: float = 1.5
    multicast: bool = True
    mdns: bool = True
    onvif: bool = True
    snmp: bool = True
    credentials: Credentials | None = None


class Discovery:
    """Sends the probes, collects parsed replies per address, runs the follow-ups."""

    def __init__(
        self,
        scope: Scope,
        settings: DiscoverySettings,
        transport: Transport,
        store: Store,
        scan_id: int,
        network: Network,
        links: dict,
        probes: list[DiscoveryProbe] | None = None,
    ) -> None:
        self.scope = scope
        self.settings = settings
        self.transport = transport
        self.store = store
        self.scan_id = scan_id
        self.notices: list[str] = []
        self.network = network
        self.links = links if settings.multicast else {}
        self._mdns_probe = mdns_query_probe() if settings.mdns else None
        probes = probes or discovery_probes(without=() if settings.snmp else ("snmp",))
        self.sockets = network.discovery_sockets(scope, transport.pacer, probes, self.links,
                                                 self._on_datagram, [self._mdns_probe] if self._mdns_probe else [])
        self._mdns_asked: dict[str, set[str]] = {}  # per host, the service types asked of it directly
        self._follow_up_sends: set[asyncio.Task] = set()  # mDNS questions and SNMPv3 GETs replies invited
        self._snmp_v3: dict[str, SnmpV3Exchange] = {}
        self._multicast_task: asyncio.Task | None = None
        # On the multicast links: devices claiming addresses outside scope, and IPv6 neighbours.
        self.hearing = LinkHearing(scope, self.links)
        self.listener = network.link_listener(self.links, link_filter(), self.hearing.feed)
        self._echo = icmpv6.build_echo_request(random.getrandbits(16), 0)
        self._found: dict[str, list[Observation]] = defaultdict(list)
        self._taken: set[str] = set()
        self._late: set[str] = set()
        self._unicast_sent: dict[str, float] = {}
        self._malformed: dict[tuple[str, str], str] = {}
        self._followed_up: dict[str, set[str]] = {}
        self._window_ends = 0.0
        self._mdns_task: asyncio.Task | None = None
        self.onvif = OnvifMessages()
        self.credentials = settings.credentials or Credentials()
        self._request_ids = random.Random()

    async def start(self) -> None:
        """Open the sockets; multicast the probes and start mDNS on every in-scope link."""
        self.sockets.open()
        if not self.links:
            return
        self.listener.open()
        self._window_ends = time.monotonic() + self.settings.wait
        await self._multicast_round()
        self._multicast_task = asyncio.create_task(self._repeat_multicast())
        if self.settings.mdns:
            self._mdns_task = asyncio.create_task(
                self.network.browse_mdns(self.scope, self.links, self.settings.wait, self._on_observations)
            )

    async def _multicast_round(self) -> None:
        """Every multicast probe once, and the ICMPv6 Echo Request to the all-nodes group."""
        await self.sockets.send_multicast()
        await self.network.echo_all_nodes(self.scope, self.links, self.transport.pacer, self._echo)

    async def _repeat_multicast(self) -> None:
        """The further rounds of every multicast probe (their answers merge with the first's)."""
        started = time.monotonic()
        for offset in multicast_offsets(self.settings.wait, random.Random())[1:]:
            await asyncio.sleep(max(0.0, started + offset - time.monotonic()))
            await self._multicast_round()

    async def probe_host(self, ip: str) -> None:
        """Unicast every probe to one host."""
        self._unicast_sent[ip] = time.monotonic()
        await self.sockets.send_unicast(ip)

    async def offer_snmp_account(self, ip: str, makers: frozenset[str] = frozenset()) -> None:
        """The system-group GET again as the credentials file's account for ``ip``, if one holds
        it: with its community (v2c, in clear text: only to its targets), or as its SNMPv3 user,
        starting with engine discovery (the GET follows the agent's Report, :meth:`_on_snmp_v3`)."""
        account = self.credentials.account_for("snmp", ip, makers) if self.settings.snmp else None
        if account is None or ipaddress.ip_address(ip).version != 4:
            return  # the discovery sockets are IPv4, as send_unicast's probes are
        self.credentials.note_offer(account, ip)
        self._unicast_sent[ip] = time.monotonic()
        if account.usm:
            self._snmp_v3[ip] = SnmpV3Exchange(account)
            request = snmpv3.build_discovery(self._request_ids.getrandbits(31), self._request_ids.getrandbits(31))
            await self.sockets.send_secret("snmp", ip, request, snmpv3.blank_secrets)
            return
        request = snmp.build_get(account.community, snmp.SYSTEM_OIDS, self._request_ids.getrandbits(31))
        await self.sockets.send_secret("snmp", ip, request, snmp.blank_community(account.community))

    def _on_snmp_v3(self, ip: str, data: bytes, port: int, at: float) -> None:
        """An agent's SNMPv3 message: the engine Report asks for the GET, the Response is read, any
        other Report (unknown user, wrong digest ...) ends the exchange with a note, not retried."""
        exchange = self._snmp_v3.get(ip)
        user = exchange.account.usm if exchange else None
        if exchange is None or user is None or exchange.done:
            return
        try:
            reply = snmpv3.parse_message(data, ip, port, at, user, exchange.keys)
        except ProtocolError as error:
            self._malformed.setdefault((ip, "snmp"), str(error)[:200])
            return
        if reply.report == snmpv3.UNKNOWN_ENGINE_ID and exchange.engine is None:
            exchange.engine, exchange.reported_at = reply.engine, time.monotonic()
            exchange.keys = snmpv3.localized_keys(user, reply.engine.engine_id)
            self._ask_snmp_v3(ip, exchange)
        elif reply.report == snmpv3.NOT_IN_TIME_WINDOW and exchange.asked == 1 and exchange.engine is not None:
            exchange.engine, exchange.reported_at = reply.engine, time.monotonic()  # the agent's clock, once more
            self._ask_snmp_v3(ip, exchange)
        elif reply.report:
            exchange.done = True
            self.notices.append(f"SNMPv3 {exchange.account.describe()}: {ip} refused it, {snmpv3.meaning(reply.report)} "
                                f"({reply.report}); not retried")
        elif exchange.engine is not None:
            exchange.done = True
            if snmpv3.in_time_window(reply.engine, exchange.engine_now()):
                self._on_observations(ip, reply.observations)
            else:
                self.notices.append(f"SNMPv3 response from {ip} is outside its engine's time window: ignored")

    def _ask_snmp_v3(self, ip: str, exchange: SnmpV3Exchange) -> None:
        """Send the account's GET to ``ip`` (its answer comes before ``settle``)."""
        assert exchange.account.usm is not None and exchange.keys is not None
        exchange.asked += 1
        request = snmpv3.build_get(exchange.account.usm, exchange.keys, exchange.engine_now(),
                                   self._request_ids.getrandbits(31), self._request_ids.getrandbits(31),
                                   self._request_ids.getrandbits(64))
        self._unicast_sent[ip] = time.monotonic()
        self._send_later(self.sockets.send_secret("snmp", ip, request, snmpv3.blank_secrets))

    def _send_later(self, sending) -> None:
        """Run a send a reply invited (the reply is read in a callback); :meth:`finish` waits for it."""
        task = asyncio.get_running_loop().create_task(sending)
        self._follow_up_sends.add(task)
        task.add_done_callback(self._follow_up_sends.discard)

    async def settle(self, ip: str) -> None:
        """Wait until the replies ``ip`` could still send have had their time."""
        unicast = self._unicast_sent.get(ip)
        deadline = max(self._window_ends, unicast + self.settings.wait if unicast is not None else 0.0)
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))

    def take(self, ip: str) -> list[Observation]:
        """The replies from ``ip`` so far; later ones are kept for :meth:`late_arrivals`."""
        self._taken.add(ip)
        self._late.discard(ip)
        return list(self._found.get(ip, ()))

    async def follow_up(self, ip: str, found: list[Observation],
                        makers: frozenset[str] = frozenset()) -> list[Observation]:
        """ONVIF device information for the XAddrs, UPnP descriptions for the LOCATIONs.

        ``makers`` are the vendor keys the anonymous evidence so far identifies ``ip`` as: an
        ONVIF account narrowed to a maker is offered only to a device already identified as it.
        """
        extra: list[Observation] = []
        # Each address is asked once per XAddr and LOCATION, however often its replies are taken.
        asked = self._followed_up.setdefault(ip, set())
        xaddrs = list(dict.fromkeys(seen.value for seen in found if seen.field == "wsd.xaddr"))
        if self.settings.onvif:
            for xaddr in xaddrs[:MAX_XADDRS]:
                if xaddr in asked:
                    continue
                asked.add(xaddr)
                said = await self._device_information(ip, xaddr, makers)
                extra += said
                if any(seen.field == "onvif.model" for seen in said):
                    break
        locations = list(dict.fromkeys(seen.value for seen in found if seen.field == "ssdp.location"))
        for location in locations[:MAX_LOCATIONS]:
            if location not in asked:
                asked.add(location)
                extra += await self._description(ip, location)
        return extra

    def _reachable(self, ip: str, url: str, what: str) -> tuple[str, int] | None:
        """Where a URL a device named points, if camscan may talk there; else a notice and None."""
        target = xaddr_target(url)
        if target is None or not self.scope.allowed(target[0]):
            self.notices.append(f"{what} {url} of {ip} is outside scope: recorded, not contacted")
            return None
        if target[1] in CONNECT_ONLY:
            self.notices.append(f"{what} {url} of {ip} names a connect-only port: recorded, not contacted")
            return None
        return target

    async def _device_information(self, ip: str, xaddr: str, makers: frozenset[str]) -> list[Observation]:
        target = self._reachable(ip, xaddr, "ONVIF XAddr")
        if target is None:
            return []
        # The account goes to the XAddr's host: that host must lie in its targets, and the maker
        # evidence (about ``ip``) counts only when the XAddr is ``ip`` itself.
        account = self.credentials.account_for("onvif", target[0], makers if target[0] == ip else ())
        await self.onvif.load()
        if account:
            await self.onvif.load(account)
        tls = xaddr.startswith("https:")
        flow = device_information_flow(self.onvif, ip, xaddr, account,
                                       on_offer=lambda offered: self.credentials.note_offer(offered, target[0]))
        result = await self.transport.run_flow(*target, flow, tls=tls)
        if result.error:
            self.notices.append(f"ONVIF device service {xaddr} of {ip}: {result.error}")
        return result.observations

    async def _description(self, ip: str, location: str) -> list[Observation]:
        target = self._reachable(ip, location, "SSDP LOCATION")
        if target is None:
            return []
        host, port = target
        parts = urlsplit(location)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        tls = parts.scheme == "https"
        result = await self.transport.run_flow(host, port, flows.upnp_description_flow(ip, host, port, path, tls), tls=tls)
        if result.error:
            self.notices.append(f"UPnP description {location} of {ip} is unreadable: {result.error}")
        return result.observations

    async def finish(self) -> None:
        """Let the multicast window and mDNS run out, then close the sockets."""
        await asyncio.sleep(max(0.0, self._window_ends - time.monotonic()))
        try:
            if self._multicast_task:
                await self._multicast_task
            if self._follow_up_sends:
                await asyncio.gather(*self._follow_up_sends)
            if self._mdns_task:
                self.notices += await self._mdns_task
        finally:
            self.sockets.close()
            self.listener.close()
            self.network.stopped_listening()
            self.notices += self.sockets.notices + self.listener.notices
        for interface in self.links:
            for address, mac in self.network.ipv6_neighbours(interface):
                self.hearing.add_ipv6(interface, mac, address)
        if self.sockets.dropped_out_of_scope:
            self.notices.append(f"{self.sockets.dropped_out_of_scope} discovery repl(ies) from outside scope not "
                                "answered; devices heard on a scanned link are listed as on-link, outside scope")
        for (ip, protocol), reason in sorted(self._malformed.items()):
            self.notices.append(f"{protocol} reply from {ip} skipped: {reason}")

    def close(self) -> None:
        """Stop listening; replies no device took, or came after it was stored (an interrupted
        scan), are stored as they are."""
        unused = [seen for ip in self.untaken() + self.late_arrivals() for seen in self._found[ip]]
        if unused:
            self.store.record_observations(self.scan_id, unused)
        for task in (self._mdns_task, self._multicast_task, *self._follow_up_sends):
            if task and not task.done():
                task.cancel()
        self.sockets.close()
        self.listener.close()

    def untaken(self) -> list[str]:
        """Addresses heard only through discovery: no device was built for them yet."""
        return sorted(ip for ip in self._found if ip not in self._taken)

    def late_arrivals(self) -> list[str]:
        """Addresses whose device was built before all their replies were in."""
        return sorted(self._late)

    def _on_datagram(self, probe: DiscoveryProbe, data: bytes, ip: str, port: int, at: float) -> None:
        if probe.name == "snmp" and snmp.is_v3(data):
            self._on_snmp_v3(ip, data, port, at)
            return
        try:
            found = probe.parse(data, ip, port, at)
        except ProtocolError as error:
            self._malformed.setdefault((ip, probe.name), str(error)[:200])
            return
        if probe is self._mdns_probe:
            self._ask_offered_types(probe, ip, found)
        self._on_observations(ip, found)

    def _ask_offered_types(self, probe: DiscoveryProbe, ip: str, found: list[Observation]) -> None:
        """Ask a host answering unicast mDNS (``probe``) for the instances of the service types it listed
        (RFC 6763 §9) and the first query did not name, once; its answer comes before ``settle``."""
        asked = self._mdns_asked.setdefault(ip, set(mdns.BROWSED_TYPES))
        offered = sorted({seen.value for seen in found if seen.field == "mdns.service_type"} - asked)
        if not offered:
            return
        wanted = offered[:MAX_MDNS_FOLLOW_UP_TYPES]
        asked.update(wanted)
        self._send_later(self.sockets.send_request(ip, probe, mdns.build_query(wanted)))

    def _on_observations(self, ip: str, found: list[Observation]) -> None:
        known = {(seen.field, seen.value, seen.port) for seen in self._found.get(ip, ())}
        fresh = [seen for seen in found if (seen.field, seen.value, seen.port) not in known]
        if not fresh:
            return
        self._found[ip].extend(fresh)
        if ip in self._taken:
            self._late.add(ip)
