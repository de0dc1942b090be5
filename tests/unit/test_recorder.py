"""The recorder's capture threads, on a stand-in listening socket (no root, no network)."""

from __future__ import annotations

import os
import socket
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.utils import rdpcap

from camscan.capture.reader import load_recording
from camscan.transport.record import Recorder, RecordError, scan_options_from

FRAME = bytes(Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IP(src="198.18.0.2", dst="198.18.0.1")
              / UDP(sport=3702, dport=40000) / b"<ProbeMatches/>")


class SlowListener:
    """Frames queued in a real non-blocking socket, each read slowly (a capture thread that lags behind)."""

    def __init__(self, frames: list[tuple[bytes, float]], seconds_per_frame: float) -> None:
        self._reader, self._writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._reader.setblocking(False)
        self._stamps = [stamp for _, stamp in frames]
        for frame, _ in frames:
            self._writer.send(frame)
        self._delay = seconds_per_frame

    def fileno(self) -> int:
        return self._reader.fileno()

    def recv_raw(self):
        time.sleep(self._delay)
        return None, self._reader.recv(65535), self._stamps.pop(0)

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def test_stopping_writes_every_frame_still_queued_up_to_that_moment(tmp_path):
    now = time.time()
    frames = [(FRAME, now) for _ in range(60)] + [(FRAME, now + 3600)]  # the last arrives after the stop
    path = tmp_path / "scan.pcapng"
    recorder = Recorder(path, ["lab0"], ["198.18.0.0/22"], listen=lambda interface, bpf: SlowListener(frames, 0.01))
    recorder.start()
    recorder.stop()  # the thread is about 0.4 s behind here
    assert recorder.frames == 60
    assert len(rdpcap(str(path))) == 60


def test_the_recording_keeps_the_scan_options_for_its_replays(tmp_path):
    options = {"ports": [80, 554], "timeout": 2.0, "discovery": True, "multicast": True, "checks": ["rtsp-no-auth"]}
    path = tmp_path / "scan.pcapng"
    recorder = Recorder(path, ["lab0"], ["198.18.0.0/22"], listen=lambda interface, bpf: SlowListener([], 0),
                        scan_options=options)
    recorder.start()
    recorder.stop()
    assert scan_options_from(load_recording(path).comments) == options
    assert len(rdpcap(str(path))) == 0  # scapy, as Wireshark, reads our section header


def test_no_permission_to_capture_is_a_clear_error_and_writes_no_file(tmp_path):
    def refused(interface, bpf):
        raise PermissionError(1, "Operation not permitted")

    path = tmp_path / "scan.pcapng"
    with pytest.raises(RecordError, match="needs root"):
        Recorder(path, ["lab0"], ["198.18.0.0/22"], listen=refused).start()
    assert not path.exists()


# --------------------------------------------------------------------------- credentials kept out


