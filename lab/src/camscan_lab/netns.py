"""The namespace tier: every lab host in its own network namespace on a private bridge.

Layout (``prefix`` defaults to ``csl``)::

    <prefix>-scan  lab0 198.18.0.1/22 ──┐            the scanner's namespace
                                         ├─ br0 ─┐   <prefix>-sw, the "switch"
    <prefix>-h0    eth0 198.18.0.2/22 ──┤        │   (bridge lives here, no address)
    <prefix>-h1    eth0 198.18.0.3/22 ──┘  ...

Safety: everything is created *inside* lab namespaces; the root namespace only gains
the namespace files.  Veth pairs are created with both ends placed directly in lab
namespaces (never in the root one), no namespace has a default route, addresses must
lie in 198.18.0.0/15, and the root namespace's interface list is checked unchanged
after bring-up.  Stale namespaces with the lab's prefix are removed at start, and
teardown deletes all of the lab's namespaces (which deletes their veths).

The bridge forwards multicast to every port (no IGMP snooping), so a discovery request
multicast from the scanner namespace reaches every host; hosts have no default route and
send their multicast replies out of eth0 by IP_MULTICAST_IF.

Listening sockets (TCP services and UDP discovery responders joined to their multicast
groups) are created inside each host namespace from this process: a worker
thread enters the namespace with ``setns(2)`` (via ctypes; Python 3.11 has no
``os.setns``), binds, and returns to the original namespace; sockets keep the namespace
they were created in, so one asyncio loop in the root namespace serves them all.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import hashlib
import ipaddress
import json
import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
import weakref
from typing import Sequence

from camscan_lab.loopback import raise_fd_limit
from camscan_lab.profiles import LabHost, generate_lab
from camscan_lab.discovery_replies import Site
from camscan_lab.servers import DatagramBinding, LabRuntime, close_sockets, make_listener, make_responder_socket

log = logging.getLogger("camscan_lab")

CLONE_NEWNET = 0x40000000
SAFE_NETWORK = ipaddress.ip_network("198.18.0.0/15")
SAFE_NETWORK6 = ipaddress.ip_network("2001:2::/48")  # RFC 5180, IPv6 benchmarking
DEFAULT_NETWORK = "198.18.0.0/22"
NETNS_DIR = "/run/netns"
SCANNER_IFACE = "lab0"
NEIGHBOUR_TABLE_SLACK = 1024  # the rest of the machine's ARP entries, and room to spare
HOST_IFACE = "eth0"
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_live_labs: "weakref.WeakSet[NamespaceLab]" = weakref.WeakSet()
NEIGHBOUR_THRESHOLDS = [f"/proc/sys/net/ipv4/neigh/default/gc_thresh{level}" for level in (2, 3)]
RECEIVE_BACKLOG = "/proc/sys/net/core/netdev_max_backlog"
BACKLOG_PER_HOST = 16  # packets waiting per lab host: a broadcast is queued once per bridge port
_kernel_limits_before: dict[str, str] = {}  # the kernel's own values of the limits a lab has raised


def _kernel_limits(hosts: int) -> dict[str, int]:
    """The kernel limits a lab of ``hosts`` hosts needs, by /proc/sys path.

    Linux keeps one ARP table for all network namespaces, by default at most 1,024 entries
    (gc_thresh3). A lab of N hosts needs about 2N: each host's entry for the scanner and the
    scanner's for each host. Past the limit the kernel drops packets that need a new entry
    (/proc/net/stat/arp_cache ``table_fulls``). And each broadcast the scanner sends is
    queued once per bridge port in the receive backlog (netdev_max_backlog, 1,000 by
    default): an ARP sweep of a 1,000-host lab overflowed it, 22,000 packets dropped in one
    scan (/proc/net/softnet_stat) and a host missed now and then. A real network of that
    size, whose switch copies broadcasts in hardware, loses neither.
    """
    entries = 2 * hosts + NEIGHBOUR_TABLE_SLACK
    return {**{path: entries for path in NEIGHBOUR_THRESHOLDS}, RECEIVE_BACKLOG: BACKLOG_PER_HOST * hosts}


def _raise_kernel_limits(hosts: int) -> None:
    """Raise each limit :func:`_kernel_limits` names that is lower (restored by :func:`_restore_kernel_limits`)."""
    for path, wanted in _kernel_limits(hosts).items():
        try:
            with open(path) as handle:
                current = handle.read().strip()
            if int(current) >= wanted:
                continue
            _kernel_limits_before.setdefault(path, current)
            with open(path, "w") as handle:
                handle.write(str(wanted))
        except (OSError, ValueError):
            log.warning("could not raise %s to %s for the lab", path, wanted)


def _restore_kernel_limits() -> None:
    for path, value in _kernel_limits_before.items():
        try:
            with open(path, "w") as handle:
                handle.write(value)
        except OSError:
            log.warning("could not restore %s to %s", path, value)
    _kernel_limits_before.clear()


class NamespaceLabError(RuntimeError):
    """The namespace lab cannot be built here, or something went wrong building it."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def require_privileges() -> None:
    """Raise :class:`NamespaceLabError` unless we are root and iproute2 is installed."""
    if os.geteuid() != 0:
        raise NamespaceLabError("the namespace lab needs root (network namespaces, veths, bridge)")
    if shutil.which("ip") is None:
        raise NamespaceLabError("the namespace lab needs the 'ip' command (iproute2)")


