"""Parsers on real-looking bytes, including malformed and hostile input."""

import pytest

from camscan.fingerprint.identify import Identifier
from camscan.protocols import ProtocolError, banner, http, rtsp
from camscan.protocols.message import message_complete, parse_response, split_messages

HIKVISION_ROOT = (
    b"HTTP/1.1 302 Found\r\n"
    b"Date: Sun, 29 Nov 2026 05:45:31 GMT\r\n"
    b"Server: App-webs/\r\n"
    b"Location: http://198.18.0.10/doc/page/login.asp?_1764395131\r\n"
    b"Content-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)
DAHUA_LOGIN = (
    b"HTTP/1.1 401 Unauthorized\r\n"
    b"WWW-Authenticate: Digest realm=\"Login to 6J0A3B2PAZ12345\", qop=\"auth\", nonce=\"180936278\", opaque=\"5ccc069c\"\r\n"
    b"Content-Type: text/html\r\nContent-Length: 31\r\n\r\n"
    b"<title>401 Unauthorized</title>"
)
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nServer: lighttpd/1.4.35\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1b\r\n<html><title>NVR</title></h\r\n5\r\ntml>\n\r\n0\r\n\r\n"
)


def test_http_redirect_parsed_and_followed_only_on_same_host():
    response = parse_response(HIKVISION_ROOT)
    assert (response.status, response.header("server")) == (302, "App-webs/")
    assert http.same_host_redirect(response, "198.18.0.10", 80) == "/doc/page/login.asp?_1764395131"
    assert http.same_host_redirect(response, "198.18.0.11", 80) is None
    assert http.same_host_redirect(response, "198.18.0.10", 8080) is None


def test_http_observations_carry_server_realm_title():
    found = http.observations(parse_response(DAHUA_LOGIN), "198.18.0.20", 80, "/")
    fields = {seen.field: seen.value for seen in found}
    assert fields["http.www_authenticate"].startswith('Digest realm="Login to 6J0A3B2PAZ12345"')
    assert fields["html.title"] == "401 Unauthorized"
    assert fields["http.status"] == "401 /"
    assert all(seen.port == 80 and seen.ip == "198.18.0.20" for seen in found)


def test_chunked_body_is_reassembled_and_completion_detected():
    assert message_complete(CHUNKED)
    assert not message_complete(CHUNKED[:-5])
    assert http.html_title(parse_response(CHUNKED).body) == "NVR"


def test_completion_waits_for_declared_body():
    assert not message_complete(DAHUA_LOGIN[:-4])
    assert message_complete(DAHUA_LOGIN)
    assert not message_complete(b"HTTP/1.1 200 OK\r\nServer: x\r\n")


@pytest.mark.parametrize("garbage", [b"", b"\x15\x03\x01\x00\x02\x02\x28", b"SSH-2.0-dropbear\r\n", b"HTTP/1.1 abc\r\n\r\n", b"\xff" * 300])
def test_non_http_bytes_raise_protocol_error(garbage):
    with pytest.raises(ProtocolError):
        parse_response(garbage)


def test_title_entities_and_whitespace_are_normalised():
    body = b"<html><head><TITLE>\n  Network &amp; Camera\n</TITLE></head></html>"
    assert http.html_title(body) == "Network & Camera"


def test_rtsp_options_and_describe_401():
    options = (
        b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: Dahua Rtsp Server\r\n"
        b"Public: OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER\r\n\r\n"
    )
    describe = (
        b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n"
        b"WWW-Authenticate: Digest realm=\"Login to 6J0A3B2PAZ12345\", nonce=\"7c4e5b7b\"\r\n\r\n"
    )
    assert rtsp.response_complete(options) and rtsp.response_complete(describe)
    found = rtsp.observations(parse_response(options), "198.18.0.20", 554, "OPTIONS")
    found += rtsp.observations(parse_response(describe), "198.18.0.20", 554, "DESCRIBE")
    fields = {seen.field: seen.value for seen in found}
    assert fields["rtsp.server"] == "Dahua Rtsp Server"
    assert "DESCRIBE" in fields["rtsp.public"]
    assert fields["rtsp.www_authenticate"].startswith("Digest realm=")


