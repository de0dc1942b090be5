"""The lab's discovery side end to end: real datagrams in network namespaces, read by camscan's parsers.

Every request is built with camscan's own protocol builders, sent from INSIDE the lab's
scanner namespace (a small Python program run through ``lab.run``), unicast to one host
or multicast on the lab bridge; the replies come back as bytes and are parsed here with
camscan's sans-IO parsers (and zeroconf's DNSIncoming for mDNS).  Root and iproute2 are
needed; the module skips otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys

import pytest
from zeroconf import DNSIncoming, DNSOutgoing, DNSQuestion
from zeroconf.const import _CLASS_IN, _FLAGS_QR_QUERY, _TYPE_PTR

from camscan_lab import NamespaceLab, build_hosts
from camscan_lab.onvif_service import PASSWORD_DIGEST
from camscan.protocols import ProtocolError, dhip, sadp, ssdp, wsd
from labs import torn_down_lab

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="namespace labs need root and iproute2"),
]

NETWORK = "198.18.40.0/24"
PROFILES = [
    "hikvision-ds2cd", "hikvision-sadp-unactivated", "dahua-ipc", "dahua-dhip-only", "axis-p3245", "bosch-dinion",
    "honeywell-wsd-only", "onvif-rogue-refs", "onvif-malformed-wsd", "synology-ds", "hp-laserjet", "linux-nginx",
]

# Runs inside the scanner namespace: sends each probe from its own socket (or from a
# listening socket joined to a group), collects every datagram for `wait` seconds and
# prints them as JSON.  Nothing here may address anything but the lab.
UDP_EXCHANGE = r"""
import json, select, socket, sys, time
spec = json.loads(sys.stdin.read())
me = spec["scanner"]
socks = {}
for listen in spec["listen"]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", listen["port"]))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(listen["group"]) + socket.inet_aton(me))
    socks[listen["id"]] = s
for probe in spec["probes"]:
    s = socks.get(probe.get("via"))
    if s is None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((me, 0))
        socks[probe["id"]] = s
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(me))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.sendto(bytes.fromhex(probe["data"]), tuple(probe["to"]))
names = {s: name for name, s in socks.items()}
got = []
deadline = time.monotonic() + spec["wait"]
while (left := deadline - time.monotonic()) > 0:
    ready, _, _ = select.select(list(names), [], [], left)
    for s in ready:
        data, source = s.recvfrom(65535)
        got.append({"sock": names[s], "src": list(source), "data": data.hex()})
print(json.dumps(got))
"""

HTTP_EXCHANGE = r"""
import json, socket, sys
results = []
for ip, port, request in json.loads(sys.stdin.read()):
    s = socket.create_connection((ip, port), 5)
    s.sendall(bytes.fromhex(request))
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    results.append(data.hex())
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def lab():
    with torn_down_lab(build_hosts(PROFILES, NETWORK, seed=40), "dl", NETWORK) as running:
        yield running


def host(lab: NamespaceLab, profile: str):
    return next(h for h in lab.hosts if h.profile == profile)