def _run_ip(args: list[str], lines: Sequence[str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", *args]
    proc = subprocess.run(
        cmd,
        input=("\n".join(lines) + "\n") if lines is not None else None,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise NamespaceLabError(f"{' '.join(cmd)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def list_namespaces() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def cleanup_stale(prefix: str) -> list[str]:
    """Delete every namespace named ``<prefix>-*`` (left over from a crashed run)."""
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"bad lab prefix {prefix!r}")
    names = [n for n in list_namespaces() if n.startswith(prefix + "-")]
    if names:
        _run_ip(["-force", "-batch", "-"], [f"netns del {n}" for n in names], check=False)
    return names


def root_links() -> list[str]:
    """``index: name`` of every interface in this process's (root) namespace."""
    out = _run_ip(["-o", "link", "show"]).stdout
    return sorted(" ".join(line.split()[:2]) for line in out.splitlines() if line.strip())


def _scanner_mac(prefix: str) -> str:
    digest = hashlib.sha256(f"camscan-lab-scanner:{prefix}".encode()).digest()
    first = (digest[0] & 0xFC) | 0x02  # unicast, locally administered
    return ":".join(f"{b:02x}" for b in [first, *digest[1:6]])


class NamespaceLab:
    """Context manager bringing *hosts* up in network namespaces (root only).

    Attributes once up: ``scanner_netns`` (namespace to scan from), ``interface`` (the
    scanner's interface inside it), ``scanner_ip``, ``network``, ``hosts`` (truth),
    ``host_netns`` (ip -> namespace name), ``bringup_seconds``.
    """

    def __init__(
        self,
        hosts: Sequence[LabHost],
        prefix: str = "csl",
        network: str = DEFAULT_NETWORK,
        scanner_ip: str | None = None,
        workers: int = 8,
        ipv6_network: str | None = None,
    ) -> None:
        """``ipv6_network`` (inside 2001:2::/48) gives the scanner IPv6, its link-local address and
        the network's first address, and holds the hosts whose ``ip`` is IPv6 (IPv6-only hosts)."""
        require_privileges()
        if not _PREFIX_RE.match(prefix):
            raise ValueError("prefix must be 1-8 lowercase letters/digits, starting with a letter")
        net = ipaddress.ip_network(network, strict=False)
        if net.version != 4 or not net.subnet_of(SAFE_NETWORK):  # type: ignore[arg-type]
            raise ValueError(f"namespace lab networks must lie inside {SAFE_NETWORK}, not {network}")
        first = next(net.hosts())
        scanner = ipaddress.ip_address(scanner_ip) if scanner_ip else first
        if scanner not in net:
            raise ValueError(f"scanner address {scanner} is outside {net}")
        net6 = ipaddress.ip_network(ipv6_network) if ipv6_network else None
        if net6 is not None and (net6.version != 6 or not net6.subnet_of(SAFE_NETWORK6)):  # type: ignore[arg-type]
            raise ValueError(f"a namespace lab's IPv6 network must lie inside {SAFE_NETWORK6}, not {ipv6_network}")
        seen_ip, seen_mac = {str(scanner)}, set()
        for host in hosts:
            address = ipaddress.ip_address(host.ip)
            own = ipaddress.ip_network(host.network) if host.network else net
            if address.version == 6:
                if net6 is None or address not in net6:
                    raise ValueError(f"IPv6 host {host.ip} needs the lab's ipv6_network to hold it")
            elif own.version != 4 or not own.subnet_of(SAFE_NETWORK) or (own != net and own.overlaps(net)):  # type: ignore[arg-type]
                raise ValueError(f"host {host.ip}'s own network {own} must lie in {SAFE_NETWORK}, apart from {net}")
            elif address not in own or address in (own.network_address, own.broadcast_address):
                raise ValueError(f"host {host.ip} is not a host address of {own}")
            if host.ip in seen_ip:
                raise ValueError(f"address {host.ip} used twice (the scanner has {scanner})")
            if host.mac.lower() in seen_mac:
                raise ValueError(f"MAC {host.mac} used twice")
            seen_ip.add(host.ip)
            seen_mac.add(host.mac.lower())
        self.hosts = list(hosts)
        self.prefix = prefix
        self.network = str(net)
        self.prefixlen = net.prefixlen
        self.scanner_ip = str(scanner)
        self.ipv6_network = str(net6) if net6 else None
        self.scanner_ipv6 = str(next(net6.hosts())) if net6 else None
        self.scanner_mac = _scanner_mac(prefix)
        self.scanner_netns = f"{prefix}-scan"
        self.switch_netns = f"{prefix}-sw"
        self.interface = SCANNER_IFACE
        self.host_netns = {h.ip: f"{prefix}-h{i}" for i, h in enumerate(self.hosts)}
        self.workers = max(1, workers)
        self.runtime = LabRuntime("camscan-netns-lab")
        self.bringup_seconds: float | None = None
        self._sockets: list[socket.socket] = []
        self._bindings: list[tuple[LabHost, int, socket.socket]] = []
        self._datagram_bindings: list[DatagramBinding] = []
        self.site = Site(netmask=str(net.netmask))
        self._lock = threading.Lock()
        self._up = False

    @classmethod
    def generate(cls, n_hosts: int, seed: int, network: str = DEFAULT_NETWORK, **kw) -> "NamespaceLab":
        return cls(generate_lab(n_hosts, network, seed), network=network, **kw)

    # ------------------------------------------------------------------ public API

    @property
    def namespaces(self) -> list[str]:
        return [self.switch_netns, self.scanner_netns, *self.host_netns.values()]

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """*argv* prefixed to run inside the scanner's namespace."""
        return ["ip", "netns", "exec", self.scanner_netns, *argv]

    def run(self, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        """``subprocess.run`` of *argv* inside the scanner's namespace."""
        return subprocess.run(self.exec_argv(argv), **kwargs)

    def __enter__(self) -> "NamespaceLab":
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    # ------------------------------------------------------------------ bring-up

    def up(self) -> None:
        started = time.monotonic()
        raise_fd_limit()
        before = root_links()
        cleanup_stale(self.prefix)
        _live_labs.add(self)
        self._up = True
        _raise_kernel_limits(len(self.hosts))
        self._create_namespaces_and_links()
        self._configure_namespaces()
        after = root_links()
        if after != before:
            raise NamespaceLabError(f"root namespace interfaces changed during bring-up: {before} -> {after}")
        self._wait_for_forwarding()
        with self._lock:
            bindings = [(host, port, sock) for host, port, sock in self._bindings]
            datagram_bindings = list(self._datagram_bindings)
        self.runtime.serve(bindings)
        self.runtime.serve_datagrams(datagram_bindings)
        self.bringup_seconds = time.monotonic() - started
        log.info("namespace lab up: %d hosts in %.2fs", len(self.hosts), self.bringup_seconds)

    def _wait_for_forwarding(self, limit: float = 10.0) -> None:
        """Wait until every bridge port has carrier and forwards: the kernel turns veth
        carrier on lazily (linkwatch, up to a second), and frames sent before are dropped."""
        deadline = time.monotonic() + limit
        wanted = len(self.hosts) + 1
        while True:
            ports = json.loads(_run_ip(["-n", self.switch_netns, "-d", "-j", "link", "show", "master", "br0"]).stdout or "[]")
            ready = sum(
                1 for port in ports
                if port.get("operstate") == "UP"
                and port.get("linkinfo", {}).get("info_slave_data", {}).get("state") == "forwarding"
            )
            if ready >= wanted:
                return
            if time.monotonic() > deadline:
                raise NamespaceLabError(f"only {ready} of {wanted} lab links forward after {limit:.0f}s")
            time.sleep(0.05)

    def _create_namespaces_and_links(self) -> None:
        lines = [f"netns add {name}" for name in self.namespaces]
        lines.append(
            f"link add scan netns {self.switch_netns} type veth "
            f"peer name {SCANNER_IFACE} address {self.scanner_mac} netns {self.scanner_netns}"
        )
        for index, host in enumerate(self.hosts):
            lines.append(
                f"link add h{index} netns {self.switch_netns} type veth "
                f"peer name {HOST_IFACE} address {host.mac.lower()} netns {self.host_netns[host.ip]}"
            )
        self._root_batch(lines)

    def _root_batch(self, lines: list[str]) -> None:
        """Run *lines* in the root namespace, refusing anything that would touch it."""
        own = re.escape(self.prefix) + r"-[a-z0-9]+"
        allowed = re.compile(
            rf"^(netns add {own}|link add \S+ netns {own} type veth peer name \S+ address \S+ netns {own})$"
        )
        for line in lines:
            if not allowed.match(line):
                raise NamespaceLabError(f"refusing root-namespace command: {line}")
        _run_ip(["-batch", "-"], lines)

    def _configure_namespaces(self) -> None:
        plen = self.prefixlen
        jobs: "queue.Queue[tuple[str, list[str], LabHost | None]]" = queue.Queue()
        # No IGMP snooping: with it the bridge forwards a group only after seeing reports
        # (and a querier), so discovery multicast would reach hosts by timing, not by design.
        switch = [
            "link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
            "link set dev br0 addrgenmode none up",
        ]
        switch.append("link set dev scan master br0 addrgenmode none up")
        switch += [f"link set dev h{i} master br0 addrgenmode none up" for i in range(len(self.hosts))]
        jobs.put((self.switch_netns, switch, None))
        scanner_ipv6 = [f"addr add {self.scanner_ipv6}/{self._ipv6_prefixlen} dev {SCANNER_IFACE} nodad"] \
            if self.scanner_ipv6 else []
        jobs.put((
            self.scanner_netns,
            ["link set dev lo up", f"link set dev {SCANNER_IFACE} addrgenmode {'eui64' if self.scanner_ipv6 else 'none'}",
             f"addr add {self.scanner_ip}/{plen} dev {SCANNER_IFACE}", *scanner_ipv6, f"link set dev {SCANNER_IFACE} up"],
            None,
        ))
        for host in self.hosts:
            if ":" in host.ip:
                address = f"addr add {host.ip}/{self._ipv6_prefixlen} dev {HOST_IFACE} nodad"
            else:
                address = f"addr add {host.ip}/{ipaddress.ip_network(host.network).prefixlen if host.network else plen} dev {HOST_IFACE}"
            jobs.put((
                self.host_netns[host.ip],
                ["link set dev lo up", f"link set dev {HOST_IFACE} addrgenmode {'eui64' if self._has_ipv6(host) else 'none'}",
                 address, f"link set dev {HOST_IFACE} up"],
                host,
            ))
        errors: list[BaseException] = []
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            threads = [
                threading.Thread(target=self._worker, args=(jobs, home, errors), name=f"csl-setup-{i}", daemon=True)
                for i in range(min(self.workers, jobs.qsize()))
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            os.close(home)
        if errors:
            raise NamespaceLabError(f"namespace setup failed: {errors[0]}") from errors[0]

    def _worker(self, jobs: "queue.Queue", home: int, errors: list) -> None:
        while not errors:
            try:
                netns, lines, host = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
            except OSError as error:
                errors.append(error)
                return
            try:
                _setns(fd)
            except OSError as error:
                os.close(fd)
                errors.append(error)
                return
            try:
                self._inside(netns, lines, host)
            except BaseException as error:  # noqa: BLE001 - reported to the caller
                errors.append(error)
            finally:
                os.close(fd)
                try:
                    _setns(home)
                except OSError as error:  # this thread is stranded: end it, fail the lab
                    errors.append(NamespaceLabError(f"could not return to the original namespace: {error}"))
                    return

    @property
    def _ipv6_prefixlen(self) -> int:
        return ipaddress.ip_network(self.ipv6_network).prefixlen if self.ipv6_network else 128

    @staticmethod
    def _has_ipv6(host: LabHost) -> bool:
        return host.ipv6 or ":" in host.ip

    def _inside(self, netns: str, lines: list[str], host: LabHost | None) -> None:
        """Runs with this thread inside *netns*. IPv6 stays off but where the lab wants it; where it is
        on, duplicate address detection is off, so that addresses are usable at once."""
        ipv6 = self._has_ipv6(host) if host else netns == self.scanner_netns and self.scanner_ipv6 is not None
        interface = HOST_IFACE if host else SCANNER_IFACE
        # No router solicitations either: the lab has no router, and a test capturing the scanner's
        # link would see the kernel's own multicast (RFC 4861 §6.3.7) among what the scan sent.
        settings = {"disable_ipv6": "0" if ipv6 else "1",
                    **({"accept_dad": "0", "router_solicitations": "0"} if ipv6 else {})}
        for conf in ("all", "default", interface):
            for name, value in settings.items():
                try:
                    with open(f"/proc/sys/net/ipv6/conf/{conf}/{name}", "w") as handle:
                        handle.write(value)
                except OSError:
                    pass
        _run_ip(["-n", netns, "-batch", "-"], lines)
        if host is None:
            return
        made = []
        answering: list[DatagramBinding] = []
        try:
            for port in host.ports:
                made.append((host, port, make_listener(host.ip, port)))
            # The discovery responders are IPv4 (multicast groups of 224.0.0.0/4): none on an IPv6-only host.
            for protocol in host.udp_discovery if ":" not in host.ip else ():
                answering.append((host, protocol, make_responder_socket(protocol, host.ip, join_group=True), self.site, True))
        except BaseException:
            for sock in [made_sock for _, _, made_sock in made] + [binding[2] for binding in answering]:
                sock.close()
            raise
        with self._lock:
            self._bindings.extend(made)
            self._datagram_bindings.extend(answering)
            self._sockets.extend(sock for _, _, sock in made)
            self._sockets.extend(binding[2] for binding in answering)

    # ------------------------------------------------------------------ teardown

    def down(self) -> None:
        """Stop serving and delete every namespace of this lab (idempotent)."""
        self.runtime.stop()
        with self._lock:
            close_sockets(self._sockets)
        if not self._up:
            return
        existing = set(list_namespaces())
        names = [n for n in self.namespaces if n in existing]
        if names:
            _run_ip(["-force", "-batch", "-"], [f"netns del {n}" for n in names], check=False)
        leftover = [n for n in self.namespaces if n in set(list_namespaces())]
        for name in leftover:
            _run_ip(["netns", "del", name], check=False)
        self._up = False
        _live_labs.discard(self)
        if not _live_labs:
            _restore_kernel_limits()


@atexit.register
def _teardown_live_labs() -> None:  # pragma: no cover - only on abnormal exits
    for lab in list(_live_labs):
        try:
            lab.down()
        except Exception:
            pass
