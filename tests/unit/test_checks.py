"""The exposure checks' parsers and decisions on real-looking bytes, driven without sockets."""

from __future__ import annotations

import hashlib

import pytest

from camscan.checks import FTP_ANONYMOUS, HTTP_NO_TLS, RTSP_NO_AUTH, SNAPSHOT_NO_AUTH, TELNET_OPEN, parse_check_list
from camscan.checks import data, passive
from camscan.checks.flows import RequestBudget, ftp_anonymous_flow, rtsp_no_auth_flow, snapshot_no_auth_flow
from camscan.model import Device, Identification, Observation, Service
from camscan.protocols import ProtocolError, ftp, sdp
from camscan.store import Store

HIK_SDP = (
    b"v=0\r\no=- 1109162014219182 1109162014219192 IN IP4 198.18.100.64\r\ns=Media Presentation\r\n"
    b"e=NONE\r\nb=AS:5050\r\nt=0 0\r\na=control:rtsp://198.18.100.64:554/Streaming/Channels/101/\r\n"
    b"m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\nb=AS:5000\r\na=recvonly\r\na=x-dimensions:1920,1080\r\n"
    b"a=control:rtsp://198.18.100.64:554/Streaming/Channels/101/trackID=1\r\na=rtpmap:96 H264/90000\r\n"
    b"a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=Z00AKp2oHgCJ+WbgICAgQA==,aO48gA==\r\n"
    b"m=audio 0 RTP/AVP 8\r\nc=IN IP4 0.0.0.0\r\na=recvonly\r\n"
    b"a=control:rtsp://198.18.100.64:554/Streaming/Channels/101/trackID=2\r\n"
)
# The smallest baseline JPEG markers: SOI, APP0 "JFIF", ..., EOI (content is never kept anyway).
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 40 + b"\xff\xd9"


def rtsp_reply(status: str, cseq: int, body: bytes = b"", extra: str = "") -> bytes:
    head = f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}"
    if body:
        head += f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def drive(flow, replies):
    """Run a flow against canned replies; returns (requests sent, flow result)."""
    sent = []
    try:
        exchange = next(flow)
        for reply in replies:
            sent.append(exchange.payload)
            exchange = flow.send(reply)
        raise AssertionError("the flow wanted more replies than the test has")
    except StopIteration as finished:
        return sent, finished.value


# --------------------------------------------------------------------------- SDP and FTP parsers


def test_sdp_codecs_from_rtpmap_and_static_payloads():
    assert sdp.parse_codecs(HIK_SDP) == ["H264/90000", "PCMA"]


def test_sdp_rejects_what_is_not_a_session_description():
    with pytest.raises(ProtocolError):
        sdp.parse_codecs(b"<html>401</html>")
    assert sdp.parse_codecs(b"v=0\r\na=rtpmap:x y\r\nm=video\r\n") == []  # malformed lines are skipped


def test_ftp_replies_single_and_multiline():
    assert ftp.reply_complete(b"220 (vsFTPd 3.0.3)\r\n")
    assert not ftp.reply_complete(b"230-Welcome\r\n")
    assert ftp.reply_complete(b"230-Welcome\r\n230 Login successful.\r\n")
    assert ftp.parse_reply(b"331 Please specify the password.\r\n") == (331, "Please specify the password.")
    with pytest.raises(ProtocolError):
        ftp.parse_reply(b"SSH-2.0-dropbear\r\n")
    with pytest.raises(ValueError):
        ftp.build_command("USER", "anonymous\r\nDELE x")


# --------------------------------------------------------------------------- rtsp-no-auth


