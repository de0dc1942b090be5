"""The authorised scope: parsing targets and scope files, and the one ``allowed(ip)`` decision."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Iterator
from pathlib import Path

from netaddr import IPNetwork, IPRange, IPSet, spanning_cidr

from camscan.errors import UserError


class ScopeError(UserError, ValueError):
    """A target, exclusion or scope file could not be accepted."""


def parse_target(text: str, hosts_only: bool = False) -> IPSet:
    """An IP, a CIDR block or a range (``a.b.c.d-e.f.g.h`` or ``a.b.c.d-h``) as a set.

    With ``hosts_only`` an IPv4 block loses its network and broadcast addresses.
    """
    spec = text.strip()
    try:
        if "-" in spec:
            start, end = (part.strip() for part in spec.split("-"))
            if "." not in end and ":" not in end:
                end = start.rsplit(".", 1)[0] + "." + end
            return IPSet(IPRange(start, end))
        network = IPNetwork(spec)
        block = IPSet(network)
        if hosts_only and network.version == 4 and (broadcast := network.broadcast) is not None:
            # A block's network and broadcast addresses are not hosts (netaddr gives a /31 or /32,
            # RFC 3021's point-to-point links, no broadcast address: both its addresses are hosts).
            block.remove(network.network)
            block.remove(broadcast)
        return block
    except Exception as error:
        raise ScopeError(
            f"{text!r} is not an IP address, CIDR block (198.18.0.0/24) or range (198.18.0.1-20): {error}"
        ) from None


def read_scope_file(path: str | Path) -> list[str]:
    """Target specs from a file: one per line, ``#`` starts a comment."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise ScopeError(f"cannot read scope file {path}: {error.strerror}") from None
    specs = (line.partition("#")[0].strip() for line in lines)
    return [spec for spec in specs if spec]


MAX_ADDRESSES = 1 << 20
MAX_REMEMBERED_VERDICTS = 1 << 16  # addresses whose scope verdict is kept (the cache starts over beyond)
# IPv4-mapped and NAT64 addresses reach IPv4 hosts under another name.
TRANSLATED_IPV4 = IPSet(["::ffff:0:0/96", "64:ff9b::/96"])

# IANA special-purpose blocks (RFC 6890 and successors): everything else is public.
NON_PUBLIC = IPSet([
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
    "::1/128", "::/128", "fc00::/7", "fe80::/10", "2001:db8::/32",
    "2001:2::/48",  # RFC 5180: IPv6 benchmarking, the IPv6 counterpart of 198.18.0.0/15
])

# Addresses that are never a host to scan, whatever the flags (a target that includes one is refused).
NEVER_TARGETS = {
    # RFC 1122 3.2.1.3: "this host on this network", never a destination; Linux nonetheless routes
    # 0.0.0.1 and its neighbours out of the default interface.
    "0.0.0.0/8": "'this network' (RFC 1122), not a host",
    "224.0.0.0/4": "multicast (RFC 5771), which reaches a whole group",
    # RFC 1112 4 reserves 240/4; RFC 919 makes 255.255.255.255 the broadcast to the whole link.
    "240.0.0.0/4": "reserved (RFC 1112) or the limited broadcast 255.255.255.255 (RFC 919)",
    "::/128": "the unspecified address (RFC 4291 2.5.2), not a host",
    "ff00::/8": "IPv6 multicast (RFC 4291 2.7), which reaches a whole group",
}
# This machine itself: a target only where a target names nothing else (127.0.0.1, 127.0.0.0/8, ::1).
LOOPBACK = IPSet(["127.0.0.0/8", "::1/128"])


def format_ranges(addresses: IPSet, most: int | None = None) -> str:
    """Addresses as ranges, e.g. ``198.18.0.1-198.18.0.20, 198.18.0.30``; past ``most`` ranges, `` ...``."""
    spans = list(addresses.iter_ipranges())
    shown = spans if most is None else spans[:most]
    text = ", ".join(str(span[0]) if span.size == 1 else f"{span[0]}-{span[-1]}" for span in shown)
    return text + (" ..." if spans[len(shown):] else "")


ERROR_RANGES = 3  # ranges an error message names


def refuse_non_hosts(authorised: IPSet, named_loopback: IPSet) -> None:
    """Refuse a scope holding an address that is never a host (``NEVER_TARGETS``), or loopback
    that no target named on its own."""
    for block, what in NEVER_TARGETS.items():
        caught = authorised & IPSet([block])
        if caught.size:
            raise ScopeError(f"{format_ranges(caught, ERROR_RANGES)} is {what}: never a target; name host addresses only "
                             f"(or --exclude {block})")
    stray = (authorised & LOOPBACK) - named_loopback
    if stray.size:
        raise ScopeError(f"{format_ranges(stray, ERROR_RANGES)} is loopback (this machine) reached through a wider target; "
                         "name loopback on its own (e.g. 127.0.0.1 or 127.0.0.0/8) to scan it, or --exclude it")


