"""The replay transport on hand-made recordings: matching, timeouts, HTTPS with and without keys."""

from __future__ import annotations

import asyncio
import ssl

from test_tlsdecrypt import contexts, converse

from camscan.capture.reader import Recording, TcpConversation
from camscan.probes import flows
from camscan.scope import Scope
from camscan.transport.replay import AttemptedSend, ReplayTransport, request_key

CAMERA = "198.18.0.10"
SCANNER = "198.18.0.1"
PAGE = b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def recording(*conversations: TcpConversation, keylog: bytes = b"") -> Recording:
    return Recording(arp=[], datagrams=[], conversations=list(conversations), tls_keylog=keylog, problems=[])


def conversation(port: int, turns, times=None, completed: bool = True, client_reset: bool = False,
                 end: float = 2.0) -> TcpConversation:
    return TcpConversation((SCANNER, 40000 + port), (CAMERA, port), True, list(turns), 1.0, end, list(times or []),
                           completed, client_reset)


def replay(rec: Recording, flow, port: int, tls: bool = False):
    transport = ReplayTransport(rec, Scope([CAMERA]), 1000, 2.0, {SCANNER}, [])
    return asyncio.run(transport.run_flow(CAMERA, port, flow, tls=tls))


def test_recorded_http_answers_a_request_with_the_same_request_line_only():
    recorded_elsewhere = b"GET /index.html HTTP/1.1\r\nHost: " + CAMERA.encode() + b"\r\n\r\n"
    other_headers = b"GET / HTTP/1.1\r\nHost: " + CAMERA.encode() + b"\r\nUser-Agent: another\r\n\r\n"
    unanswered = replay(recording(conversation(80, [("c", recorded_elsewhere), ("s", PAGE)])),
                        flows.http_flow(CAMERA, 80, vendor_paths=()), 80)
    assert unanswered.connected and not unanswered.observations
    answered = replay(recording(conversation(80, [("c", other_headers), ("s", PAGE)])),
                      flows.http_flow(CAMERA, 80, vendor_paths=()), 80)
    assert [seen.value for seen in answered.observations if seen.field == "http.server"] == ["App-webs/"]


def test_no_recorded_connection_is_a_port_that_did_not_answer():
    result = replay(recording(), flows.http_flow(CAMERA, 80, vendor_paths=()), 80)
    assert not result.connected and not result.observations


def test_request_key_ignores_fresh_ids_but_not_the_operation():
    signed = b"POST /onvif/device_service HTTP/1.1\r\n\r\n<s:Envelope><s:Header><UsernameToken/></s:Header><s:Body><tds:GetDeviceInformation/></s:Body></s:Envelope>"
    other_nonce = signed.replace(b"<UsernameToken/>", b"<UsernameToken>nonce-2</UsernameToken>")
    anonymous = b"POST /onvif/device_service HTTP/1.1\r\n\r\n<s:Envelope><s:Body><tds:GetDeviceInformation/></s:Body></s:Envelope>"
    clock = anonymous.replace(b"GetDeviceInformation", b"GetSystemDateAndTime")
    assert request_key(signed) == request_key(other_nonce)
    assert request_key(signed) != request_key(anonymous) != request_key(clock)


def test_a_reply_recorded_after_the_timeout_counts_as_none():
    flow = flows.banner_flow(CAMERA, 21)
    on_time = recording(conversation(21, [("s", b"220 FTP server ready\r\n")], [1.1]))
    assert [seen.value for seen in replay(on_time, flow, 21).observations if seen.field == "ftp.banner"]
    request = next(flows.http_flow(CAMERA, 80, vendor_paths=())).payload
    for reply_at, answered in ((5.0, False), (1.5, True)):
        rec = recording(conversation(80, [("c", request), ("s", PAGE)], [1.0, reply_at]))
        result = replay(rec, flows.http_flow(CAMERA, 80, vendor_paths=()), 80)
        assert bool([seen for seen in result.observations if seen.field == "http.server"]) == answered, reply_at


