"""The pcap/pcapng reader on captures written with scapy from hand-built packets."""

from __future__ import annotations

import os
import random
import struct
import threading
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, CookedLinux, Ether
from scapy.utils import PcapNgWriter, RawPcapWriter, wrpcap

from camscan.capture import reader
from camscan.capture.reader import (
    ArpFrame,
    BackgroundLoad,
    CaptureError,
    CaptureProblem,
    Datagram,
    TcpConversation,
    TlsKeyLog,
    iter_capture,
    load_recording,
)
from camscan.protocols import arp

CLIENT, SERVER = "198.18.80.2", "198.18.80.10"
CLIENT_MAC, SERVER_MAC = "02:00:00:00:00:02", "44:19:b6:00:00:10"
REQUEST = b"GET / HTTP/1.1\r\nHost: 198.18.80.10\r\n\r\n"
RESPONSE = b"HTTP/1.1 401 Unauthorized\r\nServer: App-webs/\r\nContent-Length: 0\r\n\r\n"


def _eth(src_mac: str, dst_mac: str):
    return Ether(src=src_mac, dst=dst_mac)


def segment(sender: str, flags: str, seq: int, ack: int = 0, data: bytes = b"", ts: float = 1.0):
    """A TCP segment of the test connection from "c" or "s"."""
    if sender == "c":
        packet = _eth(CLIENT_MAC, SERVER_MAC) / IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=80, flags=flags, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF)
    else:
        packet = _eth(SERVER_MAC, CLIENT_MAC) / IP(src=SERVER, dst=CLIENT) / TCP(sport=80, dport=40000, flags=flags, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF)
    if data:
        packet = packet / data
    packet.time = ts
    return packet


def http_exchange(c_isn: int = 1000, s_isn: int = 5000, reorder: bool = False, retransmit: bool = False):
    first, second = RESPONSE[:20], RESPONSE[20:]
    packets = [
        segment("c", "S", c_isn, ts=1.0),
        segment("s", "SA", s_isn, c_isn + 1, ts=1.001),
        segment("c", "A", c_isn + 1, s_isn + 1, ts=1.002),
        segment("c", "PA", c_isn + 1, s_isn + 1, REQUEST, ts=1.003),
    ]
    response = [segment("s", "PA", s_isn + 1, c_isn + 1 + len(REQUEST), first, ts=1.004),
                segment("s", "PA", s_isn + 1 + len(first), c_isn + 1 + len(REQUEST), second, ts=1.005)]
    if reorder:
        response.reverse()
    if retransmit:
        response.append(segment("s", "PA", s_isn + 1, c_isn + 1 + len(REQUEST), RESPONSE, ts=1.006))
    end = s_isn + 1 + len(RESPONSE)
    return packets + response + [
        segment("s", "FA", end, c_isn + 1 + len(REQUEST), ts=1.007),
        segment("c", "FA", c_isn + 1 + len(REQUEST), end + 1, ts=1.008),
        segment("s", "A", end + 1, c_isn + 2 + len(REQUEST), ts=1.009),
    ]


def discovery_packets():
    reply = Ether(src=SERVER_MAC, dst=CLIENT_MAC) / ARP(op=2, hwsrc=SERVER_MAC, psrc=SERVER, hwdst=CLIENT_MAC, pdst=CLIENT)
    reply.time = 0.5
    hello = Ether(src=SERVER_MAC, dst="01:00:5e:7f:ff:fa") / IP(src=SERVER, dst="239.255.255.250") / UDP(sport=3702, dport=3702) / b"<Hello/>"
    hello.time = 0.6
    return [reply, hello]


def only(items, kind):
    return [item for item in items if isinstance(item, kind)]


def test_pcap_conversation_datagram_and_arp(tmp_path):
    path = tmp_path / "scan.pcap"
    wrpcap(str(path), discovery_packets() + http_exchange())
    recording = load_recording(path)
    assert recording.problems == []
    [conversation] = recording.conversations
    assert conversation.client == (CLIENT, 40000) and conversation.server == (SERVER, 80)
    assert conversation.established
    assert conversation.turns == [("c", REQUEST), ("s", RESPONSE)]
    assert conversation.start == pytest.approx(1.0) and conversation.end == pytest.approx(1.008)  # emitted at the second FIN
    assert recording.datagrams == [Datagram(SERVER, 3702, "239.255.255.250", 3702, b"<Hello/>", pytest.approx(0.6))]
    [arp_frame] = recording.arp
    assert arp.parse_reply(arp_frame.frame).value == SERVER_MAC