def describe_reply(sdp: bytes) -> bytes:
    return b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n" % len(sdp) + sdp


def test_rtsp_sdp_session_name():
    reply = describe_reply(b"v=0\r\no=- 1109162014219182 0 IN IP4 0.0.0.0\r\ns=Media Presentation\r\nt=0 0\r\n"
                           b"m=video 0 RTP/AVP 96\r\n")
    assert rtsp.response_complete(reply)
    assert not rtsp.response_complete(reply[:-10])
    found = rtsp.observations(parse_response(reply), "198.18.0.30", 554, "DESCRIBE")
    assert ("sdp.session_name", "Media Presentation") in {(seen.field, seen.value) for seen in found}
    assert "sdp.tool" not in {seen.field for seen in found}


def test_rtsp_sdp_tool_names_the_software_that_wrote_the_session():
    reply = describe_reply(
        b"v=0\r\no=- 1586450538111534 1 IN IP4 198.18.0.6\r\n"
        b"s=Matroska video+audio+(optional)subtitles, streamed by the LIVE555 Media Server\r\n"
        b"i=media/camera-300s.mkv\r\nt=0 0\r\na=tool:LIVE555 Streaming Media v2020.03.06\r\na=type:broadcast\r\n"
        b"a=control:*\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=tool:not the session's\r\n")
    found = {seen.field: seen.value for seen in rtsp.observations(parse_response(reply), "198.18.0.6", 554, "DESCRIBE")}
    assert found["sdp.tool"] == "LIVE555 Streaming Media v2020.03.06"
    assert found["sdp.session_name"].endswith(", streamed by the LIVE555 Media Server")
    result = Identifier().identify(list(rtsp.observations(parse_response(reply), "198.18.0.6", 554, "DESCRIBE")))
    assert (result.vendor, result.device_type, result.is_camera) == ("live555", "media-server", False)


def test_rtsp_request_bytes():
    request = rtsp.build_request("DESCRIBE", "rtsp://198.18.0.2:554/", 2)
    assert request.startswith(b"DESCRIBE rtsp://198.18.0.2:554/ RTSP/1.0\r\nCSeq: 2\r\n")
    assert b"Accept: application/sdp" in request and request.endswith(b"\r\n\r\n")


def test_telnet_negotiation_is_stripped_and_refused():
    data = bytes([255, 253, 1, 255, 253, 31, 255, 251, 1, 255, 251, 3]) + b"\r\n(none) login: "
    assert banner.strip_telnet(data).strip() == b"(none) login:"
    assert banner.telnet_refusals(data) == bytes([255, 252, 1, 255, 252, 31, 255, 254, 1, 255, 254, 3])
    [seen] = banner.observations(data, "198.18.0.40", 23)
    assert (seen.field, seen.value) == ("telnet.banner", "(none) login:")


def test_banner_classification():
    [ssh] = banner.observations(b"SSH-2.0-dropbear_2014.63\r\n", "198.18.0.41", 22)
    [ftp] = banner.observations(b"220 DVR FTP server ready\r\n", "198.18.0.41", 2121)
    assert (ssh.field, ssh.value) == ("ssh.banner", "SSH-2.0-dropbear_2014.63")
    assert (ftp.field, ftp.value) == ("ftp.banner", "220 DVR FTP server ready")
    assert banner.observations(b"\xff\xfd\x18", "198.18.0.41", 23) == []
    assert banner.banner_complete(b"220 ready\r\n") and not banner.banner_complete(b"220 rea")
    assert banner.banner_complete(bytes([255, 253, 24]))  # negotiation waits for our answer
    assert not banner.banner_complete(bytes([255, 253]))


def test_truncated_telnet_sequences_do_not_crash():
    for cut in range(1, 6):
        banner.strip_telnet(bytes([255, 250, 24, 1, 255, 240])[:cut])
        banner.telnet_refusals(bytes([255, 253, 24])[:cut])


