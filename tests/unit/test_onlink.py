"""Hearing the in-scope links: devices claiming addresses outside scope, and IPv6 neighbours."""

from __future__ import annotations

import ipaddress

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6MLReport2, ICMPv6ND_NS, IPv6, IPv6ExtHdrHopByHop, RouterAlert
from scapy.layers.l2 import ARP, Ether

from camscan.onlink import LinkHearing, link_filter
from camscan.protocols import ProtocolError, icmpv6
from camscan.scope import Scope

LINK = {"lab0": ipaddress.IPv4Interface("198.18.20.1/24")}
FACTORY = "198.19.77.64"  # stands for a factory address (192.168.1.64) outside the scanned network
CAMERA_MAC = "58:50:ed:1f:00:10"
SADP_REPLY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<ProbeMatch>\n<Uuid>1F9B2A6C-4E1D-4F5A-9C3E-7A2B5D8E0C11</Uuid>\n'
              b"<Types>inquiry</Types>\n<DeviceType>141945</DeviceType>\n<DeviceDescription>DS-2CD2385G1-I</DeviceDescription>\n"
              b"<DeviceSN>DS-2CD2385G1-I20200414AAWRE12345678</DeviceSN>\n<MAC>58-50-ed-1f-00-10</MAC>\n"
              b"<IPv4Address>198.19.77.64</IPv4Address>\n<Activated>false</Activated>\n</ProbeMatch>\n")


def hearing() -> LinkHearing:
    return LinkHearing(Scope(["198.18.20.0/24"]), LINK)


def test_a_sadp_reply_from_outside_scope_is_a_device_on_the_link():
    heard = hearing()
    frame = Ether(src=CAMERA_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=FACTORY, dst="239.255.255.250") / UDP(
        sport=37020, dport=37020) / SADP_REPLY
    heard.feed("lab0", bytes(frame), 1.0)
    [device] = heard.outside.values()
    said = {(seen.field, seen.value) for seen in device.observations.values()}
    assert (device.ip, device.interface, device.network) == (FACTORY, "lab0", "198.18.20.0/24")
    assert ("mac.address", CAMERA_MAC) in said and ("sadp.description", "DS-2CD2385G1-I") in said, said


def test_arp_requests_and_gratuitous_arp_name_the_sender():
    heard = hearing()
    who_has = Ether(src=CAMERA_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=CAMERA_MAC, psrc=FACTORY, pdst="198.19.77.1")
    gratuitous = Ether(src="00:11:22:33:44:55", dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc="00:11:22:33:44:55", psrc="198.19.0.108", pdst="198.19.0.108")
    probe = Ether(src="00:11:22:33:44:66") / ARP(op=1, hwsrc="00:11:22:33:44:66", psrc="0.0.0.0", pdst="198.19.0.9")
    for frame in (who_has, gratuitous, probe):
        heard.feed("lab0", bytes(frame), 1.0)
    assert set(heard.outside) == {FACTORY, "198.19.0.108"}, "an ARP probe (sender 0.0.0.0) claims no address"
    assert {seen.value for seen in heard.outside[FACTORY].observations.values()} == {CAMERA_MAC}


def test_in_scope_senders_and_other_links_are_left_to_the_scan():
    heard = hearing()
    in_scope = Ether(src=CAMERA_MAC) / IP(src="198.18.20.9", dst="239.255.255.250") / UDP(sport=37020, dport=37020) / SADP_REPLY
    heard.feed("lab0", bytes(in_scope))
    heard.feed("eth9", bytes(Ether(src=CAMERA_MAC) / ARP(op=1, hwsrc=CAMERA_MAC, psrc=FACTORY, pdst=FACTORY)))
    heard.feed("lab0", b"\x00" * 20)  # junk is no device
    assert heard.outside == {} and heard.ipv6 == {}


def test_a_request_from_outside_scope_says_nothing_about_a_device():
    """Another tool's SADP inquiry is the asker's, not a device's description."""
    heard = hearing()
    inquiry = b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>1F9B2A6C-4E1D-4F5A-9C3E-7A2B5D8E0C11</Uuid><Types>inquiry</Types></Probe>'
    frame = Ether(src=CAMERA_MAC) / IP(src=FACTORY, dst="239.255.255.250") / UDP(sport=37020, dport=37020) / inquiry
    heard.feed("lab0", bytes(frame))
    assert heard.outside == {}


@pytest.mark.parametrize("message", [
    IPv6(src="fe80::5a50:edff:fe1f:10", dst="fe80::1") / ICMPv6EchoReply(id=7, seq=0),
    IPv6(src="fe80::5a50:edff:fe1f:10", dst="ff02::1:ff00:1") / ICMPv6ND_NS(tgt="fe80::1"),
    IPv6(src="fe80::5a50:edff:fe1f:10", dst="ff02::16") / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / ICMPv6MLReport2(),
])
def test_ipv6_neighbours_are_heard_by_their_echo_replies_neighbour_discovery_and_mld(message):
    heard = hearing()
    heard.feed("lab0", bytes(Ether(src=CAMERA_MAC, dst="02:00:00:00:00:01") / message))
    assert {mac: neighbour.addresses for mac, neighbour in heard.ipv6.items()} == {
        CAMERA_MAC: {"fe80::5a50:edff:fe1f:10%lab0"}}


def test_an_echo_request_or_duplicate_address_detection_is_no_neighbour_address():
    heard = hearing()
    heard.feed("lab0", bytes(Ether(src=CAMERA_MAC) / IPv6(src="fe80::9", dst="ff02::1") / ICMPv6EchoRequest()))
    heard.feed("lab0", bytes(Ether(src=CAMERA_MAC) / IPv6(src="::", dst="ff02::1:ff00:9") / ICMPv6ND_NS(tgt="fe80::9")))
    assert heard.ipv6 == {}


def test_the_echo_request_is_rfc_4443s_with_the_checksum_left_to_the_kernel():
    request = icmpv6.build_echo_request(0x1234, 1)
    assert request[:8] == bytes([128, 0, 0, 0, 0x12, 0x34, 0, 1])
    with pytest.raises(ProtocolError):
        icmpv6.parse_frame(bytes(Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IP(src="127.0.0.2", dst="127.0.0.1") / UDP()))


def test_the_link_filter_takes_arp_icmpv6_and_discovery_ports_only():
    from scapy.arch.common import compile_filter

    compile_filter(link_filter())  # a filter libpcap accepts
    assert "port 37020" in link_filter() and "port 5353" in link_filter() and "arp" in link_filter()


def test_a_fragmented_reply_is_reassembled_before_it_is_read():
    """A SADP reply outgrows one Ethernet frame: the kernel fragments it (RFC 791)."""
    from scapy.layers.inet import fragment

    heard = hearing()
    padded = SADP_REPLY.replace(b"</ProbeMatch>", b"<Salt>" + b"0f" * 800 + b"</Salt>\n</ProbeMatch>")
    packet = IP(src=FACTORY, dst="239.255.255.250") / UDP(sport=37020, dport=37020) / padded
    pieces = fragment(packet, fragsize=1480)
    assert len(pieces) == 2
    for piece in pieces:
        heard.feed("lab0", bytes(Ether(src=CAMERA_MAC, dst="01:00:5e:7f:ff:fa") / piece), 1.0)
    said = {(seen.field, seen.value) for seen in heard.outside[FACTORY].observations.values()}
    assert ("sadp.description", "DS-2CD2385G1-I") in said