@pytest.mark.parametrize("c_isn,s_isn", [(1000, 5000), (0xFFFFFFF0, 0xFFFFFFFA)])
def test_out_of_order_and_retransmitted_segments_reassemble(tmp_path, c_isn, s_isn):
    path = tmp_path / "reordered.pcap"
    wrpcap(str(path), http_exchange(c_isn, s_isn, reorder=True, retransmit=True))
    [conversation] = load_recording(path).conversations
    assert conversation.turns == [("c", REQUEST), ("s", RESPONSE)]


def test_ip_options_ethernet_padding_and_cut_frames(tmp_path):
    """The in-place Ethernet/IPv4/TCP path honours the header length, the IPv4 total length
    (not the padded frame) and a frame cut short by the capture's snap length."""
    packets = http_exchange()
    for packet in packets:
        packet[IP].options = [b"\x01\x01\x01\x00"]  # three NOPs and an end of options: IHL 6
        del packet[IP].ihl, packet[IP].len, packet[IP].chksum
    padded = [Ether(bytes(packet) + b"\x00" * 6) for packet in packets]
    for original, frame in zip(packets, padded):
        frame.time = original.time
    path = tmp_path / "options.pcap"
    wrpcap(str(path), padded)
    [conversation] = load_recording(path).conversations
    assert conversation.turns == [("c", REQUEST), ("s", RESPONSE)] and conversation.completed
    cut = tmp_path / "cut.pcap"
    with RawPcapWriter(str(cut), linktype=1, snaplen=14 + 24 + 20 + 10) as writer:
        writer.write_header(None)
        for packet in packets:
            frame = bytes(packet)
            writer.write_packet(frame[: 14 + 24 + 20 + 10], sec=int(packet.time), usec=0, wirelen=len(frame))
    [conversation] = load_recording(cut).conversations
    assert conversation.turns == [("c", REQUEST[:10]), ("s", RESPONSE[:10] + RESPONSE[20:30])]


def test_midstream_conversation_takes_low_port_as_server(tmp_path):
    path = tmp_path / "midstream.pcap"
    wrpcap(str(path), [p for p in http_exchange() if "S" not in str(p[TCP].flags)])
    [conversation] = load_recording(path).conversations
    assert conversation.server == (SERVER, 80) and not conversation.established
    assert conversation.turns == [("c", REQUEST), ("s", RESPONSE)]


def test_gap_that_never_fills_is_skipped(tmp_path):
    path = tmp_path / "gap.pcap"
    packets = http_exchange()
    del packets[4]  # the first response segment was never captured
    wrpcap(str(path), packets)
    [conversation] = load_recording(path).conversations
    assert conversation.turns == [("c", REQUEST), ("s", RESPONSE[20:])]


def test_streaming_emits_closed_conversation_before_end_of_file(tmp_path):
    path = tmp_path / "stream.pcap"
    later = segment("c", "S", 1, ts=9.0)
    later[TCP].sport = 40001
    wrpcap(str(path), http_exchange() + [later])
    kinds = [type(item) for item in iter_capture(path)]
    assert kinds == [TcpConversation, TcpConversation]


def test_fragmented_datagram_is_reassembled(tmp_path):
    path = tmp_path / "fragments.pcap"
    reply = b"<ProbeMatches>" + bytes(range(256)) * 8 + b"</ProbeMatches>"
    datagram = IP(src=SERVER, dst=CLIENT, id=77) / UDP(sport=3702, dport=50000) / reply
    pieces = [Ether(src=SERVER_MAC, dst=CLIENT_MAC) / piece for piece in fragment(datagram, fragsize=600)]
    assert len(pieces) == 4
    wrpcap(str(path), [pieces[2], pieces[0], pieces[3], pieces[1], pieces[1]])  # out of order, one repeated
    assert [d.payload for d in load_recording(path).datagrams] == [reply]
    wrpcap(str(path), pieces[:3])  # the last fragment never came
    assert load_recording(path).datagrams == []


def test_cooked_linux_capture(tmp_path):
    path = tmp_path / "sll.pcap"
    packets = []
    for packet in discovery_packets() + http_exchange():
        cooked = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=bytes.fromhex(packet[Ether].src.replace(":", "")) + b"\0\0",
                             proto=packet[Ether].type) / packet[Ether].payload
        cooked.time = packet.time
        packets.append(cooked)
    wrpcap(str(path), packets)
    recording = load_recording(path)
    assert recording.conversations[0].turns == [("c", REQUEST), ("s", RESPONSE)]
    assert arp.parse_reply(recording.arp[0].frame).value == SERVER_MAC
    assert len(recording.datagrams) == 1


