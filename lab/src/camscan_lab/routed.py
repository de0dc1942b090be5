"""A routed lab: a scanner namespace, a router namespace, and live hosts behind the router (root only).

Layout (``prefix`` names the namespaces)::

    <prefix>-scan  lab0 198.18.0.1/30 ── 198.18.0.2 <prefix>-rt 198.18.0.5 ── 198.18.0.6 <prefix>-hosts
                   route: SWEPT via .2              forwards; blackhole SWEPT   every live address (/32)

The router forwards the live hosts' /32 routes to the hosts' namespace and drops the rest
of the swept block without a word (a blackhole route: no ARP, no ICMP), as a firewall in
front of a sparse network does. No namespace has a default route, every address lies in
198.18.0.0/15, and veths are created with both ends inside lab namespaces. A server
process in the hosts' namespace accepts connections on each live host's open ports and
closes them at once; a closed port answers a SYN with a RST, as a host's kernel does.
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

from camscan_lab.netns import SAFE_NETWORK, NamespaceLabError, _run_ip, cleanup_stale, list_namespaces, require_privileges

SCANNER_ADDRESS, ROUTER_NEAR, ROUTER_FAR, HOSTS_ADDRESS = "198.18.0.1", "198.18.0.2", "198.18.0.5", "198.18.0.6"
SCANNER_INTERFACE = "lab0"

# The server of the hosts' namespace: listens on every ip:port given, accepts and closes.
_SERVER = """
import selectors, socket, sys
chosen = selectors.DefaultSelector()
for spec in sys.argv[1:]:
    ip, port = spec.rsplit(":", 1)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((ip, int(port)))
    listener.listen(1024)
    listener.setblocking(False)
    chosen.register(listener, selectors.EVENT_READ)
print("listening", flush=True)
while True:
    for key, _ in chosen.select():
        try:
            key.fileobj.accept()[0].close()
        except OSError:
            pass
"""


class RoutedLab:
    """Context manager bringing the routed lab up, and down again however the block ends."""

    def __init__(self, swept: str, open_ports: Mapping[str, Sequence[int]], prefix: str = "csyn") -> None:
        """``swept``: the block behind the router; ``open_ports``: each live host's open ports."""
        self.swept = ipaddress.ip_network(swept)
        if not self.swept.subnet_of(SAFE_NETWORK):
            raise NamespaceLabError(f"{swept} is not inside {SAFE_NETWORK}")
        for ip in open_ports:
            if ipaddress.ip_address(ip) not in self.swept:
                raise NamespaceLabError(f"live host {ip} is not inside {swept}")
        self.open_ports = {ip: list(ports) for ip, ports in open_ports.items()}
        self.prefix = prefix
        self.scanner, self.router, self.hosts = f"{prefix}-scan", f"{prefix}-rt", f"{prefix}-hosts"
        self.interface = SCANNER_INTERFACE
        self._server: subprocess.Popen | None = None

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the scanner's namespace."""
        return ["ip", "netns", "exec", self.scanner, *argv]

    def __enter__(self) -> "RoutedLab":
        require_privileges()
        cleanup_stale(self.prefix)
        with contextlib.ExitStack() as undo:
            undo.callback(self.down)  # a lab half brought up is taken down again
            self._up()
            undo.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def _up(self) -> None:
        for name in (self.scanner, self.router, self.hosts):
            _run_ip(["netns", "add", name])
        _run_ip(["link", "add", SCANNER_INTERFACE, "netns", self.scanner, "type", "veth", "peer", "name", "near",
                 "netns", self.router])
        _run_ip(["link", "add", "far", "netns", self.router, "type", "veth", "peer", "name", "eth0",
                 "netns", self.hosts])
        self._inside(self.scanner, [
            f"addr add {SCANNER_ADDRESS}/30 dev {SCANNER_INTERFACE}", f"link set {SCANNER_INTERFACE} up",
            "link set lo up", f"route add {self.swept} via {ROUTER_NEAR}"])
        self._inside(self.router, [
            f"addr add {ROUTER_NEAR}/30 dev near", "link set near up", f"addr add {ROUTER_FAR}/30 dev far",
            "link set far up", "link set lo up", f"route add blackhole {self.swept}",
            *(f"route add {ip}/32 via {HOSTS_ADDRESS}" for ip in self.open_ports)])
        self._inside(self.hosts, [
            f"addr add {HOSTS_ADDRESS}/30 dev eth0", "link set eth0 up", "link set lo up",
            f"route add {SCANNER_ADDRESS}/32 via {ROUTER_FAR}",
            *(f"addr add {ip}/32 dev eth0" for ip in self.open_ports)])
        subprocess.run(["ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        listening = [f"{ip}:{port}" for ip, ports in self.open_ports.items() for port in ports]
        self._server = subprocess.Popen(["ip", "netns", "exec", self.hosts, sys.executable, "-c", _SERVER, *listening],
                                        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        if self._server.stdout is None or self._server.stdout.readline().strip() != "listening":
            raise NamespaceLabError("the routed lab's server did not start")
        self._wait_for_route()

    def _inside(self, namespace: str, commands: list[str]) -> None:
        _run_ip(["-n", namespace, "-batch", "-"], commands)

    def _wait_for_route(self, limit: float = 10.0) -> None:
        """Until the scanner connects to a live host through the router (the veths take a moment to come up)."""
        target = next(((ip, ports[0]) for ip, ports in self.open_ports.items() if ports), None)
        deadline = time.monotonic() + limit
        while target is not None:
            probe = f"import socket; socket.create_connection(({target[0]!r}, {target[1]}), 1).close()"
            if subprocess.run(self.exec_argv([sys.executable, "-c", probe]), capture_output=True).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise NamespaceLabError(f"the routed lab's router does not forward to {target[0]}")
            time.sleep(0.1)

    def down(self) -> None:
        if self._server is not None:
            self._server.kill()
            self._server.wait()
            self._server = None
        cleanup_stale(self.prefix)
        if any(name.startswith(f"{self.prefix}-") for name in list_namespaces()):
            raise NamespaceLabError(f"the routed lab's namespaces {self.prefix}-* are still there")
