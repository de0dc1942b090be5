"""The raw sweeps' pieces without a network: ARP and SYN frames, their BPF filters, the SYN
cookie, and the pacing of batched sends (on a fake clock: speed is measured in bench/)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether

from camscan.protocols import arp, tcp_syn
from camscan.transport import Pacer, bpf, paced_batches

OWN_MAC, OTHER_MAC, CAMERA_MAC = "02:00:5e:10:00:01", "02:00:5e:10:00:09", "44:19:b6:01:02:03"
SCANNER, CAMERA = "198.18.0.1", "198.18.0.77"
SECRET = bytes(range(16))
SWEEP_PORT = 40123

libpcap = ctypes.CDLL(ctypes.util.find_library("pcap") or "libpcap.so.0.8")
libpcap.bpf_filter.restype = ctypes.c_uint
libpcap.bpf_filter.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]


def accepts(program: bytes, packet: bytes) -> bool:
    """Whether libpcap's own interpreter of the program (the kernel's semantics) accepts the packet."""
    return libpcap.bpf_filter(program, packet, len(packet), len(packet)) > 0


def test_arp_requests_are_built_once_and_differ_only_in_the_target():
    frames = arp.build_requests(OWN_MAC, SCANNER, [CAMERA, "198.18.0.78"])
    assert frames[0] == arp.build_request(OWN_MAC, SCANNER, CAMERA)
    assert frames[0][:38] == frames[1][:38] and frames[1][38:] == bytes([198, 18, 0, 78])
    parsed = Ether(frames[0])
    assert (parsed.dst, parsed[ARP].op, parsed[ARP].psrc, parsed[ARP].pdst) == ("ff:ff:ff:ff:ff:ff", 1, SCANNER, CAMERA)


def arp_reply(to_mac: str, op: int = 2) -> bytes:
    return bytes(Ether(dst=to_mac, src=CAMERA_MAC) / ARP(op=op, hwsrc=CAMERA_MAC, psrc=CAMERA, hwdst=to_mac, pdst=SCANNER))


def test_the_arp_filter_passes_only_replies_addressed_to_us():
    program = bpf.compile_program(arp.reply_filter(OWN_MAC), bpf.LINKTYPE_ETHERNET)
    assert accepts(program, arp_reply(OWN_MAC))
    assert not accepts(program, arp_reply(OTHER_MAC)), "a reply to another host of the link"
    assert not accepts(program, arp_reply(OWN_MAC, op=1)), "a who-has"
    assert not accepts(program, arp.build_request(OWN_MAC, SCANNER, CAMERA)), "our own broadcast"
    assert not accepts(program, bytes(Ether(dst=OWN_MAC) / IP(src=CAMERA, dst=SCANNER) / UDP()))


def tcp_reply(flags: str, ack: int, to_port: int = SWEEP_PORT, sport: int = 554) -> bytes:
    return bytes(IP(src=CAMERA, dst=SCANNER) / TCP(sport=sport, dport=to_port, flags=flags, seq=7, ack=ack))


def test_the_syn_reply_filter_passes_syn_acks_and_resets_to_the_sweep_port_only():
    program = bpf.compile_program(tcp_syn.reply_filter(SWEEP_PORT), bpf.LINKTYPE_RAW_IP)
    assert accepts(program, tcp_reply("SA", 1)) and accepts(program, tcp_reply("RA", 1))
    assert not accepts(program, tcp_reply("SA", 1, to_port=SWEEP_PORT + 1)), "another connection's SYN-ACK"
    assert not accepts(program, tcp_reply("A", 1)) and not accepts(program, tcp_reply("PA", 1))
    assert not accepts(program, bytes(IP(src=CAMERA, dst=SCANNER) / UDP(sport=554, dport=SWEEP_PORT)))


def test_a_bad_filter_expression_is_a_filter_error():
    with pytest.raises(bpf.FilterError):
        bpf.compile_program("tcp and dst port", bpf.LINKTYPE_RAW_IP)


def test_prebuilt_syns_are_the_segment_a_stack_would_checksum_and_carry_no_payload():
    builder = tcp_syn.SynBuilder(SECRET, SWEEP_PORT)
    for destination, port in ((CAMERA, 554), ("198.18.255.254", 37777), ("198.19.3.4", 1)):
        segment = builder.build(SCANNER, destination, port)
        sequence = tcp_syn.cookie(SECRET, SCANNER, destination, SWEEP_PORT, port)
        assert segment == tcp_syn.build_syn(SCANNER, destination, SWEEP_PORT, port, sequence)
        parsed = TCP(segment)
        assert (parsed.sport, parsed.dport, parsed.seq, str(parsed.flags)) == (SWEEP_PORT, port, sequence, "S")
        assert bytes(parsed.payload) == b"" and parsed.options == [("MSS", tcp_syn.MSS)]
        # scapy computes the checksum over the same pseudo-header independently.
        unsummed = TCP(segment)
        del unsummed.chksum
        assert IP(bytes(IP(src=SCANNER, dst=destination) / unsummed))[TCP].chksum == parsed.chksum


def test_the_cookie_ties_a_reply_to_a_syn_of_this_scan():
    sequence = tcp_syn.cookie(SECRET, SCANNER, CAMERA, SWEEP_PORT, 554)
    assert tcp_syn.answers(SECRET, tcp_syn.parse_reply(tcp_reply("SA", sequence + 1))) == "open"
    assert tcp_syn.answers(SECRET, tcp_syn.parse_reply(tcp_reply("RA", sequence + 1))) == "closed"
    assert tcp_syn.answers(SECRET, tcp_syn.parse_reply(tcp_reply("SA", sequence))) is None, "not acknowledged"
    assert tcp_syn.answers(bytes(16), tcp_syn.parse_reply(tcp_reply("SA", sequence + 1))) is None, "another scan"
    assert tcp_syn.answers(SECRET, tcp_syn.parse_reply(tcp_reply("SA", sequence + 1, sport=80))) is None, \
        "a SYN-ACK from a port this SYN did not go to"
    assert tcp_syn.answers(SECRET, tcp_syn.parse_reply(tcp_reply("A", sequence + 1))) is None


def test_a_cookie_of_all_ones_is_acknowledged_as_zero():
    top = next(port for port in range(1, 65536)
               if tcp_syn.cookie(SECRET, SCANNER, CAMERA, SWEEP_PORT, port) >> 24 == 0xFF)
    sequence = tcp_syn.cookie(SECRET, SCANNER, CAMERA, SWEEP_PORT, top)
    reply = (CAMERA, top, SCANNER, SWEEP_PORT, (sequence + 1) & 0xFFFFFFFF, tcp_syn.SYN | tcp_syn.ACK)
    assert tcp_syn.answers(SECRET, reply) == "open"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # A timer never fires sooner than the event loop's millisecond.
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.001)


def test_the_pacer_hands_out_whole_tokens_as_time_pays_for_them():
    clock = FakeClock()
    pacer = Pacer(1000, clock=clock)
    assert pacer.take(100) == pacer.burst == 20
    assert pacer.take(100) == 0 and pacer.until_next() == pytest.approx(0.001)
    clock.now += 0.0075
    assert pacer.take(100) == 7
    pacer.give_back(3)
    assert pacer.take(2) == 2 and pacer.take(100) == 1
    assert pacer.reserve() == pytest.approx(0.0005)  # a reservation runs into debt ...
    clock.now += 0.001
    assert pacer.take(100) == 0  # ... which is paid off before the next batch


def test_paced_batches_send_every_item_once_at_the_pacers_rate(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(asyncio, "sleep", clock.sleep)
    pacer = Pacer(2000, clock=clock)

    async def drain() -> list[list[int]]:
        return [batch async for batch in paced_batches(pacer, iter(range(1024)))]

    batches = asyncio.run(drain())
    assert [item for batch in batches for item in batch] == list(range(1024))
    assert max(len(batch) for batch in batches) <= pacer.burst
    # 1,024 requests at 2,000/s: the first burst is free, the rest take (1024 - 40) / 2000 s.
    assert clock.now - 100.0 == pytest.approx((1024 - pacer.burst) / 2000, abs=0.002)


def test_after_a_syn_sweep_only_the_hosts_and_ports_that_answered_are_visited(tmp_path):
    from camscan.capture.reader import Recording, TcpConversation
    from camscan.scanner import Scan, ScanSettings
    from camscan.scope import Scope
    from camscan.store import Store
    from camscan.transport.replay import ReplayNetwork

    camera = "198.18.0.66"
    # A SYN sweep's answer as recorded: SYN, SYN-ACK 10 ms later, the scanner kernel's RST; never acknowledged.
    answered = TcpConversation((SCANNER, SWEEP_PORT), (camera, 554), True, [], 1.0, 1.01, [], False, True)
    network = ReplayNetwork(Recording(arp=[], datagrams=[], conversations=[answered], tls_keylog=b"", problems=[]))
    with Store(tmp_path / "camscan.db") as store:
        scan = Scan(Scope(["198.18.0.64/29"]), ScanSettings(ports=[80, 554], checks=frozenset(), channels=False),
                    store, store.start_scan(["198.18.0.64/29"], {}), network=network)
        devices = asyncio.run(scan.run())
    assert [(device.ip, [service.port for service in device.services]) for device in devices] == [(camera, [554])]
    assert scan.progress.hosts_done == scan.progress.total_hosts == 6
    kinds = {(send.kind, send.address if send.kind != "syn" else None) for send in network.attempted_sends}
    assert kinds == {("syn", None), ("conversation", camera)}, "no connect sweep, no host visited but the one that answered"


def test_a_host_whose_every_port_has_answered_is_visited_while_the_sweep_goes_on(tmp_path):
    from camscan.capture.reader import Recording
    from camscan.scanner import Scan, ScanSettings
    from camscan.scope import Scope
    from camscan.store import Store
    from camscan.transport.replay import ReplayNetwork, ReplayTransport
    from camscan.transport.synsweep import SweepReport

    camera = "198.18.0.66"

    class SweepStillGoing(ReplayTransport):
        visited_during_sweep = False

        def stateless_targets(self, hosts: list[str]) -> list[str]:
            return hosts

        async def syn_sweep(self, hosts, ports, on_answer) -> SweepReport:
            on_answer(camera, 80, False)  # RST: closed
            on_answer(camera, 554, True)  # SYN-ACK: open; every port of the camera has answered
            for _ in range(500):  # the rest of a long sweep
                if any(send.kind == "conversation" for send in self.sends):
                    self.visited_during_sweep = True
                    break
                await asyncio.sleep(0.01)
            return SweepReport()

    class Network(ReplayNetwork):
        def transport(self, scope, rate, concurrency, timeout):
            self.sweeping = SweepStillGoing(self.recording, scope, rate, timeout, self.scanner, self.attempted_sends)
            return self.sweeping

    network = Network(Recording(arp=[], datagrams=[], conversations=[], tls_keylog=b"", problems=[]))
    with Store(tmp_path / "camscan.db") as store:
        scan = Scan(Scope(["198.18.0.64/29"]), ScanSettings(ports=[80, 554], checks=frozenset(), channels=False,
                                                            timeout=30.0),
                    store, store.start_scan(["198.18.0.64/29"], {}), network=network)
        devices = asyncio.run(scan.run())
    assert network.sweeping.visited_during_sweep
    assert [(send.address, send.port) for send in network.attempted_sends] == [(camera, 554)], \
        "only the open port gets a conversation, the closed one not even a connect"
    assert [device.ip for device in devices] == [camera]