def test_raw_ip_linktype(tmp_path):
    path = tmp_path / "raw.pcap"
    wrpcap(str(path), [bytes(p[IP]) for p in http_exchange()], linktype=101)
    assert load_recording(path).conversations[0].turns == [("c", REQUEST), ("s", RESPONSE)]


def write_pcapng_with_keylog(path, keylog: bytes, packets) -> None:
    """A pcapng whose first packets follow a TLS key log Decryption Secrets Block (hand-built, little-endian)."""
    with PcapNgWriter(str(path)) as writer:
        writer.write(packets[0])
        writer.flush()
    padded = keylog + b"\0" * (-len(keylog) % 4)
    block_length = 12 + 8 + len(padded)
    dsb = struct.pack("<IIII", 0x0A, block_length, 0x544C534B, len(keylog)) + padded + struct.pack("<I", block_length)
    with open(path, "ab") as stream:
        stream.write(dsb)
    with PcapNgWriter(str(path) + ".rest") as writer:
        for packet in packets[1:]:
            writer.write(packet)
    rest = (path.parent / (path.name + ".rest")).read_bytes()
    shb_length = struct.unpack("<I", rest[4:8])[0]
    idb_length = struct.unpack("<I", rest[shb_length + 4 : shb_length + 8])[0]
    with open(path, "ab") as stream:
        stream.write(rest[shb_length + idb_length :])


def test_pcapng_keylog_round_trip(tmp_path):
    path = tmp_path / "scan.pcapng"
    keylog = b"CLIENT_RANDOM " + b"ab" * 32 + b" " + b"cd" * 48 + b"\n"
    write_pcapng_with_keylog(path, keylog, discovery_packets() + http_exchange())
    recording = load_recording(path)
    assert recording.tls_keylog == keylog
    assert recording.problems == []
    assert recording.conversations[0].turns == [("c", REQUEST), ("s", RESPONSE)]
    assert only(iter_capture(path), TlsKeyLog) == [TlsKeyLog(keylog)]


def test_truncated_file_keeps_what_was_read(tmp_path):
    path = tmp_path / "cut.pcap"
    wrpcap(str(path), discovery_packets() + http_exchange())
    data = path.read_bytes()
    path.write_bytes(data[:-30])
    recording = load_recording(path)
    assert len(recording.problems) == 1 and "file ends inside a packet" in recording.problems[0]
    assert len(recording.arp) == 1 and len(recording.datagrams) == 1
    assert recording.conversations[0].turns == [("c", REQUEST), ("s", RESPONSE)]
    assert isinstance(list(iter_capture(path))[-1], CaptureProblem)


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_not_a_capture_is_a_clear_error(tmp_path, content):
    path = tmp_path / "garbage.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match="not a pcap or pcapng"):
        load_recording(path)


def test_missing_file_is_a_capture_error(tmp_path):
    with pytest.raises(CaptureError, match="cannot open"):
        load_recording(tmp_path / "absent.pcap")