def test_https_is_read_with_the_recorded_keys_and_keeps_its_certificate_without_them(tmp_path, certificates):
    client, server = contexts(tmp_path, certificates["rsa"])
    for context in (client, server):
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    sent_by_client, sent_by_server = converse(client, server)
    keylog = (tmp_path / "keylog").read_bytes()
    turns = [("c", sent_by_client), ("s", sent_by_server)]

    with_keys = replay(recording(conversation(443, turns), keylog=keylog), flows.banner_flow(CAMERA, 443), 443, tls=True)
    assert with_keys.certificate == certificates["rsa"][2]

    without = replay(recording(conversation(443, turns)), flows.banner_flow(CAMERA, 443), 443, tls=True)
    assert without.certificate == certificates["rsa"][2], "TLS 1.2 certificates are cleartext"
    assert without.error and "unreadable" in without.error


def test_the_sweep_finds_open_only_where_its_own_connect_probe_got_through():
    # The SYN-ACK came after the connect gave up (the timeout is 2 s), and the kernel reset it.
    late = conversation(80, [], completed=False, client_reset=True, end=3.5)
    swept = conversation(554, [], client_reset=True)
    follow_up_only = conversation(8000, [("c", b"POST /onvif/device_service HTTP/1.1\r\n\r\n"), ("s", PAGE)])
    transport = ReplayTransport(recording(late, swept, follow_up_only), Scope([CAMERA]), 1000, 2.0, {SCANNER}, [])
    assert asyncio.run(transport.open_ports(CAMERA, [80, 554, 8000])) == [554]
    assert asyncio.run(transport.run_flow(CAMERA, 8000, flows.http_flow(CAMERA, 8000, vendor_paths=()))).connected


def test_a_recorded_syn_sweep_is_replayed_as_one_and_finds_the_ports_that_answered_in_time():
    # A SYN sweep's open port: SYN, SYN-ACK, the kernel's RST; never acknowledged.
    answered = conversation(554, [], completed=False, client_reset=True, end=1.01)
    late = conversation(80, [], completed=False, client_reset=True, end=3.5)
    sends: list[AttemptedSend] = []
    transport = ReplayTransport(recording(answered, late), Scope([CAMERA]), 1000, 2.0, {SCANNER}, sends)
    assert transport.stateless_targets([CAMERA, "2001:2::5"]) == [CAMERA]
    heard: list[tuple[str, int]] = []
    report = asyncio.run(transport.syn_sweep([CAMERA], [80, 554], lambda ip, port, is_open: heard.append((ip, port))))
    assert heard == [(CAMERA, 554)] and (report.sent, report.opened) == (2, 1)
    assert sends == [AttemptedSend("syn", CAMERA, 80), AttemptedSend("syn", CAMERA, 554)]


def test_a_recorded_connect_sweep_is_replayed_as_one():
    transport = ReplayTransport(recording(conversation(554, [], client_reset=True)), Scope([CAMERA]), 1000, 2.0,
                                {SCANNER}, [])
    assert transport.stateless_targets([CAMERA]) == []


def test_the_connect_probe_never_answers_a_flow_the_flows_own_connection_does():
    banner = b"SSH-2.0-OpenSSH_8.0\r\n"
    probe = conversation(22, [], client_reset=True)  # connected and reset before the banner came
    flow_connection = conversation(22, [("s", banner)])
    result = replay(recording(probe, flow_connection), flows.banner_flow(CAMERA, 22), 22)
    assert [seen.value for seen in result.observations if seen.field == "ssh.banner"] == [banner.decode().strip()]


def test_a_flow_connects_only_where_its_own_recorded_connection_did():
    only_the_probe = recording(conversation(80, [], client_reset=True))  # the flow's own connect failed live
    result = replay(only_the_probe, flows.http_flow(CAMERA, 80, vendor_paths=()), 80)
    assert not result.connected and not result.observations
