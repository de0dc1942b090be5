"""Flows driven with canned bytes: the same generators the live transport runs."""

from pathlib import Path

import pytest

from camscan.probes import flows
from camscan.probes.onvif import OnvifMessages, device_information_flow
from camscan.protocols import http


def drive(flow, replies):
    """Feed a flow canned replies keyed by request prefix; return (requests, observations)."""
    requests = []
    try:
        exchange = next(flow)
        while True:
            requests.append(exchange.payload)
            reply = next((data for prefix, data in replies.items() if exchange.payload.startswith(prefix)), b"")
            exchange = flow.send(reply)
    except StopIteration as done:
        return requests, done.value


def http_reply(status, headers=(), body=b""):
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_http_flow_follows_same_host_redirect_then_vendor_paths():
    replies = {
        b"GET / ": http_reply("302 Found", [("Server", "App-webs/"), ("Location", "/doc/page/login.asp?_17")]),
        b"GET /doc/page/login.asp": http_reply("200 OK", [("Server", "App-webs/")], b"<title>Login</title>"),
        b"GET /ISAPI/System/deviceInfo": http_reply("401 Unauthorized", [("WWW-Authenticate", 'Digest realm="IP Camera(E3097)"')]),
    }
    requests, found = drive(flows.http_flow("198.18.0.10", 80), replies)
    paths = [request.split(b" ")[1].decode() for request in requests]
    assert paths[:2] == ["/", "/doc/page/login.asp?_17"]
    assert set(flows.VENDOR_PATHS) <= set(paths)
    assert all(b"Host: 198.18.0.10\r\n" in request for request in requests)
    values = {(seen.field, seen.value) for seen in found}
    assert ("html.title", "Login") in values
    assert ("http.www_authenticate", 'Digest realm="IP Camera(E3097)"') in values


def test_http_flow_stops_at_once_when_the_port_does_not_speak_http():
    requests, found = drive(flows.http_flow("198.18.0.10", 8000), {})
    assert len(requests) == 1 and found == []
    requests, found = drive(flows.http_flow("198.18.0.10", 8000), {b"GET": b"RTSP/1.0 400 Bad Request\r\n\r\n"})
    assert len(requests) == 1 and found == []


def test_http_flow_never_loops_on_redirects():
    loop = http_reply("302 Found", [("Location", "/a")])
    again = http_reply("302 Found", [("Location", "/b")])
    back = http_reply("302 Found", [("Location", "/")])
    requests, _ = drive(flows.http_flow("198.18.0.10", 80, vendor_paths=()), {b"GET / ": loop, b"GET /a": again, b"GET /b": back})
    assert len(requests) <= 1 + flows.MAX_REDIRECTS + 1  # and one for the icon


def test_http_flow_ignores_redirects_to_other_hosts():
    away = http_reply("302 Found", [("Location", "http://203.0.113.9/login")])
    requests, found = drive(flows.http_flow("198.18.0.10", 80, vendor_paths=()), {b"GET / ": away})
    assert [request.split(b" ")[1] for request in requests] == [b"/", b"/favicon.ico"]  # never the other host's page
    assert ("http.location", "http://203.0.113.9/login") in {(seen.field, seen.value) for seen in found}


CRA_ICON = (Path(__file__).parent / "data" / "create-react-app-favicon.ico").read_bytes()


def requested_icon(page_body, icon_reply=b"", port=80):
    replies = {b"GET / ": http_reply("200 OK", [("Content-Type", "text/html")], page_body)}
    requests, found = drive(flows.http_flow("198.18.0.10", port, vendor_paths=()), {**replies, b"GET /": icon_reply})
    return requests[-1].split(b" ")[1].decode(), {seen.field: seen.value for seen in found if "favicon" in seen.field}