@pytest.mark.parametrize("suffix", ["pcap", "pcapng"])
def test_fuzzed_captures_only_give_problems(tmp_path, suffix):
    path = tmp_path / f"valid.{suffix}"
    packets = discovery_packets() + http_exchange(reorder=True) + http_exchange(7, 9)
    if suffix == "pcap":
        wrpcap(str(path), packets)
    else:
        write_pcapng_with_keylog(path, b"CLIENT_RANDOM x y\n", packets)
    valid = path.read_bytes()
    rng = random.Random(4)
    fuzzed = tmp_path / f"fuzzed.{suffix}"
    for _ in range(300):
        data = bytearray(valid[: rng.randrange(len(valid) + 1)] if rng.random() < 0.4 else valid)
        for _flip in range(rng.randrange(1, 8)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        fuzzed.write_bytes(bytes(data))
        try:
            items = list(iter_capture(fuzzed))
        except CaptureError:
            continue
        assert all(isinstance(item, (Datagram, ArpFrame, TcpConversation, TlsKeyLog, CaptureProblem)) for item in items)
        assert not any(isinstance(item, CaptureProblem) for item in items[:-1])


def test_ipv6_datagram_and_nanosecond_pcap(tmp_path):
    path = tmp_path / "v6.pcap"
    packet = Ether(src=SERVER_MAC, dst="33:33:00:00:00:fb") / IPv6(src="fe80::4619:b6ff:fe00:10", dst="ff02::fb") \
        / UDP(sport=5353, dport=5353) / b"mdns"
    packet.time = 1.000000123
    wrpcap(str(path), [packet], nano=True)
    [datagram] = load_recording(path).datagrams
    assert (datagram.src, datagram.sport, datagram.payload) == ("fe80::4619:b6ff:fe00:10", 5353, b"mdns")
    assert datagram.ts == pytest.approx(1.000000123, abs=1e-9)


def test_memory_bounds_emit_conversations_early_and_cap_each_direction(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_CONVERSATIONS", 3)
    monkeypatch.setattr(reader, "MAX_DIRECTION_BYTES", 1000)
    path = tmp_path / "many.pcap"
    packets = []
    for index in range(6):  # six connections open at once, none closed
        syn = segment("c", "S", 10, ts=1.0 + index)
        syn[TCP].sport = 41000 + index
        packets.append(syn)
    big = segment("s", "PA", 100, 0, b"x" * 3000, ts=9.0)
    packets.append(big)
    wrpcap(str(path), packets)
    items = list(iter_capture(path))
    conversations = only(items, TcpConversation)
    assert len(conversations) == 7
    # the three oldest were emitted as soon as a fourth, fifth and sixth opened
    assert [c.client[1] for c in conversations[:3]] == [41000, 41001, 41002]
    [midstream] = [c for c in conversations if c.turns]
    assert midstream.turns == [("s", b"x" * 1000)]


def test_long_run_of_early_segments_skips_the_gap(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_PENDING_SEGMENTS", 4)
    path = tmp_path / "gappy.pcap"
    packets = [segment("c", "S", 0, ts=1.0), segment("s", "SA", 0, 1, ts=1.1)]
    packets += [segment("s", "PA", 1 + 10 * n, 1, b"%010d" % n, ts=2 + n) for n in range(1, 7)]  # byte 1..10 never came
    wrpcap(str(path), packets)
    [conversation] = only(iter_capture(path), TcpConversation)
    assert conversation.turns == [("s", b"".join(b"%010d" % n for n in range(1, 7)))]


def test_a_connect_the_client_completed_or_had_given_up_on(tmp_path):
    completed = [segment("c", "S", 1000, ts=1.0), segment("s", "SA", 5000, 1001, ts=1.001),
                 segment("c", "A", 1001, 5001, ts=1.002), segment("c", "RA", 1001, 5001, ts=1.003)]
    given_up = [segment("c", "S", 2000, ts=2.0), segment("s", "SA", 6000, 2001, ts=4.5),
                segment("c", "R", 2001, ts=4.5)]  # the SYN-ACK came after the connect timed out
    path = tmp_path / "connects.pcap"
    wrpcap(str(path), completed + given_up)
    first, second = load_recording(path).conversations
    assert (first.established, first.completed, first.client_reset, first.turns) == (True, True, True, [])
    assert (second.established, second.completed, second.client_reset) == (True, False, True)
    wrpcap(str(path), http_exchange())
    [exchange] = load_recording(path).conversations
    assert exchange.completed and not exchange.client_reset


def test_background_load_gives_what_load_recording_gives():
    fixture = Path(__file__).parents[2] / "pcaps" / "hikvision-nvr.pcapng"
    loading = BackgroundLoad(fixture)
    assert loading.forked  # pytest's main thread alone: the child process reads
    assert loading.result() == load_recording(fixture)


def test_background_load_reports_a_bad_file_like_load_recording(tmp_path):
    path = tmp_path / "garbage.pcap"
    path.write_bytes(b"hello, this is text\n")
    with pytest.raises(CaptureError, match="not a pcap or pcapng"):
        BackgroundLoad(path).result()


def test_a_reader_process_that_dies_is_a_capture_error(monkeypatch):
    monkeypatch.setattr(reader, "_load_for_parent", lambda path, sender: os._exit(3))
    with pytest.raises(CaptureError, match=r"ended without an answer \(exit code 3\)"):
        BackgroundLoad(Path(__file__).parents[2] / "pcaps" / "axis-p3245.pcapng").result()


def test_background_load_reads_in_process_while_another_thread_runs():
    fixture = Path(__file__).parents[2] / "pcaps" / "axis-p3245.pcapng"
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        loading = BackgroundLoad(fixture)
        assert not loading.forked
        assert loading.result() == load_recording(fixture)
    finally:
        stop.set()
        worker.join()