def test_rtsp_open_stream_found_after_protected_and_missing_paths():
    paths = ["/", "/Streaming/Channels/101", "/live"]
    flow = rtsp_no_auth_flow("198.18.100.64", 554, paths, RequestBudget(10))
    sent, found = drive(flow, [
        rtsp_reply("401 Unauthorized", 1, extra='WWW-Authenticate: Digest realm="IP Camera(E3097)", nonce="ab"\r\n'),
        rtsp_reply("200 OK", 2, HIK_SDP),
    ])
    assert [line.split(b" ")[1] for line in sent] == [b"rtsp://198.18.100.64:554/", b"rtsp://198.18.100.64:554/Streaming/Channels/101"]
    assert all(b"Authorization" not in request for request in sent)
    [finding] = found
    assert finding.check == RTSP_NO_AUTH and finding.port == 554
    assert dict(finding.evidence) == {"url": "rtsp://198.18.100.64:554/Streaming/Channels/101", "status": "200 OK",
                                      "codecs": "H264/90000,PCMA"}


def test_rtsp_protected_everywhere_gives_no_finding_and_respects_budget():
    budget = RequestBudget(2)
    flow = rtsp_no_auth_flow("198.18.100.64", 554, ["/", "/a", "/b", "/c"], budget)
    sent, found = drive(flow, [rtsp_reply("401 Unauthorized", 1), rtsp_reply("404 Not Found", 2)])
    assert found == [] and len(sent) == 2 and budget.remaining == 0