def in_lab(lab: NamespaceLab, address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(lab.network)


def udp_exchange(lab: NamespaceLab, probes: list[dict], listen: list[dict] = (), wait: float = 1.2) -> list[dict]:
    for probe in probes:
        assert in_lab(lab, probe["to"][0]) or ipaddress.ip_address(probe["to"][0]).is_multicast
    spec = {"scanner": lab.scanner_ip, "probes": probes, "listen": list(listen), "wait": wait}
    result = lab.run([sys.executable, "-c", UDP_EXCHANGE], input=json.dumps(spec), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    replies = json.loads(result.stdout)
    for reply in replies:
        reply["data"] = bytes.fromhex(reply["data"])
        reply["src"] = tuple(reply["src"])
    return replies


def http_exchange(lab: NamespaceLab, requests: list[tuple[str, int, bytes]]) -> list[bytes]:
    assert all(in_lab(lab, ip) for ip, _, _ in requests)
    payload = json.dumps([(ip, port, data.hex()) for ip, port, data in requests])
    result = lab.run([sys.executable, "-c", HTTP_EXCHANGE], input=payload, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return [bytes.fromhex(raw) for raw in json.loads(result.stdout)]


def mdns_query(name: str, unicast: bool = False) -> bytes:
    out = DNSOutgoing(_FLAGS_QR_QUERY, not unicast, 0x4D2 if unicast else 0)
    out.add_question(DNSQuestion(name, _TYPE_PTR, _CLASS_IN))
    return out.packets()[0]


WSD_ID = "uuid:6a1d3b2e-8f1e-4b0e-9a65-0c4b6c0f1d01"
WSD_TYPED_ID = "uuid:6a1d3b2e-8f1e-4b0e-9a65-0c4b6c0f1d02"
WSD_UNTYPED_ID = "uuid:6a1d3b2e-8f1e-4b0e-9a65-0c4b6c0f1d03"
SADP_ID = "0C4B6C0F-1D01-4B0E-9A65-6A1D3B2E8F1E"
SSDP_GROUP = (ssdp.MULTICAST_GROUP, ssdp.PORT)


@pytest.fixture(scope="module")
def discovery(lab):
    """One round of every discovery request, unicast and multicast, and every reply."""
    hik, axis = host(lab, "hikvision-ds2cd"), host(lab, "axis-p3245")
    probes = [
        {"id": "wsd-multicast", "data": wsd.build_probe("tds:Device", WSD_ID).hex(), "to": [wsd.MULTICAST_GROUP, wsd.PORT]},
        {"id": "wsd-unicast", "data": wsd.build_probe("dn:NetworkVideoTransmitter", WSD_TYPED_ID).hex(), "to": [hik.ip, wsd.PORT]},
        {"id": "wsd-untyped", "data": wsd.build_probe("", WSD_UNTYPED_ID).hex(), "to": [axis.ip, wsd.PORT]},
        {"id": "sadp", "data": sadp.build_inquiry(SADP_ID).hex(), "to": [sadp.MULTICAST_GROUP, sadp.PORT]},
        {"id": "dhip", "data": dhip.build_search(4242).hex(), "to": [dhip.MULTICAST_GROUP, dhip.PORT]},
        {"id": "ssdp", "data": ssdp.build_msearch("ssdp:all", 1).hex(), "to": list(SSDP_GROUP)},
        {"id": "ssdp-unicast", "data": ssdp.build_msearch("upnp:rootdevice", 1).hex(), "to": [axis.ip, ssdp.PORT]},
        {"id": "mdns-services", "via": "mdns-group", "data": mdns_query("_services._dns-sd._udp.local.").hex(),
         "to": ["224.0.0.251", 5353]},
        {"id": "mdns-legacy", "data": mdns_query("_axis-video._tcp.local.", unicast=True).hex(), "to": [axis.ip, 5353]},
    ]
    listen = [
        {"id": "sadp-group", "port": sadp.PORT, "group": sadp.MULTICAST_GROUP},
        {"id": "dhip-group", "port": dhip.PORT, "group": dhip.MULTICAST_GROUP},
        {"id": "mdns-group", "port": 5353, "group": "224.0.0.251"},
    ]
    replies = udp_exchange(lab, probes, listen)
    by_socket: dict[str, list[dict]] = {}
    for reply in replies:
        assert in_lab(lab, reply["src"][0]), reply  # every reply comes from a lab host
        by_socket.setdefault(reply["sock"], []).append(reply)
    return by_socket


def wsd_hosts(lab):
    return {h.ip: h for h in lab.hosts if "wsd" in h.discovery_protocols}


def test_wsd_multicast_probe_gets_one_probematch_per_onvif_host(lab, discovery):
    replies = discovery["wsd-multicast"]
    expected = wsd_hosts(lab)
    assert sorted(r["src"] for r in replies) == sorted((ip, wsd.PORT) for ip in expected)
    for reply in replies:
        lab_host = expected[reply["src"][0]]
        if lab_host.profile == "onvif-malformed-wsd":
            with pytest.raises(ProtocolError):
                wsd.parse_probe_matches(reply["data"], lab_host.ip)
            continue
        seen = {(o.field, o.value) for o in wsd.parse_probe_matches(reply["data"], lab_host.ip, wsd.PORT)}
        assert ("wsd.relates_to", WSD_ID) in seen
        endpoints = [value for field, value in seen if field == "wsd.endpoint"]
        assert endpoints in ([f"urn:uuid:{lab_host.endpoint_uuid}"], [f"uuid:{lab_host.endpoint_uuid}"])  # Dahua: no urn:
        if lab_host.truth["discovery_model"]:
            hardware = {value for field, value in seen if field == "wsd.scope.hardware"}
            assert hardware and all(value in lab_host.truth["discovery_model"] for value in hardware), seen
        xaddrs = [value for field, value in seen if field == "wsd.xaddr"]
        if lab_host.profile == "onvif-rogue-refs":
            assert xaddrs == ["http://198.19.255.77/onvif/device_service"]
            assert not in_lab(lab, "198.19.255.77")
        else:
            assert f"http://{lab_host.ip}/onvif/device_service" in xaddrs
    honeywell = next(r for r in replies if expected[r["src"][0]].profile == "honeywell-wsd-only")
    names = [o.value for o in wsd.parse_probe_matches(honeywell["data"], honeywell["src"][0]) if o.field == "wsd.scope.name"]
    assert names == ["Honeywell"]
    hikvision = next(r for r in replies if expected[r["src"][0]].profile == "hikvision-ds2cd")
    names = [o.value for o in wsd.parse_probe_matches(hikvision["data"], hikvision["src"][0]) if o.field == "wsd.scope.name"]
    assert names == ["HIKVISION DS-2CD2143G0-I"]  # percent-decoded


def test_wsd_unicast_typed_and_untyped_probes(lab, discovery):
    hik, axis = host(lab, "hikvision-ds2cd"), host(lab, "axis-p3245")
    (typed,) = discovery["wsd-unicast"]
    assert typed["src"] == (hik.ip, wsd.PORT)
    fields = {o.field: o.value for o in wsd.parse_probe_matches(typed["data"], hik.ip)}
    assert fields["wsd.relates_to"] == WSD_TYPED_ID and fields["wsd.scope.hardware"] == hik.truth["model"]
    (untyped,) = discovery["wsd-untyped"]
    fields = {o.field: o.value for o in wsd.parse_probe_matches(untyped["data"], axis.ip)}
    assert fields["wsd.relates_to"] == WSD_UNTYPED_ID and fields["wsd.scope.name"] == "AXIS P3245-V"


def test_sadp_replies_unicast_or_to_the_group(lab, discovery):
    unicast = {r["src"][0]: r for r in discovery.get("sadp", [])}
    group = {r["src"][0]: r for r in discovery.get("sadp-group", [])}
    hik, fresh = host(lab, "hikvision-ds2cd"), host(lab, "hikvision-sadp-unactivated")
    assert set(unicast) == {hik.ip} and set(group) == {fresh.ip}
    for lab_host, reply in ((hik, unicast[hik.ip]), (fresh, group[fresh.ip])):
        assert reply["src"][1] == sadp.PORT
        fields = {o.field: o.value for o in sadp.parse_probe_match(reply["data"], lab_host.ip)}
        assert fields["sadp.description"] == lab_host.truth["discovery_model"]
        assert fields["sadp.mac"] == lab_host.mac and fields["sadp.ipv4"] == lab_host.ip
        assert fields["sadp.activated"] == ("true" if lab_host is hik else "false")
        assert f"<Uuid>{SADP_ID}</Uuid>".encode() in reply["data"]


def test_dhip_search_gets_notify_dev_info(lab, discovery):
    replies = {r["src"][0]: r for r in discovery.get("dhip", [])}
    dahua = [h for h in lab.hosts if "dhip" in h.discovery_protocols]
    assert set(replies) == {h.ip for h in dahua} and not discovery.get("dhip-group")
    for lab_host in dahua:
        fields = {o.field: o.value for o in dhip.parse_reply(replies[lab_host.ip]["data"], lab_host.ip)}
        assert fields["dhip.device_type"] == lab_host.truth["discovery_model"]
        assert fields["dhip.mac"] == lab_host.mac and fields["dhip.ipv4"] == lab_host.ip
        assert fields["dhip.serial"] == lab_host.serial


def test_ssdp_answers_and_descriptions_name_the_model(lab, discovery):
    replies = {r["src"][0]: r for r in discovery["ssdp"]}
    ssdp_hosts = {h.ip: h for h in lab.hosts if "ssdp" in h.discovery_protocols}
    assert set(replies) == set(ssdp_hosts)
    fetch = []
    for ip, reply in replies.items():
        fields = {o.field: o.value for o in ssdp.parse_ssdp(reply["data"], ip)}
        location = fields["ssdp.location"]
        target = ipaddress.ip_address(location.split("/")[2].split(":")[0])
        if ssdp_hosts[ip].profile == "onvif-rogue-refs":
            assert not in_lab(lab, str(target))  # recorded, never fetched
            continue
        assert str(target) == ip
        port = int(location.split("/")[2].split(":")[1])
        path = "/" + location.split("/", 3)[3]
        fetch.append((ip, port, f"GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\n\r\n".encode()))
    for (ip, port, _), raw in zip(fetch, http_exchange(lab, fetch)):
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        fields = {o.field: o.value for o in ssdp.parse_device_description(body, ip, port)}
        assert fields["upnp.model_name"] == ssdp_hosts[ip].truth["discovery_model"]
    (unicast,) = discovery["ssdp-unicast"]
    assert {o.field: o.value for o in ssdp.parse_ssdp(unicast["data"], unicast["src"][0])}["ssdp.st"] == "upnp:rootdevice"


def test_mdns_multicast_and_legacy_unicast_answers(lab, discovery):
    axis, printer = host(lab, "axis-p3245"), host(lab, "hp-laserjet")
    announced = {}
    for reply in discovery["mdns-group"]:
        message = DNSIncoming(reply["data"])
        assert message.valid and message.is_response()
        announced[reply["src"][0]] = {answer.alias for answer in message.answers()}
    assert announced[axis.ip] == {"_axis-video._tcp.local.", "_http._tcp.local."}
    assert "_ipp._tcp.local." in announced[printer.ip]
    (legacy,) = discovery["mdns-legacy"]
    message = DNSIncoming(legacy["data"])
    assert legacy["src"] == (axis.ip, 5353) and message.id == 0x4D2  # RFC 6762 §6.7
    records = message.answers()
    instance = f"AXIS P3245-V - {axis.mac.replace(':', '').upper()}._axis-video._tcp.local."
    assert [r.alias for r in records if r.type == _TYPE_PTR] == [instance]
    srv = next(r for r in records if r.name == instance and hasattr(r, "port"))
    assert srv.port == 80
    text = next(r for r in records if hasattr(r, "text"))
    assert f"macaddress={axis.mac.replace(':', '').upper()}".encode() in text.text
    assert axis.ip in {getattr(r, "address", None) and ipaddress.ip_address(r.address).exploded for r in records}


def soap(call: str, credentials: tuple[str, str] | None = None, nonce: bytes = b"lab-nonce-0123456") -> bytes:
    header = ""
    if credentials:
        created = "2024-05-01T10:00:00Z"
        digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + credentials[1].encode()).digest()).decode()
        header = (
            '<s:Header><Security xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
            f"<UsernameToken><Username>{credentials[0]}</Username>"
            f'<Password Type="{PASSWORD_DIGEST}">{digest}</Password>'
            f"<Nonce>{base64.b64encode(nonce).decode()}</Nonce>"
            '<Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
            f"{created}</Created></UsernameToken></Security></s:Header>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        f'{header}<s:Body><{call} xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
    ).encode()


def post(ip: str, port: int, body: bytes, action: str) -> tuple[str, int, bytes]:
    head = (
        f"POST /onvif/device_service HTTP/1.1\r\nHost: {ip}\r\nContent-Length: {len(body)}\r\n"
        f'Content-Type: application/soap+xml; charset=utf-8; action="http://www.onvif.org/ver10/device/wsdl/{action}"\r\n\r\n'
    )
    return ip, port, head.encode() + body


def test_onvif_device_service_with_and_without_password_digest(lab):
    hik, bosch = host(lab, "hikvision-ds2cd"), host(lab, "bosch-dinion")
    user, password = hik.onvif_credentials
    assert bosch.onvif_credentials is None
    requests = [
        post(hik.ip, 80, soap("GetSystemDateAndTime"), "GetSystemDateAndTime"),
        post(hik.ip, 80, soap("GetDeviceInformation"), "GetDeviceInformation"),
        post(hik.ip, 80, soap("GetDeviceInformation", (user, password + "x")), "GetDeviceInformation"),
        post(hik.ip, 80, soap("GetDeviceInformation", (user, password)), "GetDeviceInformation"),
        post(bosch.ip, 80, soap("GetDeviceInformation"), "GetDeviceInformation"),
    ]
    clock, anonymous, wrong, right, open_info = http_exchange(lab, requests)
    assert clock.startswith(b"HTTP/1.1 200 ") and b"<tt:UTCDateTime>" in clock
    for refused in (anonymous, wrong):
        assert refused.startswith(b"HTTP/1.1 401 ") and b"ter:NotAuthorized" in refused
        assert b"application/soap+xml" in refused.split(b"\r\n\r\n")[0]
    assert right.startswith(b"HTTP/1.1 200 ")
    assert f"<tds:Model>{hik.truth['model']}</tds:Model>".encode() in right
    assert b"<tds:Manufacturer>HIKVISION</tds:Manufacturer>" in right
    assert open_info.startswith(b"HTTP/1.1 200 ") and b"<tds:Model>DINION IP 5000 HD</tds:Model>" in open_info


def test_hostile_datagrams_get_nothing_and_service_goes_on(lab):
    hik, dahua, axis = host(lab, "hikvision-ds2cd"), host(lab, "dahua-ipc"), host(lab, "axis-p3245")
    junk = [
        os.urandom(700),
        wsd.build_probe("dn:NetworkVideoTransmitter", WSD_ID)[:200],  # truncated
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><Probe><Types>inquiry</Types><Uuid>&a;</Uuid></Probe>",
        b"A" * 60000,
        dhip.build_search(1)[:32] + b"{",  # header claims more body than sent
        b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n",  # no MAN
        b"\x00" * 12 + b"\xff" * 50,  # a DNS header announcing records that are not there
    ]
    targets = [(hik.ip, wsd.PORT), (hik.ip, sadp.PORT), (dahua.ip, dhip.PORT), (axis.ip, ssdp.PORT), (axis.ip, 5353)]
    probes = [{"id": f"junk-{i}-{j}", "data": data.hex(), "to": list(target)}
              for i, target in enumerate(targets) for j, data in enumerate(junk)]
    assert udp_exchange(lab, probes, wait=0.5) == []
    follow_up = [
        {"id": "wsd", "data": wsd.build_probe("tds:Device", WSD_ID).hex(), "to": [hik.ip, wsd.PORT]},
        {"id": "dhip", "data": dhip.build_search(9).hex(), "to": [dahua.ip, dhip.PORT]},
        {"id": "ssdp", "data": ssdp.build_msearch("ssdp:all", 1).hex(), "to": [axis.ip, ssdp.PORT]},
    ]
    answered = {r["sock"] for r in udp_exchange(lab, follow_up, wait=0.5)}
    assert answered == {"wsd", "dhip", "ssdp"}


def test_truth_lists_what_discovery_reveals(lab):
    records = {h.profile: h.to_dict() for h in lab.hosts}
    assert records["hikvision-sadp-unactivated"]["ports"] == [] and records["hikvision-sadp-unactivated"]["discovery"] == ["sadp"]
    assert records["dahua-dhip-only"]["discovery"] == ["dhip"]
    assert records["honeywell-wsd-only"]["truth"]["discovery_model"] == "H4W2PER3"
    assert records["hikvision-ds2cd"]["onvif_auth"] is True and records["bosch-dinion"]["onvif_auth"] is False
    assert records["linux-nginx"]["discovery"] == [] and records["onvif-rogue-refs"]["truth"]["discovery_model"] is None
    sent = subprocess.run(["ip", "-n", lab.switch_netns, "-d", "link", "show", "br0"], capture_output=True, text=True).stdout
    assert "mcast_snooping 0" in sent
