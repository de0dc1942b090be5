"""DHCP (RFC 2131 message, RFC 2132 options): what a client tells the network about itself.

Only read, never built: passive analysis learns a client's hardware address, host name
(option 12), vendor class (option 60) and the address it asks for (option 50) or holds
(``ciaddr``), and from a server's ACK the address it was given (``yiaddr``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from camscan.model import Observation, canonical_mac
from camscan.protocols import ProtocolError

SERVER_PORT, CLIENT_PORT = 67, 68
MAGIC_COOKIE = b"\x63\x82\x53\x63"  # RFC 2131 section 3: 99.130.83.99 opens the options field
FIXED_HEADER = 236
BOOTREQUEST, BOOTREPLY = 1, 2
OPTION_PAD, OPTION_END = 0, 255
OPTION_HOST_NAME, OPTION_REQUESTED_IP, OPTION_MESSAGE_TYPE, OPTION_VENDOR_CLASS = 12, 50, 53, 60
MESSAGE_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}
UNSPECIFIED = "0.0.0.0"


@dataclass(frozen=True)
class DhcpMessage:
    """The fields of one DHCP message that say who a client is."""

    op: int
    message_type: str | None
    client_mac: str | None
    client_ip: str  # ciaddr
    your_ip: str  # yiaddr
    requested_ip: str | None
    host_name: str | None
    vendor_class: str | None

    @property
    def client_address(self) -> str | None:
        """The address the client is (or will be) using, if the message says."""
        if self.op == BOOTREPLY:
            return self.your_ip if self.message_type == "ACK" and self.your_ip != UNSPECIFIED else None
        for address in (self.client_ip, self.requested_ip):
            if address and address != UNSPECIFIED:
                return address
        return None


def _text(value: bytes) -> str | None:
    text = value.rstrip(b"\x00").decode("utf-8", "replace").strip()
    return "".join(ch for ch in text if ch.isprintable()) or None


def parse_message(data: bytes) -> DhcpMessage:
    """Decode a DHCP message; ProtocolError if it is not one (BOOTP without the cookie included)."""
    data = bytes(data)
    if len(data) < FIXED_HEADER + 4 or data[FIXED_HEADER : FIXED_HEADER + 4] != MAGIC_COOKIE:
        raise ProtocolError(f"not a DHCP message ({len(data)} bytes, no magic cookie at offset {FIXED_HEADER})")
    op, hardware_type, hardware_length = data[0], data[1], data[2]
    if op not in (BOOTREQUEST, BOOTREPLY):
        raise ProtocolError(f"DHCP op {op} is neither BOOTREQUEST nor BOOTREPLY")
    options: dict[int, bytes] = {}
    position = FIXED_HEADER + 4
    while position < len(data):
        code = data[position]
        if code == OPTION_END:
            break
        if code == OPTION_PAD:
            position += 1
            continue
        if position + 2 > len(data) or position + 2 + data[position + 1] > len(data):
            raise ProtocolError(f"DHCP option {code} runs past the end of the message")
        length = data[position + 1]
        # RFC 3396: a repeated option continues the first one
        options[code] = options.get(code, b"") + data[position + 2 : position + 2 + length]
        position += 2 + length
    mac = canonical_mac(data[28:34].hex()) if hardware_type == 1 and hardware_length == 6 else None
    requested = options.get(OPTION_REQUESTED_IP)
    kind = options.get(OPTION_MESSAGE_TYPE, b"")
    return DhcpMessage(
        op=op,
        message_type=MESSAGE_TYPES.get(kind[0]) if len(kind) == 1 else None,
        client_mac=mac,
        client_ip=str(ipaddress.IPv4Address(data[12:16])),
        your_ip=str(ipaddress.IPv4Address(data[16:20])),
        requested_ip=str(ipaddress.IPv4Address(requested)) if requested and len(requested) == 4 else None,
        host_name=_text(options[OPTION_HOST_NAME]) if OPTION_HOST_NAME in options else None,
        vendor_class=_text(options[OPTION_VENDOR_CLASS]) if OPTION_VENDOR_CLASS in options else None,
    )


def observations(message: DhcpMessage, at: float = 0.0) -> list[Observation]:
    """``dhcp.client_mac``, ``dhcp.host_name`` and ``dhcp.vendor_class`` for the client's address.

    A server's reply only binds the address to the hardware address; what the client said
    about itself comes from its own requests. Nothing if the message names no address.
    """
    ip = message.client_address
    if ip is None:
        return []
    fields = [("dhcp.client_mac", message.client_mac)]
    if message.op == BOOTREQUEST:
        fields += [("dhcp.host_name", message.host_name), ("dhcp.vendor_class", message.vendor_class)]
    return [
        Observation(ip=ip, source="dhcp", field=field, value=value, port=SERVER_PORT, transport="udp", observed_at=at)
        for field, value in fields
        if value
    ]
