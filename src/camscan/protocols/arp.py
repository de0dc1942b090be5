"""ARP: who-has requests for a sweep, and the MAC addresses replies reveal."""

from __future__ import annotations

from scapy.layers.l2 import ARP, Ether

from camscan.model import Observation
from camscan.protocols import ProtocolError

BROADCAST = "ff:ff:ff:ff:ff:ff"
REPLY_FILTER = "arp and arp[6:2] = 2"


def build_request(source_mac: str, source_ip: str, target_ip: str) -> bytes:
    """An Ethernet broadcast who-has for ``target_ip``."""
    return bytes(Ether(src=source_mac, dst=BROADCAST) / ARP(op=1, hwsrc=source_mac, psrc=source_ip, pdst=target_ip))


def parse_reply(frame: bytes, at: float = 0.0) -> Observation:
    """The sender of an ARP reply frame as a ``mac.address`` observation."""
    try:
        packet = Ether(frame)
    except Exception as error:
        raise ProtocolError(f"unreadable Ethernet frame: {error}") from None
    arp = packet.getlayer(ARP)
    if arp is None or arp.op != 2:
        raise ProtocolError("not an ARP reply")
    return Observation(ip=arp.psrc, source="arp", field="mac.address", value=arp.hwsrc.lower(), transport="arp", observed_at=at)
