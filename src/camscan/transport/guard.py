"""The send guard: the checks every packet and every byte camscan sends passes first.

The transports (live and replay) call these and nothing else to decide whether a send may
happen; a refusal raises, so a caller that forgot to check is stopped, not obeyed.
"""

from __future__ import annotations

import ipaddress

from camscan.scope import Scope

# Connect only: binary vendor protocols (Xiongmai 34567, Dahua 37777), SMB (445), and the
# printer ports 9100-9107, where any data sent is printed (nmap's version scan excludes
# 9100-9107 for the same reason: https://nmap.org/book/vscan-fileformat.html, "Exclude").
# A TCP connect (reset at once) may tell whether one is open; no byte may follow it.
CONNECT_ONLY = frozenset({445, 34567, 37777, *range(9100, 9108)})

# Multicast reaches every host of a link: a point-to-point /31 or /32 has neighbours camscan cannot know.
WIDEST_MULTICAST_PREFIX = 30


class RefusedSendError(RuntimeError):
    """A send the safety rules forbid was attempted, and refused before anything left."""


class OutOfScopeError(RefusedSendError):
    """A send to an address outside the authorised scope."""


class ConnectOnlyError(RefusedSendError):
    """Data (a request, or a TLS handshake) for a connect-only port."""


def guard(scope: Scope, ip: str) -> None:
    """Refuse, loudly, any packet to an address outside scope."""
    if not scope.allowed(ip):
        raise OutOfScopeError(f"refused to send to {ip}: it is outside the authorised scope")


def guard_conversation(scope: Scope, ip: str, port: int) -> None:
    """Refuse a conversation (any payload) with ``ip:port`` unless the address is in scope and
    the port takes data; a connect-only port gets a bare connect at most."""
    guard(scope, ip)
    if port in CONNECT_ONLY:
        raise ConnectOnlyError(f"refused to send data to {ip}:{port}: port {port} is connect-only")


def multicast_allowed(scope: Scope, network: ipaddress.IPv4Network) -> bool:
    """Whether a link's network may carry camscan's multicast: every host it can hold is in scope."""
    return network.prefixlen <= WIDEST_MULTICAST_PREFIX and scope.covers_network(str(network))


def guard_multicast(scope: Scope, network: ipaddress.IPv4Network) -> None:
    """Refuse, loudly, multicast on a link not wholly in scope."""
    if not multicast_allowed(scope, network):
        raise OutOfScopeError(f"refused to multicast on {network}: it is not wholly in scope")
