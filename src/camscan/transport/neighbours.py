"""The kernel's own neighbour tables: MAC addresses for a scan that cannot send ARP itself, and IPv6 neighbours.

Without root there is no ARP sweep, but the kernel resolved every on-link host the TCP
sweep connected to, and Linux shows those entries to any user in ``/proc/net/arp``
(reading it sends nothing). Only complete entries count (flag ATF_COM, 0x2).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time

from camscan.model import Observation, canonical_mac

ARP_TABLE = "/proc/net/arp"
ATF_COM = 0x2  # the entry is resolved (linux/if_arp.h)
REREAD_SECONDS = 0.25  # a host's entry appears when the sweep connects: re-read at most this often


def parse_arp_table(text: str) -> dict[str, str]:
    """``{ip: mac}`` of the resolved entries of ``/proc/net/arp`` text."""
    found = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        try:
            complete = int(fields[2], 16) & ATF_COM
        except ValueError:
            continue
        mac = canonical_mac(fields[3])
        if complete and mac and mac != "00:00:00:00:00:00":
            found[fields[0]] = mac
    return found


class KernelNeighbours:
    """Looks addresses up in the kernel's ARP table, re-reading it at most every ``REREAD_SECONDS``."""

    def __init__(self, path: str = ARP_TABLE) -> None:
        self.path = path
        self._table: dict[str, str] = {}
        self._read_at = float("-inf")

    def mac_observation(self, ip: str, max_age: float = REREAD_SECONDS) -> Observation | None:
        """The ``mac.address`` the kernel holds for ``ip``, or None (off-link, silent, or no table);
        the table is read again for an address it lacks once it is ``max_age`` seconds old."""
        now = time.monotonic()
        if ip not in self._table and now - self._read_at >= max_age:
            try:
                with open(self.path) as handle:
                    self._table = parse_arp_table(handle.read())
            except OSError:
                self._table = {}
            self._read_at = now
        mac = self._table.get(ip)
        if mac is None:
            return None
        return Observation(ip=ip, source="neighbour", field="mac.address", value=mac, transport="arp",
                           observed_at=time.time())


def ipv6_neighbours(interface: str) -> list[tuple[ipaddress.IPv6Address, str]]:
    """``(address, MAC)`` of each IPv6 neighbour the kernel resolved on ``interface`` (reading sends nothing).

    A node answering camscan's Echo Request first solicits camscan's own MAC, and the
    kernel keeps the solicitation's source link-layer address (RFC 4861 §7.2.3).
    """
    try:
        listed = subprocess.run(["ip", "-j", "-6", "neigh", "show", "dev", interface], capture_output=True, text=True,
                                timeout=5, check=True).stdout
        entries = json.loads(listed or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    found = []
    for entry in entries:
        mac = canonical_mac(entry.get("lladdr"))
        try:
            address = ipaddress.IPv6Address(entry.get("dst", ""))
        except ValueError:
            continue
        if mac and not set(entry.get("state", ())) & {"FAILED", "INCOMPLETE"}:
            found.append((address, mac))
    return found