def test_http_flow_fetches_the_icon_the_page_names_on_its_own_host_and_port():
    icon = http_reply("200 OK", [("Content-Type", "image/x-icon")], CRA_ICON)
    path, hashes = requested_icon(b'<head><link rel="shortcut icon" href="img/cam.ico?v=2"></head>', icon)
    assert path == "/img/cam.ico?v=2"
    assert hashes == {"http.favicon_md5": "c92b85a5b907c70211f4ec25e29a8c4a", "http.favicon_mmh3": "-2009722838"}
    assert requested_icon(b"<link href='http://198.18.0.10/a.ico' rel=icon>")[0] == "/a.ico"


def test_http_flow_never_fetches_an_icon_from_another_host_or_port():
    assert requested_icon(b'<link rel="icon" href="http://198.18.0.99/evil.ico">')[0] == "/favicon.ico"
    assert requested_icon(b'<link rel="icon" href="http://198.18.0.10:8080/x.ico">')[0] == "/favicon.ico"
    assert requested_icon(b'<link rel="icon" href="//198.18.0.99/x.ico">')[0] == "/favicon.ico"
    assert requested_icon(b'<link rel="stylesheet" href="/style.css">')[0] == "/favicon.ico"


def test_an_html_page_or_an_oversized_reply_is_no_icon():
    login_page = http_reply("200 OK", [("Content-Type", "text/html")], b"<html><title>Login</title></html>")
    assert requested_icon(b"", login_page)[1] == {}
    untyped_page = http_reply("200 OK", [], b"  <!DOCTYPE html><title>Login</title>")
    assert requested_icon(b"", untyped_page)[1] == {}
    huge = http_reply("200 OK", [("Content-Type", "image/x-icon")], b"\0" * (http.FAVICON_LIMIT + 8192))
    assert requested_icon(b"", huge)[1] == {}
    cut_short = http_reply("200 OK", [("Content-Type", "image/x-icon")], CRA_ICON)[:-100]
    assert requested_icon(b"", cut_short)[1] == {}
    missing = http_reply("404 Not Found", [("Content-Type", "image/x-icon")], CRA_ICON)
    assert requested_icon(b"", missing)[1] == {}


def test_rtsp_flow_options_then_describe():
    replies = {
        b"OPTIONS": b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: Rtsp Server/3.0\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n",
        b"DESCRIBE": b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Basic realm=\"/\"\r\n\r\n",
    }
    requests, found = drive(flows.rtsp_flow("198.18.0.11", 554), replies)
    assert [request.split(b" ")[0] for request in requests] == [b"OPTIONS", b"DESCRIBE"]
    assert {("rtsp.server", "Rtsp Server/3.0"), ("rtsp.www_authenticate", 'Basic realm="/"')} <= {
        (seen.field, seen.value) for seen in found
    }


def test_banner_flow_answers_telnet_options_then_reads_prompt():
    negotiation = bytes([255, 253, 24, 255, 253, 32])
    replies = {bytes([255, 252]): b"\r\nLocalHost login: ", b"": negotiation}
    requests, found = drive(flows.banner_flow("198.18.0.12", 23), replies)
    assert requests == [b"", bytes([255, 252, 24, 255, 252, 32])]
    assert [(seen.field, seen.value) for seen in found] == [("telnet.banner", "LocalHost login:")]


def test_banner_flow_on_a_silent_port_returns_nothing():
    requests, found = drive(flows.banner_flow("198.18.0.12", 9999), {})
    assert requests == [b""] and found == []


def test_ipv6_addresses_are_bracketed_in_urls_and_host_headers():
    requests, _ = drive(flows.http_flow("fd00::5", 8080, vendor_paths=()), {})
    assert b"Host: [fd00::5]:8080\r\n" in requests[0]
    requests, _ = drive(flows.rtsp_flow("fd00::5", 554), {})
    assert requests[0].startswith(b"OPTIONS rtsp://[fd00::5]:554/ RTSP/1.0")


def test_device_information_flow_names_an_xaddr_that_is_no_http_url():
    """Such an XAddr is said as what it is (the transport reports a flow's ValueError as its
    error), not as a TypeError from unpacking None."""
    flow = device_information_flow(OnvifMessages(), "198.18.40.10", "ftp://198.18.40.10/onvif/device_service")
    with pytest.raises(ValueError, match="not an http"):
        next(flow)
