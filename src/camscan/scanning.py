"""The scan library: one scan's whole life. Its options (a replay takes its recording's own
where the caller leaves them unset), the inventory it is recorded in, the run with its
heartbeat, Ctrl-C, and what it found. The command line, the district sensors (through
``camscan scan``) and the tests run scans through it; see :class:`Scan`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from camscan.checks import CHECKS, DEFAULT_CHECKS, OPT_IN_CHECKS
from camscan.credentials import Credentials
from camscan.errors import UserError
from camscan.inventory import open_inventory
from camscan.probes.ports import DEFAULT_PORTS
from camscan.registry import discovery_titles
from camscan.scope import Scope, read_scope_file
from camscan.shard import Shard
from camscan.store import HEARTBEAT_SECONDS, Store
from camscan.transport import DEFAULT_ARP_RATE
from camscan.transport.interface import Network

if TYPE_CHECKING:
    from camscan.scanner import Progress

DEFAULT_TIMEOUT = 2.0
# The scan options a recording keeps (no file paths: a recording may be shared).
RECORDED_OPTIONS = ("ports", "rate", "concurrency", "timeout", "discovery", "discovery_wait", "multicast", "snmp",
                    "onvif_credentials", "checks")
# What a recording's scan options may set in its replay.
REPLAYED_OPTIONS = ("ports", "timeout", "discovery", "multicast", "snmp", "checks")


class ScanOptionError(UserError):
    """Options that do not go together (the command line reports it as a usage error)."""


@dataclass
class ScanResult:
    """What a scan recorded."""

    scan_id: int
    status: str  # "complete", or "interrupted" (Ctrl-C): what was found before is kept
    devices: list[dict]  # the devices it recorded, in the export shape of Store.devices()
    found: int  # devices found on the network (a recorder's channels aside)
    notices: list[str]  # what the caller should tell the user (also given to on_notice as they come)
    credential_offers: list[tuple[str, int]]  # each account (described, no secret) and how many devices it was offered to


@dataclass
class Scan:
    """One scan of ``targets`` (addresses, CIDR blocks, ranges), recorded in the inventory at ``db_path``.

    Options named as the command line's (``camscan scan --help``). ``ports``, ``timeout``,
    ``discovery``, ``multicast``, ``snmp`` and ``checks`` left at None take camscan's
    defaults, or in a replay the recording's; one that is set and differs from the
    recording's is kept, with a notice. ``on_progress`` is called with the scan's counters
    as hosts are done; ``on_notice`` with each notice as it comes. Example::

        import camscan

        result = camscan.Scan(["198.18.90.0/29"], db_path="replay.db",
                              replay="pcaps/hikvision-ds2cd.pcapng").run()
        for device in result.devices:
            print(device["ip"], device["vendor"], device["model"])

    ``prepare`` checks the options and reads a replay's recording (``run`` calls it); a
    caller may call it first to show ``describe()`` or to ask before a large sweep.
    """

    targets: Sequence[str]
    db_path: str | os.PathLike = "camscan.db"
    scope_file: str | None = None
    exclude: Sequence[str] = ()
    allow_public: bool = False
    ports: list[int] | None = None
    rate: float = 10000.0
    arp_rate: float = DEFAULT_ARP_RATE
    concurrency: int = 512
    timeout: float | None = None
    interface: str | None = None
    site: str | None = None
    discovery: bool | None = None
    discovery_wait: float = 1.5
    multicast: bool | None = None
    snmp: bool | None = None
    checks: frozenset[str] | None = None
    channels: bool = True
    credentials: Credentials = field(default_factory=Credentials)
    record: str | None = None
    record_credentials: bool = False
    replay: str | None = None
    scan_uuid: str | None = None
    shard: tuple[int, int] | None = None  # (I, N): probe only shard I of N of the address x port space
    on_progress: Callable[[Progress], None] | None = None
    on_notice: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.notices: list[str] = []
        self.scope: Scope | None = None
        self.options: dict = {}  # the options the scan runs with, once prepared
        self.shard_plan: Shard | None = None
        self._network: Network | None = None

    def prepare(self) -> None:
        """Check the options, resolve the scope and, for a replay, read the recording and take its options."""
        if self.scope is not None:
            return
        if self.record and self.replay:
            raise ScanOptionError("--record and --replay exclude each other: a replay sends nothing to record")
        if self.record_credentials and not self.record:
            raise ScanOptionError("--record-credentials goes with --record")
        scope = Scope(list(self.targets), scope_specs=read_scope_file(self.scope_file) if self.scope_file else None,
                      exclude=list(self.exclude), allow_public=self.allow_public)
        if scope.size == 0:
            raise UserError("nothing to scan: every target lies outside the scope file or is excluded")
        discovery = self.discovery is not False
        options: dict[str, Any] = {"ports": DEFAULT_PORTS if self.ports is None else list(self.ports),
                   "timeout": DEFAULT_TIMEOUT if self.timeout is None else self.timeout,
                   "discovery": discovery,
                   "multicast": discovery and self.multicast is not False,
                   "snmp": discovery and self.snmp is not False,
                   "checks": sorted(DEFAULT_CHECKS if self.checks is None else self.checks)}
        if self.replay:
            self._network, recorded = _replay_network(self.replay, self._notice)
            options = self._replay_options(options, recorded)
        if self.shard:
            self.shard_plan = Shard(*self.shard, scope.size, tuple(options["ports"]))
            if self.shard_plan.index > 1:
                # Discovery asks hosts and groups, not (address, port) pairs: one shard asks, not N.
                options.update(discovery=False, multicast=False, snmp=False)
        self.options, self.scope = options, scope

    def _given(self, key: str) -> bool:
        """Whether the caller set option ``key`` (turning discovery off sets multicast and SNMP too)."""
        if key in ("multicast", "snmp") and self.discovery is False:
            return True
        return getattr(self, key) is not None

    def _replay_options(self, options: dict, recorded: dict | None) -> dict:
        """The recording's options wherever the caller left an option unset, so that the replay
        asks what the live scan asked; a notice where a set option differs from the recording's."""
        if recorded is None:
            self._notice("the recording names no scan options (not made with camscan --record): "
                         "replay it with the options it was made with")
            return options
        chosen = dict(options)
        for key in REPLAYED_OPTIONS:
            value = recorded.get(key)
            if value is None or value == options[key] or not _valid_recorded_option(key, value):
                continue
            if self._given(key):
                self._notice(f"{key} {options[key]} differs from the recording's {value}: "
                             "the replay may not find what the live scan found")
            else:
                chosen[key] = value
        if recorded.get("onvif_credentials") is True and not self.credentials.has("onvif"):
            self._notice("the live scan also asked ONVIF devices with an account: give the same --credentials "
                         "(or --onvif-user) to replay those requests")
        return chosen

    def describe(self) -> str:
        """What the scan will touch, in one sentence."""
        self.prepare()
        assert self.scope is not None, "prepare() resolves the scope"
        options = self.options
        discovery = ("." if not options["discovery"] else
                     f"; discovery probes ({', '.join(discovery_titles(include_optional=options['snmp']))})"
                     " to each live host"
                     + (" and, on links wholly in scope, to their multicast groups and ff02::1"
                        if options["multicast"] else "") + ".")
        shard = self.shard_plan
        return (f"camscan will touch {self.scope.size} address(es) in {self.scope.describe()} on "
                f"{len(options['ports'])} TCP port(s)"
                + (f" (shard {shard.index} of {shard.count}: one address-port pair in {shard.count})" if shard else "")
                + f", at most {self.rate:g} packets/s (ARP {self.arp_rate:g}/s) and {self.concurrency} "
                f"connections at once" + discovery)

    def run(self) -> ScanResult:
        """Run the scan, recording devices as they are found. Ctrl-C ends it as ``interrupted``,
        keeping what it found; any other error records it as ``failed`` and is raised."""
        from camscan.scan_discovery import DiscoverySettings
        from camscan.scanner import Scan as Runner
        from camscan.scanner import ScanSettings
        from camscan.transport.network import LiveNetwork

        self.prepare()
        assert self.scope is not None, "prepare() resolves the scope"
        options = self.options
        checks = frozenset(options["checks"])
        if checks:
            from camscan.checks.data import load_all

            load_all()
        parameters = {"ports": options["ports"], "rate": self.rate, "concurrency": self.concurrency,
                      "arp_rate": self.arp_rate, "timeout": options["timeout"], "interface": self.interface, "exclude": list(self.exclude),
                      "scope_file": self.scope_file, "discovery": options["discovery"],
                      "discovery_wait": self.discovery_wait, "multicast": options["multicast"],
                      "snmp": options["snmp"], "onvif_credentials": self.credentials.has("onvif"),
                      "checks": sorted(checks), "channels": self.channels, "record": self.record,
                      "replay": self.replay, "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None}
        network = self._network
        if network is None:
            network = LiveNetwork(record=self.record, scan_options={key: parameters[key] for key in RECORDED_OPTIONS},
                                  record_credentials=self.record_credentials)
        discovery = DiscoverySettings(
            # A recording answers at once: there is nothing to wait for.
            wait=0.0 if self.replay else self.discovery_wait, multicast=options["multicast"], snmp=options["snmp"],
            credentials=self.credentials,
        ) if options["discovery"] else None
        settings = ScanSettings(ports=options["ports"], rate=self.rate, arp_rate=self.arp_rate, concurrency=self.concurrency,
                                timeout=options["timeout"], interface=self.interface, checks=checks,
                                channels=self.channels, credentials=self.credentials, shard=self.shard_plan)
        with open_inventory(self.db_path, create=True) as store:
            scan_id = store.start_scan(list(self.targets), parameters, site=self.site, scan_uuid=self.scan_uuid)
            runner = Runner(self.scope, settings, store, scan_id, on_progress=self.on_progress, discovery=discovery,
                            network=network)
            status = "failed"
            try:
                asyncio.run(_with_heartbeat(runner.run(), store, scan_id))
                status = "complete"
            except KeyboardInterrupt:
                status = "interrupted"
            finally:
                store.finish_scan(scan_id, status)
                for notice in runner.notices:
                    self._notice(notice)
            devices = [device for device in store.devices() if device["id"] in runner.device_ids]
        return ScanResult(scan_id, status, devices, len(runner.progress.devices), list(self.notices),
                          [(account.describe(), offered) for account, offered in self.credentials.offers()])

    def _notice(self, text: str) -> None:
        self.notices.append(text)
        if self.on_notice is not None:
            self.on_notice(text)


def run_scan(targets: Sequence[str], **options) -> ScanResult:
    """Run one scan: ``Scan(targets, **options).run()``."""
    return Scan(targets, **options).run()


async def _with_heartbeat(scanning, store: Store, scan_id: int) -> None:
    """Await the scan while telling other camscan processes, every HEARTBEAT_SECONDS, that it still runs."""

    async def beat() -> None:
        while True:
            store.heartbeat(scan_id)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    heartbeat = asyncio.create_task(beat())
    try:
        await scanning
    finally:
        heartbeat.cancel()


def _replay_network(path: str, notice: Callable[[str], None]) -> tuple[Network, dict | None]:
    """The network a recording describes and the scan options it holds (None if none), or a
    clear error for a file that is no usable capture. The recording is read in a child process
    while this one loads identification's data (in a thread started after the fork: a process
    with threads does not fork)."""
    from camscan.capture.reader import BackgroundLoad, CaptureError
    from camscan.fingerprint.identify import start_loading
    from camscan.transport.record import scan_options_from
    from camscan.transport.replay import ReplayNetwork

    loading = BackgroundLoad(path)
    start_loading()
    try:
        recording = loading.result()
    except CaptureError as error:
        raise UserError(f"cannot replay {path}: {error}") from None
    for problem in recording.problems:
        notice(f"{path}: {problem}")
    return ReplayNetwork(recording), scan_options_from(recording.comments)


def _valid_recorded_option(key: str, value) -> bool:
    """Whether a recording's option is of the kind camscan writes (a recording is untrusted input)."""
    if key == "ports":
        return isinstance(value, list) and bool(value) and all(
            isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536 for port in value)
    if key == "timeout":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.1 <= value <= 3600
    if key == "checks":
        return isinstance(value, list) and all(name in CHECKS or name in OPT_IN_CHECKS for name in value)
    return isinstance(value, bool)
