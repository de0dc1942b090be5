"""Discovery sockets against responders on loopback: unicast probes out, replies in, scope kept."""

from __future__ import annotations

import asyncio
import socket
import struct

from camscan.probes.discovery_probes import discovery_probes
from camscan.protocols import dhip
from camscan.protocols.spec import DiscoveryProbe
from camscan.scope import Scope
from camscan.transport import Pacer
from camscan.transport.discovery_sockets import DiscoverySockets, multicast_links

DEVICE = "127.0.31.10"
STRANGER = "127.0.31.99"
HEADER = struct.Struct("<8sIIQQ")


def dhip_reply(serial: str) -> bytes:
    body = (
        '{"method":"client.notifyDevInfo","params":{"deviceInfo":{"DeviceType":"IPC-HDW2431T-AS-S2",'
        f'"DeviceClass":"IPC","SerialNo":"{serial}","Vendor":"Dahua","Version":"2.800.0000000.25.R",'
        '"IPv4Address":{"IPAddress":"127.0.31.10"}}},"mac":"3c:ef:8c:11:22:33"}\n\x00'
    ).encode()
    return HEADER.pack(dhip.MAGIC, 0, 7, len(body), len(body)) + body


async def responder(
    bind_ip: str, port: int, answers: list[tuple[str, bytes]], heard: list[bytes]
) -> list[socket.socket]:
    """A UDP socket at bind_ip:port that answers each datagram with ``answers`` (sent from the given addresses)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind_ip, port))
    sock.setblocking(False)
    senders = {}
    for source, _ in answers:
        if source not in senders:
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.bind((source, 0))
            senders[source] = sender

    def on_readable() -> None:
        data, peer = sock.recvfrom(65535)
        heard.append(data)
        for source, payload in answers:
            senders[source].sendto(payload, peer)

    asyncio.get_running_loop().add_reader(sock.fileno(), on_readable)
    return [sock, *senders.values()]


def test_no_multicast_on_loopback_or_out_of_scope_links():
    assert multicast_links(Scope(["127.0.0.0/12"])) == {}


def test_unicast_probe_reply_parsed_and_out_of_scope_reply_dropped():
    async def scenario():
        probe = next(p for p in discovery_probes(seed=1) if p.name == "dhip")
        # Replies arrive at the socket the probe left from; the device answers from
        # another source port (accepted) and a stranger outside scope answers too (dropped),
        # as does a junk datagram (skipped by the parser, never a crash).
        heard: list[bytes] = []
        device_sockets = await responder(
            DEVICE, dhip.PORT,
            [(DEVICE, dhip_reply("7K0ABCDEF123456")), (STRANGER, dhip_reply("STRANGER")), (DEVICE, b"\x00junk")],
            heard,
        )
        received = []

        def on_datagram(found_probe: DiscoveryProbe, data: bytes, ip: str, port: int, at: float) -> None:
            received.append((found_probe.name, ip, data))

        sockets = DiscoverySockets(Scope([DEVICE]), Pacer(1000), [probe], {}, on_datagram)
        sockets.open()
        try:
            await sockets.send_unicast(DEVICE)
            for _ in range(50):
                if len(received) >= 2 and sockets.dropped_out_of_scope:
                    break
                await asyncio.sleep(0.02)
        finally:
            sockets.close()
            asyncio.get_running_loop().remove_reader(device_sockets[0].fileno())
            for sock in device_sockets:
                sock.close()
        assert heard == list(probe.requests)
        assert {ip for _, ip, _ in received} == {DEVICE}
        assert sockets.dropped_out_of_scope == 1
        parsed = [probe.parse(data, ip, 0, 0.0) for _, ip, data in received if data.startswith(dhip.MAGIC)]
        assert {seen.value for seen in parsed[0] if seen.field == "dhip.serial"} == {"7K0ABCDEF123456"}

    asyncio.run(scenario())


def test_unicast_to_an_address_outside_scope_is_refused():
    from camscan.transport.guard import OutOfScopeError

    async def scenario():
        sockets = DiscoverySockets(Scope([DEVICE]), Pacer(1000), discovery_probes(seed=2), {}, lambda *args: None)
        sockets.open()
        try:
            try:
                await sockets.send_unicast(STRANGER)
            except OutOfScopeError:
                return True
            return False
        finally:
            sockets.close()

    assert asyncio.run(scenario())
