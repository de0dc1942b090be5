"""ARP: who-has requests for a sweep, and the MAC addresses replies reveal."""

from __future__ import annotations

import socket
import struct

from camscan.model import Observation
from camscan.protocols import ProtocolError

BROADCAST = "ff:ff:ff:ff:ff:ff"
ETHERTYPE_ARP = b"\x08\x06"
ETH_P_ARP = 0x0806
REQUEST, REPLY = 1, 2


def reply_filter(own_mac: str) -> str:
    """The pcap filter of the ARP replies addressed to ``own_mac`` (the opcode is at byte 6 of the ARP header)."""
    return f"arp and ether dst {own_mac} and arp[6:2] = {REPLY}"


def build_requests(source_mac: str, source_ip: str, target_ips: list[str]) -> list[bytes]:
    """Ethernet broadcast who-has frames, one per target (RFC 826 over Ethernet II); all but
    the last four bytes (the target's address) are built once."""
    sender = bytes.fromhex(source_mac.replace(":", ""))
    # hardware type Ethernet, protocol IPv4, address lengths 6 and 4, opcode 1 (request)
    common = (b"\xff" * 6 + sender + ETHERTYPE_ARP + struct.pack("!HHBBH", 1, 0x0800, 6, 4, REQUEST)
              + sender + socket.inet_aton(source_ip) + b"\x00" * 6)
    return [common + socket.inet_aton(target_ip) for target_ip in target_ips]


def build_request(source_mac: str, source_ip: str, target_ip: str) -> bytes:
    """An Ethernet broadcast who-has for ``target_ip``."""
    return build_requests(source_mac, source_ip, [target_ip])[0]


def parse_frame(frame: bytes, source: str = "arp", at: float = 0.0) -> tuple[int, Observation]:
    """(opcode, the sender as a ``mac.address`` observation) of an Ethernet/IPv4 ARP frame (RFC 826)."""
    if len(frame) < 42 or frame[12:14] != ETHERTYPE_ARP:
        raise ProtocolError("not an ARP frame")
    hwtype, ptype, hwlen, plen, opcode = struct.unpack_from("!HHBBH", frame, 14)
    if (hwtype, ptype, hwlen, plen) != (1, 0x0800, 6, 4):
        raise ProtocolError("not an Ethernet/IPv4 ARP frame")
    mac = ":".join(f"{byte:02x}" for byte in frame[22:28])
    return opcode, Observation(ip=socket.inet_ntoa(frame[28:32]), source=source, field="mac.address", value=mac,
                               transport="arp", observed_at=at)


def parse_reply(frame: bytes, at: float = 0.0) -> Observation:
    """The sender of an ARP reply frame as a ``mac.address`` observation."""
    opcode, sender = parse_frame(frame, at=at)
    if opcode != REPLY:
        raise ProtocolError("not an ARP reply")
    return sender