class Scope:
    """What the user authorised: targets, narrowed by a scope file, minus exclusions.

    Every packet camscan sends passes :meth:`allowed`; nothing else decides.
    """

    def __init__(
        self,
        targets: Iterable[str],
        scope_specs: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        allow_public: bool = False,
    ) -> None:
        self.targets = list(targets)
        if not self.targets:
            raise ScopeError("no targets given: name at least one IP, CIDR block or range")
        authorised = IPSet()
        named_loopback = IPSet()
        for spec in self.targets:
            block = parse_target(spec, hosts_only=True)
            authorised |= block
            if block.issubset(LOOPBACK):
                named_loopback |= block
        if scope_specs is not None:
            boundary = IPSet()
            for spec in scope_specs:
                boundary |= parse_target(spec)
            authorised &= boundary
        for spec in exclude:
            authorised -= parse_target(spec)
        self.allow_public = allow_public
        refuse_non_hosts(authorised, named_loopback)
        translated = authorised & TRANSLATED_IPV4
        if translated.size:
            raise ScopeError(
                f"{format_ranges(translated, ERROR_RANGES)} embed IPv4 addresses in IPv6; name the IPv4 addresses instead "
                "so that exclusions and the public-address check apply to them"
            )
        public = authorised - NON_PUBLIC
        if public.size and not allow_public:
            raise ScopeError(
                f"{format_ranges(public, ERROR_RANGES)} are public (Internet) addresses; camscan scans them only with "
                "--allow-public, and only where you are authorised to"
            )
        if authorised.size > MAX_ADDRESSES:
            raise ScopeError(
                f"the scope holds {authorised.size:,} addresses; camscan sweeps at most {MAX_ADDRESSES:,} "
                "per scan: split it into several scans"
            )
        self._set = authorised
        # Every packet asks: answer by bisection over sorted integer ranges, and remember the answer.
        self._verdicts: dict[str, bool] = {}
        self._ranges: dict[int, tuple[list[int], list[int]]] = {}
        # Per version, how many addresses of the scope's order (``hosts``) precede each range.
        self._preceding: dict[int, list[int]] = {}
        preceding = 0
        for span in authorised.iter_ipranges():
            firsts, lasts = self._ranges.setdefault(span.version, ([], []))
            firsts.append(span.first)
            lasts.append(span.last)
            self._preceding.setdefault(span.version, []).append(preceding)
            preceding += span.size

    def allowed(self, ip: str) -> bool:
        """True only for an address inside the authorised scope."""
        verdict = self._verdicts.get(ip) if isinstance(ip, str) else None
        if verdict is None:
            verdict = self._decide(ip)
            if isinstance(ip, str):
                if len(self._verdicts) >= MAX_REMEMBERED_VERDICTS:
                    self._verdicts.clear()
                self._verdicts[ip] = verdict
        return verdict

    def _decide(self, ip: str) -> bool:
        return self.position(ip) is not None

    def position(self, ip: str) -> int | None:
        """Where an address stands in the order ``hosts`` yields (None: not in scope)."""
        try:
            address = ipaddress.ip_address(ip)
        except (ValueError, TypeError):
            return None
        firsts, lasts = self._ranges.get(address.version, ((), ()))
        index = bisect.bisect_right(firsts, int(address)) - 1
        if index < 0 or int(address) > lasts[index]:
            return None
        return self._preceding[address.version][index] + int(address) - firsts[index]

    def covers_network(self, network: str) -> bool:
        """True when every host address of ``network`` (e.g. ``198.18.0.0/22``) is in scope.

        Multicast reaches a whole link, so discovery multicasts only on a link in scope.
        """
        try:
            net = IPNetwork(network)
            hosts = IPRange(net.first + 1, net.last - 1) if net.size > 2 else net
            return self._set.issuperset(IPSet(hosts))
        except Exception:
            return False

    def blocks(self) -> list[str]:
        """The smallest CIDR block around each range of the scope, e.g. ``["198.18.0.0/22"]``
        (a superset: for capture filters, never for deciding where to send)."""
        return [str(spanning_cidr([span[0], span[-1]])) for span in self._set.iter_ipranges()]

    def hosts(self) -> Iterator[str]:
        """Every address to probe, in order."""
        for cidr in self._set.iter_cidrs():
            yield from (str(ip) for ip in cidr)

    @property
    def size(self) -> int:
        """Addresses in scope."""
        return self._set.size

    def __contains__(self, ip: str) -> bool:
        return self.allowed(ip)

    def describe(self) -> str:
        """The scope as address ranges, e.g. ``198.18.0.1-198.18.3.254``."""
        return format_ranges(self._set) or "(empty)"