def signed_request() -> bytes:
    body = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>'
            b'<wsse:Security><wsse:UsernameToken><wsse:Username>inventory</wsse:Username>'
            b'<wsse:Password Type="...#PasswordDigest">q1W2e3R4t5Y6u7I8o9P0a1S2d3F=</wsse:Password>'
            b'<wsse:Nonce EncodingType="...#Base64Binary">bm9uY2Utbm9uY2Utbm9uY2U=</wsse:Nonce>'
            b'<wsu:Created>2026-12-03T15:00:00Z</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>'
            b'<s:Body><tds:GetDeviceInformation/></s:Body></s:Envelope>')
    return (b"POST /onvif/device_service HTTP/1.1\r\nHost: 198.18.0.1\r\nAuthorization: Basic aW52ZW50b3J5OnB3\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


LINK = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")
SECRETS = (b"inventory", b"q1W2e3R4t5Y6u7I8o9P0a1S2d3F=", b"bm9uY2Utbm9uY2Utbm9uY2U=", b"aW52ZW50b3J5OnB3")


def test_credential_spans_cover_the_authorization_and_the_username_token():
    from camscan.protocols.http import credential_spans

    request = signed_request()
    spans = credential_spans(request)
    assert sorted(request[start:end] for start, end in spans) == sorted(SECRETS[:3] + (b"Basic " + SECRETS[3],))
    assert credential_spans(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n<Username>in the body of a GET reply?</Username>")[0]
    assert credential_spans(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == ()


def tcp_frames(ip_layer, request: bytes, cuts: list[int], isn: int = 4_294_967_000) -> list[bytes]:
    """A client's SYN and its request cut into segments at ``cuts`` (the sequence numbers wrap)."""
    # Both MACs given: scapy would otherwise ask the network (ARP, NDP) for the destination's.
    frames = [bytes(LINK / ip_layer / TCP(sport=40123, dport=80, flags="S", seq=isn))]
    edges = [0, *cuts, len(request)]
    for start, end in zip(edges, edges[1:]):
        seq = (isn + 1 + start) % (1 << 32)
        frames.append(bytes(LINK / ip_layer / TCP(sport=40123, dport=80, flags="PA", seq=seq) / request[start:end]))
    return frames


@pytest.mark.parametrize("ip_layer, server", [
    (IP(src="198.18.0.2", dst="198.18.0.1"), "198.18.0.1"),
    (IPv6(src="2001:2::2", dst="2001:2::1"), "2001:2::1"),
    (Dot1Q(vlan=20) / IP(src="198.18.0.2", dst="198.18.0.1"), "198.18.0.1"),
])
def test_concealed_spans_are_overwritten_across_segment_boundaries(ip_layer, server):
    import ipaddress

    from camscan.protocols.http import credential_spans
    from camscan.transport.record import ConcealedConnection, conceal_credentials

    request = signed_request()
    password_at = request.index(SECRETS[1])
    cuts = [100, password_at + 7, request.index(SECRETS[2]) + 1]  # secrets straddle two of the cuts
    connections = {(40123, ipaddress.ip_address(server).packed, 80): ConcealedConnection(credential_spans(request))}
    written = [conceal_credentials(frame, connections) for frame in tcp_frames(ip_layer, request, cuts)]
    stream = b"".join(bytes(Ether(frame)[TCP].payload) for frame in written[1:])
    originals = tcp_frames(ip_layer, request, cuts)
    assert len(stream) == len(request) and [len(frame) for frame in written] == [len(frame) for frame in originals]
    assert not [secret for secret in SECRETS if secret in stream]
    assert b"<wsse:UsernameToken><wsse:Username>XXXXXXXXX</wsse:Username>" in stream
    concealed = {index for start, end in credential_spans(request) for index in range(start, end)}
    assert all((stream[i] == ord("X")) if i in concealed else stream[i] == request[i] for i in range(len(request)))
    other = tcp_frames(IP(src="198.18.0.2", dst="198.18.0.9"), request, cuts)
    assert [conceal_credentials(frame, connections) for frame in other] == other, "other connections: as they are"


def test_a_concealed_connection_seen_without_its_syn_is_blanked_whole():
    import ipaddress

    from camscan.transport.record import ConcealedConnection, conceal_credentials

    request = signed_request()
    connections = {(40123, ipaddress.ip_address("198.18.0.1").packed, 80): ConcealedConnection(((0, 1),))}
    frame = tcp_frames(IP(src="198.18.0.2", dst="198.18.0.1"), request, [])[1]
    payload = bytes(Ether(conceal_credentials(frame, connections))[TCP].payload)
    assert payload == b"X" * len(request)


def test_the_recording_is_its_owners_only_and_conceals_what_the_transport_names(tmp_path):
    from camscan.protocols.http import credential_spans

    request = signed_request()
    frames = [(frame, time.time()) for frame in tcp_frames(IP(src="198.18.0.2", dst="198.18.0.1"), request, [700])]
    path = tmp_path / "scan.pcapng"
    recorder = Recorder(path, ["lab0"], ["198.18.0.0/22"], listen=lambda interface, bpf: SlowListener(frames, 0))
    recorder.conceal(40123, "198.18.0.1", 80, credential_spans(request))
    before = os.umask(0o022)  # under the usual umask a new file is readable by all
    try:
        recorder.start()
    finally:
        os.umask(before)
    recorder.stop()
    written = path.read_bytes()
    assert recorder.frames == 3 and b"GetDeviceInformation" in written
    assert not [secret for secret in SECRETS if secret in written]
    assert path.stat().st_mode & 0o777 == 0o600


def test_frames_keep_their_time_to_the_microsecond_and_keys_come_as_decryption_secrets(tmp_path):
    path = tmp_path / "scan.pcapng"
    stamp = 1764777600.123456
    recorder = Recorder(path, ["lab0"], ["198.18.0.0/24"], listen=lambda *_: SlowListener([(FRAME, stamp)], 0))
    with recorder:
        recorder.keylog_path.write_bytes(b"CLIENT_RANDOM 00 11\n")
        time.sleep(0.3)
    packets = rdpcap(str(path))
    assert [bytes(packet) for packet in packets] == [FRAME]
    assert float(packets[0].time) == pytest.approx(stamp, abs=1e-6)
    assert load_recording(path).tls_keylog == b"CLIENT_RANDOM 00 11\n"


def test_a_reply_with_secrets_is_blanked_whole_and_other_replies_stay():
    """A recorder's RemoteDevice table lists its own logins to its cameras: the reply of a
    connection concealed with ``reply`` is kept out of the file, the request as it was sent."""
    import ipaddress

    from camscan.transport.record import ConcealedConnection, conceal_credentials

    request = b"GET /cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice HTTP/1.1\r\nHost: x\r\n\r\n"
    table = b"HTTP/1.1 200 OK\r\n\r\ntable.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Password=cam-secret-1\r\n"
    server = ipaddress.ip_address("198.18.0.1").packed
    connections = {(40123, server, 80): ConcealedConnection((), reply=True)}
    sent = tcp_frames(IP(src="198.18.0.2", dst="198.18.0.1"), request, [])
    answer = bytes(LINK / IP(src="198.18.0.1", dst="198.18.0.2") / TCP(sport=80, dport=40123, flags="PA", seq=7) / table)
    other = bytes(LINK / IP(src="198.18.0.1", dst="198.18.0.2") / TCP(sport=80, dport=40124, flags="PA", seq=7) / table)
    assert [conceal_credentials(frame, connections) for frame in sent] == sent
    assert bytes(Ether(conceal_credentials(answer, connections))[TCP].payload) == b"X" * len(table)
    assert conceal_credentials(other, connections) == other
    without_reply = {(40123, server, 80): ConcealedConnection(((0, 3),))}
    assert conceal_credentials(answer, without_reply) == answer


def test_an_snmp_community_is_blanked_in_the_request_and_in_the_reply_that_echoes_it(tmp_path):
    from scapy.layers.inet import UDP
    from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind

    from camscan.protocols import snmp

    request = snmp.build_get("s3cret-community", snmp.SYSTEM_OIDS, 7)
    reply = bytes(SNMP(version=1, community=b"s3cret-community", PDU=SNMPresponse(id=7, varbindlist=[
        SNMPvarbind(oid="1.3.6.1.2.1.1.5.0", value=b"cam")])))
    frames = [
        (bytes(LINK / IP(src="198.18.0.2", dst="198.18.0.1") / UDP(sport=40000, dport=161) / request), time.time()),
        (bytes(LINK / IP(src="198.18.0.1", dst="198.18.0.2") / UDP(sport=161, dport=40000) / reply), time.time()),
        # The same community to another host (not concealed there: camscan never sent it one).
        (bytes(LINK / IP(src="198.18.0.2", dst="198.18.0.9") / UDP(sport=40000, dport=161) / request), time.time()),
    ]
    path = tmp_path / "scan.pcapng"
    recorder = Recorder(path, ["lab0"], ["198.18.0.0/22"], listen=lambda interface, bpf: SlowListener(frames, 0))
    recorder.conceal_datagrams("198.18.0.1", 161, snmp.blank_community("s3cret-community"))
    recorder.start()
    recorder.stop()
    written = path.read_bytes()
    assert recorder.frames == 3 and written.count(b"s3cret-community") == 1
    assert written.count(b"\x04\x10" + b"X" * 16) == 2, "the value blanked, the BER header kept"
    assert b"cam" in written, "the rest of the reply stays"


def test_a_recording_names_the_links_the_scan_multicast_on(monkeypatch, tmp_path):
    """What lets a replay multicast only where the scope holds the recorded link whole."""
    import ipaddress

    from camscan.scope import Scope
    from camscan.transport import network as network_module

    kept: dict = {}

    class KeptOptions:
        def __init__(self, path, interfaces, blocks, scan_options=None) -> None:
            kept.update(scan_options)

        def start(self) -> None:
            """Nothing to capture."""

    monkeypatch.setattr(network_module, "Recorder", KeptOptions)
    live = network_module.LiveNetwork(record=tmp_path / "scan.pcapng", scan_options={"ports": [80]})
    live.start_recording(Scope(["198.18.0.0/24"]), {"lab0": ["198.18.0.9"]}, [],
                         {"lab0": ipaddress.IPv4Interface("198.18.0.1/24")})
    assert kept == {"ports": [80], "multicast_links": ["198.18.0.1/24"]}