def test_arp_request_bytes_follow_rfc_826():
    from camscan.protocols import arp

    frame = arp.build_request("02:00:5e:10:00:01", "198.18.0.1", "198.18.0.77")
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == bytes.fromhex("02005e100001") and frame[12:14] == b"\x08\x06"
    assert frame[14:22] == bytes.fromhex("0001080006040001")
    assert frame[28:32] == bytes([198, 18, 0, 1]) and frame[38:42] == bytes([198, 18, 0, 77])


def test_arp_reply_parsed_and_junk_refused():
    from camscan.protocols import arp

    reply = (bytes.fromhex("02005e100001") + bytes.fromhex("4419b6010203") + b"\x08\x06"
             + bytes.fromhex("0001080006040002") + bytes.fromhex("4419b6010203") + bytes([198, 18, 0, 77])
             + bytes.fromhex("02005e100001") + bytes([198, 18, 0, 1]))
    seen = arp.parse_reply(reply)
    assert (seen.ip, seen.field, seen.value) == ("198.18.0.77", "mac.address", "44:19:b6:01:02:03")
    with pytest.raises(ProtocolError):
        arp.parse_reply(arp.build_request("02:00:5e:10:00:01", "198.18.0.1", "198.18.0.77"))
    with pytest.raises(ProtocolError):
        arp.parse_reply(b"\x00" * 10)


def test_hostile_framing_neither_hangs_nor_raises():
    negative_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-6\r\nxx"
    assert not message_complete(negative_chunk)
    assert parse_response(negative_chunk).body == b""
    absurd_length = b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\nbody"
    assert not message_complete(absurd_length)
    parse_response(absurd_length)


@pytest.mark.parametrize("location", ["http://198.18.0.10:99999/", "http://[::1/", "http://198.18.0.10:abc/"])
def test_malformed_redirects_are_not_followed(location):
    response = parse_response(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
    assert http.same_host_redirect(response, "198.18.0.10", 80) is None


def test_title_search_is_bounded():
    assert http.html_title(b"<title>" * 20000) is None


def test_arp_reply_with_foreign_address_lengths_is_refused():
    from camscan.protocols import arp

    odd = (b"\xff" * 6 + bytes.fromhex("4419b6010203") + b"\x08\x06" + bytes.fromhex("0001080008040002")
           + b"\xaa" * 8 + bytes([198, 18, 0, 77]) + b"\x00" * 8 + bytes([198, 18, 0, 1]))
    with pytest.raises(ProtocolError):
        arp.parse_reply(odd)


def test_messages_sent_back_to_back_are_split_by_their_framing():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\nX-Trailer: 1\r\n\r\n"
    responses = [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
                 b"HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\n\r\n", chunked,
                 b"HTTP/1.0 200 OK\r\n\r\nno length: runs to the close HTTP/1.1 200 OK\r\n\r\n"]
    assert split_messages(b"".join(responses)) == responses
    assert split_messages(b"".join(responses[:2]) + b"HTTP/1.1 200 OK\r\nContent-Le") == [
        *responses[:2], b"HTTP/1.1 200 OK\r\nContent-Le"]
    rtsp_replies = [b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n",
                    b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\n\r\n"]
    assert split_messages(b"".join(rtsp_replies)) == rtsp_replies
    pipelined = [b"GET / HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n",
                 b"POST /onvif/device_service HTTP/1.1\r\nContent-Length: 4\r\n\r\n<a/>", b"GET /b HTTP/1.1\r\n\r\n"]
    assert split_messages(b"".join(pipelined)) == pipelined


def test_a_response_to_head_has_no_body_whatever_its_length_says():
    head = b"HTTP/1.1 200 OK\r\nServer: lighttpd\r\nContent-Length: 120\r\n\r\n"
    get = b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Length: 5\r\n\r\nhello"
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    assert split_messages(head + get, ["HEAD", "GET"]) == [head, get]
    assert split_messages(interim + head + get, ["head", "GET"]) == [interim, head, get]  # a 1xx answers no request
    assert split_messages(head + get) == [head + get[:120]]  # without the requests, the length is all there is
