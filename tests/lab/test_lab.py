"""The emulated lab, proved with plain sockets (no camscan scanner code involved).

Loopback tier: hosts on 127.78.x.y.  Namespace tier (root only): hosts in network
namespaces reached from the scanner namespace, with checks that the root namespace is
left untouched and everything is gone afterwards.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import pytest
from cryptography import x509
from netaddr import EUI

from camscan_lab import LoopbackLab, NamespaceLab, build_hosts, generate_lab, get_profile, load_profiles
from camscan_lab.certs import subject_name
from camscan_lab.netns import cleanup_stale, list_namespaces

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="binding ports < 1024 and namespaces need root")
needs_netns = pytest.mark.skipif(
    not IS_ROOT or shutil.which("ip") is None, reason="the namespace tier needs root and iproute2"
)

TEST_NET = "127.78.0.0/22"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
REQUIRED_CAMERA_VENDORS = {
    "hikvision", "ezviz", "dahua", "amcrest", "lorex", "axis", "hanwha", "uniview", "bosch", "vivotek",
    "ipro", "sony", "mobotix", "avigilon", "pelco", "geovision", "foscam", "reolink", "xiongmai",
    "tplink", "ubiquiti", "tiandy", "honeywell", "hipcam", "hisilicon",
}


# --------------------------------------------------------------------------- helpers


def exchange(ip: str, port: int, data: bytes = b"", tls: bool = False, timeout: float = 3.0, until: bytes | None = None) -> bytes:
    """Send *data*, then read until the peer closes, *until* appears, or *timeout* passes."""
    assert ipaddress.ip_address(ip) in LOOPBACK, f"tests talk from the root namespace to 127/8 only, not {ip}"
    sock = socket.create_connection((ip, port), timeout=timeout)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock)
    try:
        if data:
            sock.sendall(data)
        sock.settimeout(timeout)
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            if until is not None and until in buf:
                break
        return buf
    finally:
        sock.close()


def http_get(ip: str, port: int, path: str = "/", tls: bool = False, method: str = "GET") -> tuple[int, dict, bytes]:
    raw = exchange(ip, port, f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), tls=tls)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return status, headers, body


def rtsp_replies(raw: bytes) -> list[tuple[int, dict, bytes]]:
    """Split a stream of RTSP replies into (status, headers, body)."""
    replies = []
    while raw.startswith(b"RTSP/"):
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        length = int(headers.get("content-length", "0"))
        replies.append((int(lines[0].split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return replies


def host_of(hosts, profile: str):
    host = next(h for h in hosts if h.profile == profile)
    assert ipaddress.ip_address(host.ip) in LOOPBACK
    return host


# --------------------------------------------------------------------------- profiles


def test_profiles_cover_the_brief():
    profiles = load_profiles()
    assert 30 <= len(profiles) <= 50
    vendors = {p.truth["vendor"] for p in profiles if p.is_camera}
    assert REQUIRED_CAMERA_VENDORS <= vendors
    others = {p.truth["device_type"] for p in profiles if not p.is_camera}
    assert {"media-server", "printer", "nas", "router", "server"} <= others
    assert any(not p.identifiable for p in profiles), "some cameras must be unidentifiable"
    # a camera with no banner at all but a registered OUI
    assert any(
        p.is_camera and p.oui and all(s["kind"] == "silent" for s in p.services.values()) for p in profiles
    )


def test_every_oui_is_a_registered_ma_l_prefix():
    for profile in load_profiles():
        for oui in profile.oui:
            org = EUI(oui + ":00:00:00").oui.registration().org
            assert org, f"{profile.name}: {oui} is not registered"


def test_generate_lab_is_deterministic_and_well_formed():
    a = generate_lab(200, "198.18.0.0/22", seed=11)
    b = generate_lab(200, "198.18.0.0/22", seed=11)
    c = generate_lab(200, "198.18.0.0/22", seed=12)
    assert [h.to_dict() for h in a] == [h.to_dict() for h in b]
    assert [h.profile for h in a] != [h.profile for h in c]
    cameras = sum(h.is_camera for h in a)
    assert cameras == 150  # 75 %
    assert len({h.profile for h in a}) == len(load_profiles())  # every profile shows up
    ips = [ipaddress.ip_address(h.ip) for h in a]
    assert len(set(ips)) == 200 and min(ips) == ipaddress.ip_address("198.18.0.2")
    assert len({h.mac for h in a}) == 200
    for host in a:
        profile = get_profile(host.profile)
        first = int(host.mac[:2], 16)
        if profile.oui:
            assert host.mac[:8] in profile.oui
        else:
            assert first & 0x02 and not first & 0x01  # locally administered unicast
    with pytest.raises(ValueError):
        generate_lab(10, "198.18.0.0/29", seed=1)  # only 5 usable after the scanner's


# --------------------------------------------------------------------------- loopback tier


@pytest.fixture(scope="module")
def loop_hosts():
    if not IS_ROOT:
        pytest.skip("binding ports < 1024 needs root")
    hosts = build_hosts([p.name for p in load_profiles()], TEST_NET, seed=5)
    with LoopbackLab(hosts) as served:
        yield served


@needs_root
def test_http_server_header_and_framing(loop_hosts):
    hik = host_of(loop_hosts, "hikvision-ds2cd")
    status, headers, body = http_get(hik.ip, 80)
    assert status == 200
    assert headers["server"] == "App-webs/"
    assert headers["connection"] == "close"
    assert "date" in headers and headers["content-type"].startswith("text/html")
    assert int(headers["content-length"]) == len(body)
    assert b"/doc/page/login.asp" in body


@needs_root
def test_unknown_path_is_404_from_same_server(loop_hosts):
    for profile in ("hikvision-ds2cd", "linux-nginx", "windows-iis", "bosch-dinion"):
        host = host_of(loop_hosts, profile)
        _, ok_headers, _ = http_get(host.ip, 80)
        status, headers, body = http_get(host.ip, 80, "/no/such/page.html")
        assert status == 404, profile
        assert headers.get("server") == ok_headers.get("server")
        assert int(headers["content-length"]) == len(body)


@needs_root
def test_vendor_paths_answer_with_vendor_realms(loop_hosts):
    hik = host_of(loop_hosts, "hikvision-ds2cd")
    status, headers, _ = http_get(hik.ip, 80, "/ISAPI/System/deviceInfo")
    assert status == 401 and f'realm="IP Camera({hik.serial[-5:]})"' in headers["www-authenticate"]
    dahua = host_of(loop_hosts, "dahua-ipc")
    status, headers, _ = http_get(dahua.ip, 80, "/cgi-bin/magicBox.cgi?action=getSystemInfo")
    assert status == 401 and f'realm="Login to {dahua.serial}"' in headers["www-authenticate"]
    assert "server" not in headers
    axis = host_of(loop_hosts, "axis-p3245")
    status, headers, _ = http_get(axis.ip, 80, "/axis-cgi/param.cgi?action=list&group=root.Brand")
    assert status == 401 and "AXIS_" + axis.mac.replace(":", "").upper() in headers["www-authenticate"]
    status, headers, body = http_get(hik.ip, 80, "/", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


@needs_root
def test_rtsp_options_echoes_cseq_and_describe_challenges(loop_hosts):
    hik = host_of(loop_hosts, "hikvision-ds2cd")
    url = f"rtsp://{hik.ip}:554/Streaming/Channels/101"
    request = (
        f"OPTIONS {url} RTSP/1.0\r\nCSeq: 42\r\nUser-Agent: test\r\n\r\n"
        f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 43\r\nAccept: application/sdp\r\n\r\n"
    ).encode()
    replies = rtsp_replies(exchange(hik.ip, 554, request, timeout=2))
    assert [r[0] for r in replies] == [200, 401]
    assert replies[0][1]["cseq"] == "42" and "DESCRIBE" in replies[0][1]["public"]
    assert replies[1][1]["cseq"] == "43" and replies[1][1]["www-authenticate"].startswith("Digest realm=")

    dahua = host_of(loop_hosts, "dahua-ipc")
    raw = exchange(dahua.ip, 554, f"OPTIONS rtsp://{dahua.ip}/ RTSP/1.0\r\nCSeq: 7\r\n\r\n".encode(), until=b"\r\n\r\n")
    (status, headers, _), = rtsp_replies(raw)
    assert status == 200 and headers["cseq"] == "7" and headers["server"] == "Dahua Rtsp Server"


@needs_root
def test_rtsp_describe_without_auth_returns_sdp(loop_hosts):
    live = host_of(loop_hosts, "live555-server")
    raw = exchange(live.ip, 554, f"DESCRIBE rtsp://{live.ip}/test.264 RTSP/1.0\r\nCSeq: 3\r\n\r\n".encode(), timeout=2)
    (status, headers, body), = rtsp_replies(raw)
    assert status == 200 and headers["content-type"] == "application/sdp"
    assert int(headers["content-length"]) == len(body)
    assert body.startswith(b"v=0\r\n") and b"a=tool:LIVE555 Streaming Media" in body
    assert f"IN IP4 {live.ip}".encode() in body


@needs_root
def test_https_certificate_subject_equals_profile(loop_hosts):
    for profile_name in ("hikvision-nvr", "synology-ds", "ubiquiti-edgerouter", "hp-laserjet"):
        host = host_of(loop_hosts, profile_name)
        port, spec = next((p, s) for p, s in host.services.items() if s["kind"] == "https")
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection((host.ip, port), timeout=5) as raw:
            with context.wrap_socket(raw) as tls:
                der = tls.getpeercert(binary_form=True)
        cert = x509.load_der_x509_certificate(der)
        assert cert.subject == subject_name(spec["cert"]["subject"]), profile_name
        assert cert.issuer == cert.subject  # self-signed, as devices ship
        status, headers, _ = http_get(host.ip, port, tls=True)
        assert status in (200, 301, 302)
    hik = host_of(loop_hosts, "hikvision-nvr")
    pem = ssl.get_server_certificate((hik.ip, 443))
    subject = x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()
    assert subject == "CN=www.hikvision.com,OU=DVRNVR,O=HIKVISION,L=HangZhou,ST=ZheJiang,C=CN"


@needs_root
def test_silent_port_accepts_and_sends_nothing(loop_hosts):
    hik = host_of(loop_hosts, "hikvision-ds2cd")
    with socket.create_connection((hik.ip, 8000), timeout=3) as sock:
        sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            sock.recv(1)
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")  # still nothing, still open
        with pytest.raises(socket.timeout):
            sock.recv(1)


@needs_root
def test_banners_on_connect(loop_hosts):
    brother = host_of(loop_hosts, "brother-mfc")
    assert exchange(brother.ip, 21, until=b"\r\n").startswith(b"220 FTP print service:V-1.13/")
    unifi = host_of(loop_hosts, "unifi-g4")
    assert exchange(unifi.ip, 22, until=b"\r\n") == b"SSH-2.0-dropbear_2019.78\r\n"
    xm = host_of(loop_hosts, "xiongmai-xmeye")
    telnet = exchange(xm.ip, 23, until=b"login: ")
    assert telnet.startswith(b"\xff\xfd\x01") and telnet.endswith(b"login: ")


def _abuse(host) -> None:
    """Everything a careless scanner does to a port."""
    for port in host.ports:
        address = (host.ip, port)
        with socket.create_connection(address, timeout=2):  # connect and leave
            pass
        sock = socket.create_connection(address, timeout=2)  # abortive close (RST)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        for junk in (os.urandom(512), b"\x00" * 64 + b"\r\n\r\n", b"GET\r\n\r\n", b"A" * 40000, b"\x16\x03\x01\x00\x05hello"):
            try:
                exchange(host.ip, port, junk, timeout=0.3)
            except (ConnectionError, OSError):
                pass


@needs_root
def test_garbage_and_abuse_do_not_kill_the_lab(loop_hosts):
    victims = [host_of(loop_hosts, p) for p in ("hikvision-ds2cd", "hikvision-nvr", "xiongmai-xmeye", "hipcam-ipc", "synology-ds")]
    threads = [threading.Thread(target=_abuse, args=(h,)) for h in victims]
    # a slow reader: asks for a page and never reads it
    slow = socket.create_connection((victims[0].ip, 80), timeout=2)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    # many idle connections at once
    idle = [socket.create_connection((victims[0].ip, 554), timeout=2) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # junk on RTSP gets an RTSP error, not a crash
    hipcam = victims[3]
    reply = exchange(hipcam.ip, 554, b"\x01\x02 nonsense\r\n\r\n", timeout=2)
    assert reply.startswith(b"RTSP/1.0 400 Bad Request\r\nCSeq: 1\r\nServer: Hipcam RealServer/V1.0")
    # an HTTP request on a DVR's RTSP port gets its tunnelling answer
    xm = victims[2]
    assert b"application/x-rtsp-tunnelled" in exchange(xm.ip, 554, b"GET / HTTP/1.1\r\n\r\n", timeout=2)
    # everything still answers properly
    status, headers, _ = http_get(victims[0].ip, 80)
    assert status == 200 and headers["server"] == "App-webs/"
    status, _, _ = http_get(victims[1].ip, 443, tls=True)
    assert status == 302
    raw = exchange(victims[0].ip, 554, b"OPTIONS * RTSP/1.0\r\nCSeq: 9\r\n\r\n", until=b"\r\n\r\n")
    assert rtsp_replies(raw)[0][1]["cseq"] == "9"
    assert exchange(victims[4].ip, 22, until=b"\r\n").startswith(b"SSH-2.0-")
    # oversized request head -> 400 from the same server
    big = exchange(victims[0].ip, 80, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n", timeout=12)
    assert big.startswith(b"HTTP/1.1 400 ") and b"Server: App-webs/" in big
    slow.close()
    for sock in idle:
        sock.close()


def test_loopback_lab_refuses_other_addresses():
    hosts = generate_lab(2, "198.18.0.0/24", seed=1)
    with pytest.raises(ValueError):
        LoopbackLab(hosts)


# --------------------------------------------------------------------------- namespace tier


def _root_state() -> tuple[list[str], list[tuple[str, str]]]:
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    addrs = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    link_names = sorted(" ".join(line.split()[:2]) for line in links.splitlines())
    addr_pairs = sorted((line.split()[1], line.split()[3]) for line in addrs.splitlines())
    return link_names, addr_pairs


@pytest.fixture(scope="module")
def ns_lab():
    if not IS_ROOT or shutil.which("ip") is None:
        pytest.skip("the namespace tier needs root and iproute2")
    before = _root_state()
    hosts = generate_lab(10, "198.18.0.0/22", seed=7)
    with NamespaceLab(hosts, prefix="cslt") as lab:
        yield lab, before
    assert _root_state() == before
    assert not [n for n in list_namespaces() if n.startswith("cslt-")]


@needs_netns
def test_netns_layout(ns_lab):
    lab, _ = ns_lab
    assert lab.scanner_netns == "cslt-scan" and lab.interface == "lab0" and lab.network == "198.18.0.0/22"
    assert set(lab.namespaces) <= set(list_namespaces())
    routes = subprocess.run(["ip", "-n", lab.scanner_netns, "route"], capture_output=True, text=True).stdout
    assert "default" not in routes and "198.18.0.0/22 dev lab0" in routes
    bridge = subprocess.run(["ip", "-n", lab.switch_netns, "-o", "link", "show", "master", "br0"], capture_output=True, text=True).stdout
    assert len(bridge.splitlines()) == len(lab.hosts) + 1
    assert lab.exec_argv(["true"]) == ["ip", "netns", "exec", "cslt-scan", "true"]
    assert lab.bringup_seconds is not None and lab.bringup_seconds < 20


@needs_netns
def test_netns_host_reachable_from_scanner_namespace(ns_lab):
    lab, _ = ns_lab
    web = next(h for h in lab.hosts if any(s["kind"] == "http" and p == 80 for p, s in h.services.items()))
    code = (
        "import socket\n"
        f"s = socket.create_connection(({web.ip!r}, 80), 5)\n"
        "s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')\n"
        "data = b''\n"
        "while True:\n"
        "    chunk = s.recv(65536)\n"
        "    if not chunk: break\n"
        "    data += chunk\n"
        "print(data.split(b'\\r\\n')[0].decode())\n"
    )
    result = lab.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("HTTP/1.1 ")
    if shutil.which("curl"):
        out = lab.run(["curl", "-s", "-m", "5", "-D", "-", "-o", "/dev/null", f"http://{web.ip}/"], capture_output=True, text=True)
        assert out.stdout.startswith("HTTP/1.1 ")
        server = web.services[80].get("server")
        if server:
            assert f"Server: {server}" in out.stdout


@needs_netns
def test_netns_mac_is_as_assigned_and_resolves_by_arp(ns_lab):
    lab, _ = ns_lab
    for host in lab.hosts[:5]:
        out = subprocess.run(["ip", "-n", lab.host_netns[host.ip], "link", "show", "eth0"], capture_output=True, text=True).stdout
        assert f"link/ether {host.mac} " in out
        addr = subprocess.run(["ip", "-n", lab.host_netns[host.ip], "-o", "addr", "show", "eth0"], capture_output=True, text=True).stdout
        assert f"inet {host.ip}/22" in addr
    target = lab.hosts[0]
    poke = f"import socket; socket.create_connection(({target.ip!r}, {target.ports[0]}), 5).close()"
    assert lab.run([sys.executable, "-c", poke], capture_output=True, timeout=30).returncode == 0
    neigh = subprocess.run(["ip", "-n", lab.scanner_netns, "neigh", "show", target.ip], capture_output=True, text=True).stdout
    assert target.mac in neigh


@needs_netns
def test_netns_root_namespace_untouched_while_up(ns_lab):
    lab, before = ns_lab
    assert _root_state() == before
    rtsp_host = next((h for h in lab.hosts if 554 in h.services and h.services[554]["kind"] == "rtsp"), None)
    if rtsp_host is not None:
        code = (
            "import socket\n"
            f"s = socket.create_connection(({rtsp_host.ip!r}, 554), 5)\n"
            "s.sendall(b'OPTIONS * RTSP/1.0\\r\\nCSeq: 5\\r\\n\\r\\n')\n"
            "print(s.recv(4096).decode())\n"
        )
        out = lab.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30).stdout
        assert "CSeq: 5" in out


@needs_netns
def test_netns_teardown_and_stale_cleanup():
    before = _root_state()
    subprocess.run(["ip", "netns", "add", "cslx-stale"], check=True)
    try:
        with NamespaceLab(generate_lab(3, "198.18.4.0/24", seed=3), prefix="cslx", network="198.18.4.0/24") as lab:
            assert "cslx-stale" not in list_namespaces()
            assert lab.scanner_ip == "198.18.4.1"
            assert len([n for n in list_namespaces() if n.startswith("cslx-")]) == 5
        assert not [n for n in list_namespaces() if n.startswith("cslx-")]
        assert _root_state() == before
    finally:
        cleanup_stale("cslx")


@needs_netns
def test_netns_refuses_unsafe_networks_and_names():
    with pytest.raises(ValueError):
        NamespaceLab(generate_lab(2, "192.0.2.0/24", seed=1), network="192.0.2.0/24")
    with pytest.raises(ValueError):
        NamespaceLab(generate_lab(2, "198.18.0.0/24", seed=1), network="198.18.0.0/24", prefix="Bad-Name")
    hosts = generate_lab(2, "198.18.0.0/24", seed=1)
    hosts[1].ip = "203.0.113.10"
    with pytest.raises(ValueError):
        NamespaceLab(hosts, network="198.18.0.0/24")
