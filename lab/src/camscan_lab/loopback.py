"""The loopback tier: every lab host on its own 127.x.y.z address, served in-process.

No interfaces, routes or namespaces are created: all of 127.0.0.0/8 is already local on
Linux, so each host's ports are simply bound on its loopback address.  There is no ARP
on loopback, so MACs exist only in the truth records.  Binding ports below 1024 needs
root.  With ``discovery=True`` hosts also answer discovery, unicast only (each host's UDP
sockets are bound to its own 127.x address; nothing is sent to a multicast group from
the root namespace); a discovery port another program already holds is skipped, never
fatal.
"""

from __future__ import annotations

import ipaddress
import os
import resource
import socket
from typing import Sequence

from camscan_lab.discovery_replies import ENDPOINTS, Site
from camscan_lab.profiles import LabHost, generate_lab
from camscan_lab.servers import LabRuntime, close_sockets, make_listener, make_responder_socket

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
DEFAULT_NETWORK = "127.77.0.0/22"


def raise_fd_limit(wanted: int = 65536) -> None:
    """Lift the soft open-files limit towards *wanted* (each port and connection is an fd)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # pragma: no cover
            pass


class LoopbackLab:
    """Context manager serving *hosts* on their 127.x addresses; ``__enter__`` returns them.

    >>> with LoopbackLab(generate_lab(20, "127.77.0.0/22", seed=1)) as hosts:
    ...     ...  # scan 127.77.0.0/22
    """

    def __init__(self, hosts: Sequence[LabHost], on_conflict: str = "raise", discovery: bool = False) -> None:
        if on_conflict not in ("raise", "skip"):
            raise ValueError("on_conflict must be 'raise' or 'skip'")
        for host in hosts:
            if ipaddress.ip_address(host.ip) not in LOOPBACK:
                raise ValueError(f"loopback lab host {host.ip} is outside 127.0.0.0/8")
        ips = [h.ip for h in hosts]
        if len(set(ips)) != len(ips):
            raise ValueError("two lab hosts share an address")
        self.hosts = list(hosts)
        self.on_conflict = on_conflict
        self.discovery = discovery
        self.skipped: list[tuple[str, int, str]] = []  # (ip, port, reason) not served
        self.runtime = LabRuntime("camscan-loopback-lab")
        self._sockets: list[socket.socket] = []

    @classmethod
    def generate(cls, n_hosts: int, seed: int, network: str = DEFAULT_NETWORK, **kw) -> "LoopbackLab":
        return cls(generate_lab(n_hosts, network, seed), **kw)

    def __enter__(self) -> list[LabHost]:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self.hosts

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        raise_fd_limit()
        bindings = []
        for host in self.hosts:
            for port in host.ports:
                if port < 1024 and os.geteuid() != 0:
                    raise PermissionError(f"binding {host.ip}:{port} needs root (ports below 1024)")
                try:
                    sock = make_listener(host.ip, port)
                except OSError as error:
                    if self.on_conflict == "skip":
                        self.skipped.append((host.ip, port, error.strerror or str(error)))
                        continue
                    raise OSError(error.errno, f"cannot bind {host.ip}:{port}: {error.strerror}") from None
                self._sockets.append(sock)
                bindings.append((host, port, sock))
        self.runtime.serve(bindings)
        if self.discovery:
            self.runtime.serve_datagrams(self._responders())

    def _responders(self) -> list:
        """Unicast-only discovery sockets, one per host and UDP discovery protocol that could be bound."""
        answering = []
        site = Site(netmask="255.0.0.0")
        for host in self.hosts:
            for protocol in host.udp_discovery:
                try:
                    sock = make_responder_socket(protocol, host.ip, join_group=False)
                except OSError as error:
                    self.skipped.append((host.ip, ENDPOINTS[protocol][0], f"udp {protocol}: {error.strerror or error}"))
                    continue
                self._sockets.append(sock)
                answering.append((host, protocol, sock, site, False))
        return answering

    def stop(self) -> None:
        self.runtime.stop()
        close_sockets(self._sockets)