def test_rtsp_200_without_sdp_and_garbage_are_not_open():
    flow = rtsp_no_auth_flow("198.18.100.64", 554, ["/", "/x"], RequestBudget(5))
    _, found = drive(flow, [b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n", b"\x00\x01garbage"])
    assert found == []


# --------------------------------------------------------------------------- snapshot-no-auth


def http_reply(status: str, content_type: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def test_snapshot_image_recorded_by_type_size_and_hash_only():
    flow = snapshot_no_auth_flow("198.18.100.9", 8080, ["/cgi-bin/snapshot.cgi", "/snapshot.jpg"], RequestBudget(5))
    sent, found = drive(flow, [
        http_reply("401 Unauthorized", "text/html", b"<html>401</html>"),
        http_reply("200 OK", "image/jpeg", JPEG),
    ])
    assert sent[1].startswith(b"GET /snapshot.jpg HTTP/1.1\r\nHost: 198.18.100.9:8080\r\n")
    [finding] = found
    assert finding.check == SNAPSHOT_NO_AUTH and finding.port == 8080
    assert dict(finding.evidence) == {"url": "http://198.18.100.9:8080/snapshot.jpg", "content_type": "image/jpeg",
                                      "size": str(len(JPEG)), "sha256": hashlib.sha256(JPEG).hexdigest()}
    assert JPEG not in repr(finding).encode()


def test_snapshot_login_page_with_200_is_not_an_image():
    flow = snapshot_no_auth_flow("198.18.100.9", 80, ["/snapshot.jpg"], RequestBudget(5))
    _, found = drive(flow, [http_reply("200 OK", "text/html; charset=utf-8", b"<html><title>Login</title></html>")])
    assert found == []


# --------------------------------------------------------------------------- ftp-anonymous


def test_ftp_anonymous_accepted_logs_out():
    flow = ftp_anonymous_flow("198.18.100.5", 21, RequestBudget(5))
    sent, found = drive(flow, [b"220 NVR FTP server ready\r\n", b"331 Please specify the password.\r\n",
                               b"230 Login successful.\r\n", b"221 Goodbye.\r\n"])
    assert sent == [b"", b"USER anonymous\r\n", b"PASS camscan@\r\n", b"QUIT\r\n"]
    assert [f.check for f in found] == [FTP_ANONYMOUS]


def test_ftp_anonymous_refused_gives_nothing():
    flow = ftp_anonymous_flow("198.18.100.5", 21, RequestBudget(5))
    sent, found = drive(flow, [b"220 ready\r\n", b"331 Password required\r\n", b"530 Login incorrect.\r\n"])
    assert found == [] and b"QUIT\r\n" not in sent


# --------------------------------------------------------------------------- passive checks


def device(services=(), observations=(), **ident) -> Device:
    return Device(ip="198.18.100.7", services=list(services), observations=list(observations),
                  identification=Identification(**ident))


def test_telnet_open_from_banner():
    seen = Observation("198.18.100.7", "banner", "telnet.banner", "(none) login:", port=23)
    [finding] = passive.telnet_open(device(observations=[seen]))
    assert finding.check == TELNET_OPEN and finding.port == 23
    assert passive.telnet_open(device()) == []


def test_http_no_tls_only_without_https():
    http_only = [Service("198.18.100.7", 80, "http"), Service("198.18.100.7", 554, "rtsp")]
    [finding] = passive.http_no_tls(device(http_only))
    assert finding.check == HTTP_NO_TLS and finding.port == 80
    assert passive.http_no_tls(device([*http_only, Service("198.18.100.7", 443, "https")])) == []


@pytest.mark.parametrize("model, firmware, expected", [
    ("DS-2CD2132F-I", "V5.3.0 build 150513", ["CVE-2017-7921"]),
    # a day past CVE-2017-7921's last affected build, but inside CVE-2021-36260's range
    ("DS-2CD2132F-I", "V5.4.0 build 160531", ["CVE-2021-36260"]),
    ("DS-2CD2143G0-I", "V5.5.0", ["CVE-2021-36260"]),
    ("DS-2CD2143G0-I", "V5.5.800 build 210628", []),
    ("DS-2CD2143G0-I", None, []),
    (None, "V5.5.0", []),  # no model: the ranges are per series
])
def test_vulnerable_firmware_by_version_range(model, firmware, expected):
    found = passive.vulnerable_firmware(device(vendor="hikvision", manufacturer="hikvision", model=model,
                                               firmware=firmware))
    assert [dict(f.evidence)["advisory"] for f in found] == expected
    other = passive.vulnerable_firmware(device(vendor="dahua", manufacturer="dahua", model=model, firmware=firmware))
    assert other == []


def test_version_parsing():
    assert data.parse_version("V5.4.0 build 160530") == ((5, 4), 160530)
    assert data.parse_version("firmware unknown") is None
    assert data.version_at_most(((5, 4), None), ((5, 4), 160530))


def test_vendor_paths_come_first():
    paths = data.rtsp_paths(["dahua"])
    assert paths[0] == "/cam/realmonitor?channel=1&subtype=0" and "/live" in paths
    assert "/Streaming/Channels/101" not in paths
    assert "/Streaming/Channels/101" in data.rtsp_paths([])  # unknown maker: every vendor's first path too


def test_check_list_parsing():
    assert parse_check_list("rtsp-no-auth, telnet-open") == {"rtsp-no-auth", "telnet-open"}
    with pytest.raises(ValueError, match="unknown check"):
        parse_check_list("rtsp-no-auth,exploit-everything")


# --------------------------------------------------------------------------- store


def test_findings_stored_once_per_check_and_port_and_exported(tmp_path):
    from camscan.model import Finding

    with Store(tmp_path / "f.db") as store:
        scan = store.start_scan(["198.18.100.0/24"], {})
        device_id = store.record_device(scan, device([Service("198.18.100.7", 554, "rtsp")]))
        finding = Finding(RTSP_NO_AUTH, "high", "open", 554, (("url", "rtsp://198.18.100.7:554/"),))
        store.record_findings(scan, device_id, [finding])
        again = store.start_scan(["198.18.100.0/24"], {})
        store.record_findings(again, device_id, [finding])
        [row] = store.findings()
        assert row["check"] == RTSP_NO_AUTH and row["port"] == 554 and row["evidence"]["url"].endswith(":554/")
        assert store.findings(["low"]) == []
        [exported] = store.devices()
        assert [(f["check"], f["port"], f["severity"]) for f in exported["findings"]] == [(RTSP_NO_AUTH, 554, "high")]


def test_a_finding_is_resolved_by_a_later_complete_scan_that_ran_its_check_and_did_not_find_it(tmp_path):
    from camscan.model import Finding

    camera = device([Service("198.18.100.7", 23, "telnet"), Service("198.18.100.7", 554, "rtsp")])
    stream = Finding(RTSP_NO_AUTH, "high", "open", 554, (("url", "rtsp://198.18.100.7:554/"),))
    telnet = Finding(TELNET_OPEN, "medium", "telnet login", 23, (("banner", "login:"),))
    with Store(tmp_path / "f.db") as store:

        def scan(checks: list[str], status: str = "complete", found=()) -> int:
            scan_id = store.start_scan(["198.18.100.0/24"], {"checks": checks})
            device_id = store.record_device(scan_id, camera)
            store.record_findings(scan_id, device_id, list(found))
            store.finish_scan(scan_id, status)
            return scan_id

        scan([RTSP_NO_AUTH, TELNET_OPEN], found=[stream, telnet])
        scan([TELNET_OPEN, RTSP_NO_AUTH], status="interrupted")  # cut short: proves nothing
        fixed = scan([RTSP_NO_AUTH])  # the stream now asks for a password; telnet was not checked
        status = {row["check"]: (row["status"], row["resolved_in_scan"]) for row in store.findings()}
        assert status == {RTSP_NO_AUTH: ("resolved", fixed), TELNET_OPEN: ("open", None)}
        [exported] = store.devices()
        assert {item["check"]: (item["status"], item["resolved_in_scan"]) for item in exported["findings"]} == status
    from click.testing import CliRunner

    from camscan.cli import main

    shown = CliRunner().invoke(main, ["show", "198.18.100.7", "--db", str(tmp_path / "f.db")])
    assert f"[high] rtsp-no-auth:554 open (resolved in scan {fixed})" in shown.output
    assert "[medium] telnet-open:23 telnet login\n" in shown.output


# --------------------------------------------------------------------------- default-credentials (opt-in)

from camscan.checks import DEFAULT_CHECKS, DEFAULT_CREDENTIALS  # noqa: E402
from camscan.checks.flows import default_credentials_flow  # noqa: E402
from camscan.protocols import http_auth  # noqa: E402

CHALLENGE = 'Digest qop="auth", realm="IP Camera(C2183)", nonce="4e5468694e7a42694e7a4d364f4449354d7a6b354d54513d", stale="FALSE"'


def refused(body: bytes = b"<html>401</html>", challenge: str = CHALLENGE) -> bytes:
    return (f"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: {len(body)}\r\n"
            "\r\n").encode() + body


def test_digest_answer_matches_the_rfc_2617_example():
    scheme, params = http_auth.parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    header = http_auth.authorization(scheme, params, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in header and "nc=00000001" in header
    with pytest.raises(ProtocolError):
        http_auth.parse_challenge("")
    with pytest.raises(ProtocolError):
        http_auth.authorization("ntlm", {}, "GET", "/", "a", "b", "c")


def test_default_credentials_opt_in_only():
    assert DEFAULT_CREDENTIALS not in DEFAULT_CHECKS
    with pytest.raises(ValueError, match="opt-in"):
        parse_check_list("default-credentials")


def test_default_credentials_stop_at_three_attempts():
    pairs = [("admin", f"wrong{n}") for n in range(5)]
    flow = default_credentials_flow("198.18.100.64", 80, "/ISAPI/System/deviceInfo", pairs, RequestBudget(24), "c0ffee")
    sent, found = drive(flow, [refused()] * 4)
    assert found == [] and len(sent) == 4  # one unauthenticated GET, then three logins
    assert all(b"Authorization: Digest" in request for request in sent[1:])


def test_default_credentials_stop_at_lockout_and_never_show_the_password():
    pairs = [("admin", "12345"), ("admin", "admin")]
    flow = default_credentials_flow("198.18.100.64", 80, "/p", pairs, RequestBudget(24), "c0ffee")
    sent, found = drive(flow, [refused(), refused(b"<html>User locked: too many failed logins</html>")])
    assert found == [] and len(sent) == 2

    flow = default_credentials_flow("198.18.100.64", 80, "/p", pairs, RequestBudget(24), "c0ffee")
    sent, found = drive(flow, [refused(), b"HTTP/1.1 423 Locked\r\nContent-Length: 0\r\n\r\n"])
    assert found == []

    flow = default_credentials_flow("198.18.100.64", 80, "/p", pairs, RequestBudget(24), "c0ffee")
    _, found = drive(flow, [refused(), b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    [finding] = found
    assert finding.check == DEFAULT_CREDENTIALS and dict(finding.evidence)["account"] == "admin"
    assert "12345" not in repr(finding)


def test_default_credentials_skip_pages_that_need_no_login():
    flow = default_credentials_flow("198.18.100.64", 80, "/p", [("admin", "12345")], RequestBudget(24), "c0ffee")
    sent, found = drive(flow, [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    assert found == [] and len(sent) == 1


# --------------------------------------------------------------------------- onvif-no-auth

from camscan.checks import ONVIF_NO_AUTH  # noqa: E402
from camscan.checks.flows import onvif_no_auth_flow  # noqa: E402
from camscan.protocols import onvif  # noqa: E402

SOAP_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
             'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" '
             'xmlns:tt="http://www.onvif.org/ver10/schema"><SOAP-ENV:Body>')
SOAP_TAIL = "</SOAP-ENV:Body></SOAP-ENV:Envelope>"


def soap(body: str, status: str = "200 OK") -> bytes:
    payload = (SOAP_HEAD + body + SOAP_TAIL).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload


CAPABILITIES = soap("<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media><tt:XAddr>http://198.18.100.64/onvif/Media"
                    "</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>")
PROFILES = soap('<trt:GetProfilesResponse><trt:Profiles fixed="true" token="Profile_1"><tt:Name>mainStream</tt:Name>'
                "</trt:Profiles></trt:GetProfilesResponse>")
STREAM = soap("<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>rtsp://198.18.100.64:554/Streaming/Channels/101"
              "</tt:Uri></trt:MediaUri></trt:GetStreamUriResponse>")


def test_onvif_profiles_without_credentials_are_a_finding():
    sent, found = drive(onvif_no_auth_flow("198.18.100.64", 80, RequestBudget(24)), [CAPABILITIES, PROFILES, STREAM])
    assert [request.split(b" ")[1] for request in sent] == [b"/onvif/device_service", b"/onvif/Media", b"/onvif/Media"]
    assert b"<ProfileToken>Profile_1</ProfileToken>" in sent[2]
    [finding] = found
    assert finding.check == ONVIF_NO_AUTH and finding.port == 80
    assert dict(finding.evidence)["stream_uri"] == "rtsp://198.18.100.64:554/Streaming/Channels/101"


def test_onvif_protected_by_401_or_fault_gives_nothing():
    unauthorised = b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="x", nonce="1"\r\nContent-Length: 0\r\n\r\n'
    _, found = drive(onvif_no_auth_flow("198.18.100.64", 80, RequestBudget(24)), [CAPABILITIES, unauthorised])
    assert found == []
    fault = soap("<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value><SOAP-ENV:Subcode>"
                 "<SOAP-ENV:Value>ter:NotAuthorized</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code>"
                 "</SOAP-ENV:Fault>", "400 Bad Request")
    assert onvif.fault_reason(fault.split(b"\r\n\r\n", 1)[1]) == "SOAP-ENV:Sender ter:NotAuthorized"
    _, found = drive(onvif_no_auth_flow("198.18.100.64", 80, RequestBudget(24)), [CAPABILITIES, fault])
    assert found == []


def test_onvif_media_address_elsewhere_is_not_followed_and_hostile_xml_refused():
    elsewhere = CAPABILITIES.replace(b"http://198.18.100.64/onvif/Media", b"http://198.18.109.9/onvif/Media")
    sent, found = drive(onvif_no_auth_flow("198.18.100.64", 80, RequestBudget(24)), [elsewhere])
    assert found == [] and len(sent) == 1
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(ProtocolError):
        onvif.media_xaddr(bomb)
    hostile = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(bomb) + bomb
    _, found = drive(onvif_no_auth_flow("198.18.100.64", 80, RequestBudget(24)), [hostile])
    assert found == []


def test_each_advisory_is_its_own_finding_and_updates_in_place(tmp_path):
    with Store(tmp_path / "v.db") as store:
        scan = store.start_scan(["198.18.100.0/24"], {})
        hik = device(vendor="hikvision", manufacturer="hikvision", model="DS-2CD2132F-I", firmware="V5.3.0 build 150513")
        device_id = store.record_device(scan, hik)
        first = passive.vulnerable_firmware(hik)
        later = passive.vulnerable_firmware(device(vendor="hikvision", manufacturer="hikvision",
                                                   model="DS-2CD2132F-I", firmware="V5.4.0 build 160531"))
        store.record_findings(scan, device_id, first + later)
        store.record_findings(scan, device_id, first + later)
        rows = store.findings(["critical"])
        assert sorted(row["evidence"]["advisory"] for row in rows) == ["CVE-2017-7921", "CVE-2021-36260"]


def test_findings_and_checks_commands(tmp_path):
    import json

    from click.testing import CliRunner

    from camscan.cli import main
    from camscan.model import Finding

    db = tmp_path / "cli.db"
    with Store(db) as store:
        scan = store.start_scan(["198.18.100.0/24"], {})
        device_id = store.record_device(scan, device([Service("198.18.100.7", 23, "telnet")]))
        store.record_findings(scan, device_id, [
            Finding(TELNET_OPEN, "medium", "telnet login open on port 23", 23, (("banner", "login:"),)),
            Finding(RTSP_NO_AUTH, "high", "open stream", 554, (("url", "rtsp://198.18.100.7:554/"),)),
        ])
    runner = CliRunner()
    table = runner.invoke(main, ["findings", "--db", str(db)])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0] == "severity\tip\tport\tcheck\tstatus\tdetail"
    assert lines[1].startswith("high\t198.18.100.7\t554\trtsp-no-auth\topen")
    only = runner.invoke(main, ["findings", "--db", str(db), "--severity", "medium", "--json"])
    assert [item["check"] for item in json.loads(only.output)] == [TELNET_OPEN]
    shown = runner.invoke(main, ["show", "198.18.100.7", "--db", str(db)])
    assert "[high] rtsp-no-auth:554 open stream" in shown.output
    listed = runner.invoke(main, ["checks"])
    assert "rtsp-no-auth" in listed.output and "default-credentials" in listed.output and "opt-in" in listed.output
    refused = runner.invoke(main, ["scan", "127.0.0.1", "--db", str(db), "--checks", "default-credentials"])
    assert refused.exit_code != 0 and "opt-in" in refused.output


def test_broken_check_data_is_reported_with_its_file(tmp_path, monkeypatch):
    from camscan.fingerprint.signatures import SignatureError

    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "rtsp_paths.yaml").write_text("- vendor: x\n  paths: [no-slash]\n  reference: r\n")
    monkeypatch.setenv("CAMSCAN_SIGNATURES", str(tmp_path))
    data._paths.cache_clear()
    try:
        with pytest.raises(SignatureError, match="rtsp_paths.yaml"):
            data.load_all()
    finally:
        data._paths.cache_clear()


# --------------------------------------------------------------------------- upnp-port-forward

from camscan.checks.flows import MAX_PORT_MAPPINGS, igd_port_mappings_flow  # noqa: E402
from camscan.protocols import upnp_igd  # noqa: E402

MINIUPNPD_DESCRIPTION = (
    b'<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major>'
    b"<minor>1</minor></specVersion><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1"
    b"</deviceType><deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><deviceList>"
    b"<device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><serviceList><service>"
    b"<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>"
    b"<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL>"
    b"<eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service></serviceList></device>"
    b"</deviceList></device></deviceList></device></root>"
)
MAPPING = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
           b'<u:GetGenericPortMappingEntryResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">'
           b"<NewRemoteHost></NewRemoteHost><NewExternalPort>8554</NewExternalPort><NewProtocol>TCP</NewProtocol>"
           b"<NewInternalPort>554</NewInternalPort><NewInternalClient>198.18.168.64</NewInternalClient>"
           b"<NewEnabled>1</NewEnabled><NewPortMappingDescription>cam</NewPortMappingDescription>"
           b"<NewLeaseDuration>0</NewLeaseDuration></u:GetGenericPortMappingEntryResponse></s:Body></s:Envelope>")
FAULT_713 = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>'
             b"<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError "
             b'xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>713</errorCode></UPnPError></detail></s:Fault>'
             b"</s:Body></s:Envelope>")


def http_ok(body: bytes, status: str = "200 OK") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def test_igd_description_and_mapping_parsers():
    assert upnp_igd.wan_connection_services(MINIUPNPD_DESCRIPTION, "http://198.18.168.1:5000/rootDesc.xml") == [
        ("urn:schemas-upnp-org:service:WANIPConnection:1", "http://198.18.168.1:5000/ctl/IPConn")]
    mapping = upnp_igd.parse_mapping(MAPPING)
    assert mapping["NewInternalClient"] == "198.18.168.64" and mapping["NewExternalPort"] == "8554"
    assert upnp_igd.parse_mapping(FAULT_713) is None
    with pytest.raises(ProtocolError):
        upnp_igd.parse_mapping(b"<html/>")
    with pytest.raises(ProtocolError):
        upnp_igd.wan_connection_services(b"\x00garbage", "http://x/")


def test_igd_table_read_until_fault_and_bounded():
    location = "http://198.18.168.1:5000/rootDesc.xml"
    sent, mappings = drive(igd_port_mappings_flow("198.18.168.1", 5000, location, RequestBudget(24)),
                           [http_ok(MINIUPNPD_DESCRIPTION), http_ok(MAPPING), http_ok(FAULT_713, "500 Internal Server Error")])
    assert len(mappings) == 1 and b"<NewPortMappingIndex>1</NewPortMappingIndex>" in sent[2]
    assert b'SOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:1#GetGenericPortMappingEntry"' in sent[1]
    sent, mappings = drive(igd_port_mappings_flow("198.18.168.1", 5000, location, RequestBudget(100)),
                           [http_ok(MINIUPNPD_DESCRIPTION)] + [http_ok(MAPPING)] * MAX_PORT_MAPPINGS)
    assert len(mappings) == MAX_PORT_MAPPINGS


def test_igd_description_elsewhere_is_not_fetched():
    flow = igd_port_mappings_flow("198.18.168.1", 5000, "http://198.18.168.9:5000/rootDesc.xml", RequestBudget(24))
    sent, mappings = drive(flow, [])
    assert sent == [] and mappings == []


def test_default_credentials_logins_name_their_authorization_as_credentials():
    flow = default_credentials_flow("198.18.100.64", 80, "/p", [("admin", "12345")], RequestBudget(24), "c0ffee")
    first = next(flow)
    login = flow.send(refused())
    assert first.credentials == ()
    [(start, end)] = login.credentials
    assert login.payload[start:end].startswith(b"Digest ") and login.payload[end:end + 2] == b"\r\n"
