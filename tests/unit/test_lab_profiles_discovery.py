"""The lab's discovery answers and profile checks, without sockets: who gets answered, with what, and where to."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
import yaml
from zeroconf import DNSIncoming, DNSOutgoing, DNSQuestion
from zeroconf.const import _CLASS_IN, _FLAGS_QR_QUERY, _TYPE_PTR

from camscan_lab.discovery_replies import ENDPOINTS, Site, answer
from camscan_lab.onvif_service import PASSWORD_DIGEST, device_service_reply
from camscan_lab.profiles import ProfileError, build_hosts, load_profiles
from camscan.protocols import dhip, sadp, ssdp, wsd

SCANNER = ("198.18.0.1", 40000)
SITE = Site()


@pytest.fixture(scope="module")
def hosts():
    return {h.profile: h for h in build_hosts([p.name for p in load_profiles()], "198.18.0.0/22", seed=2)}


def probes() -> dict[str, bytes]:
    return {
        "wsd": wsd.build_probe("tds:Device", "uuid:00000000-0000-4000-8000-000000000001"),
        "sadp": sadp.build_inquiry("00000000-0000-4000-8000-000000000002"),
        "dhip": dhip.build_search(3),
        "ssdp": ssdp.build_msearch("ssdp:all", 1),
    }


@pytest.mark.parametrize("source", [("192.0.2.3", 40000), ("8.8.8.8", 3702), ("198.20.0.1", 40000), ("198.18.0.1", 0)])
def test_requesters_outside_the_lab_block_get_nothing(hosts, source):
    hik = hosts["hikvision-ds2cd"]
    for protocol, data in probes().items():
        if protocol in hik.discovery:
            assert answer(protocol, data, source, hik, SITE) == []


def test_a_host_never_answers_itself(hosts):
    hik = hosts["hikvision-ds2cd"]
    assert answer("wsd", probes()["wsd"], (hik.ip, 3702), hik, SITE) == []


def test_replies_go_to_the_requester_or_the_group_and_loopback_keeps_them_unicast(hosts):
    for lab_host in hosts.values():
        for protocol in lab_host.udp_discovery:
            if protocol == "mdns":
                continue
            port, group = ENDPOINTS[protocol]
            replies = answer(protocol, probes()[protocol], SCANNER, lab_host, SITE)
            assert replies, (lab_host.profile, protocol)
            assert all(destination in (SCANNER, (group, port)) for _, destination in replies)
            unicast = answer(protocol, probes()[protocol], ("127.0.0.1", 40000), lab_host, SITE, multicast=False)
            assert [destination for _, destination in unicast] == [("127.0.0.1", 40000)] * len(unicast)
    fresh = hosts["hikvision-sadp-unactivated"]
    assert [d for _, d in answer("sadp", probes()["sadp"], SCANNER, fresh, SITE)] == [("239.255.255.250", 37020)]


@pytest.mark.parametrize("junk", [b"", b"\x00" * 40, b"<Probe>", b"A" * 20000, b"\xff\xfe<\x00?\x00x\x00",
                                  b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY b 'c'>]><Probe><Types>inquiry</Types></Probe>"])
def test_junk_gets_no_answer(hosts, junk):
    for lab_host in (hosts["hikvision-ds2cd"], hosts["dahua-ipc"], hosts["axis-p3245"]):
        for protocol in lab_host.udp_discovery:
            assert answer(protocol, junk, SCANNER, lab_host, SITE) == []


def test_wsd_answers_only_matching_types_and_scopes(hosts):
    axis = hosts["axis-p3245"]
    display = wsd.build_probe("dn:NetworkVideoTransmitter", "uuid:1").replace(b"NetworkVideoTransmitter", b"NetworkVideoDisplay")
    assert answer("wsd", display, SCANNER, axis, SITE) == []
    scoped = wsd.build_probe("", "uuid:2").replace(b"<d:Probe>", b"<d:Probe><d:Scopes>onvif://www.onvif.org/Profile</d:Scopes>")
    assert len(answer("wsd", scoped, SCANNER, axis, SITE)) == 1
    elsewhere = scoped.replace(b"Profile</d:Scopes>", b"location/city/oslo</d:Scopes>")
    assert answer("wsd", elsewhere, SCANNER, axis, SITE) == []
    odd_id = wsd.build_probe("", "uuid:1").replace(b">uuid:1<", b">uuid:&lt;script&gt;<")
    assert answer("wsd", odd_id, SCANNER, axis, SITE) == []  # a MessageID that is not a uuid gets no answer


def test_mdns_answers_multicast_unless_asked_for_unicast(hosts):
    axis = hosts["axis-p3245"]

    def query(unicast_bit: bool) -> bytes:
        out = DNSOutgoing(_FLAGS_QR_QUERY, True, 0)
        question = DNSQuestion("_axis-video._tcp.local.", _TYPE_PTR, _CLASS_IN)
        question.unicast = unicast_bit
        out.add_question(question)
        return out.packets()[0]

    (payload, destination), = answer("mdns", query(False), ("198.18.0.1", 5353), axis, SITE)
    assert destination == ("224.0.0.251", 5353)
    assert DNSIncoming(payload).is_response()
    assert answer("mdns", query(True), ("198.18.0.1", 5353), axis, SITE)[0][1] == ("198.18.0.1", 5353)
    assert answer("mdns", payload, ("198.18.0.1", 5353), axis, SITE) == []  # responses are never answered


def _soap(call: str, header: str = "") -> bytes:
    return (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">{header}<s:Body>{call}</s:Body></s:Envelope>').encode()


def _token(user: str, password: str, nonce: bytes = b"0123456789abcdef", created: str = "2024-01-01T00:00:00Z") -> str:
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return (f"<s:Header><Security><UsernameToken><Username>{user}</Username><Password Type=\"{PASSWORD_DIGEST}\">"
            f"{digest}</Password><Nonce>{base64.b64encode(nonce).decode()}</Nonce><Created>{created}</Created>"
            "</UsernameToken></Security></s:Header>")


def test_onvif_device_service_dispatch_and_digest(hosts):
    hik = hosts["hikvision-ds2cd"]
    spec = hik.discovery["onvif"]
    user, password = hik.onvif_credentials
    status, content_type, body = device_service_reply(_soap("<GetDeviceInformation/>"), "", spec, hik)
    assert (status, b"ter:NotAuthorized" in body) == (401, True) and content_type.startswith("application/soap+xml")
    status, _, body = device_service_reply(_soap("<GetDeviceInformation/>", _token(user, password)), "", spec, hik)
    assert status == 200 and b"<tds:Model>DS-2CD2143G0-I</tds:Model>" in body
    assert device_service_reply(_soap("<GetDeviceInformation/>", _token("root", password)), "", spec, hik)[0] == 401
    text = _token(user, password).replace(PASSWORD_DIGEST, PASSWORD_DIGEST.replace("Digest", "Text"))
    assert device_service_reply(_soap("<GetDeviceInformation/>", text), "", spec, hik)[0] == 401
    by_action = 'application/soap+xml; action="http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"'
    status, _, body = device_service_reply(_soap(""), by_action, spec, hik, now=0)
    assert status == 200 and b"<tt:Year>1970</tt:Year>" in body
    assert device_service_reply(_soap("<SystemReboot/>"), "", spec, hik)[0] == 500
    assert device_service_reply(b"<s:Envelope><s:Body>", "", spec, hik)[0] == 400
    dahua = hosts["dahua-ipc"]
    assert device_service_reply(_soap("<GetDeviceInformation/>"), "", dahua.discovery["onvif"], dahua)[0] == 400


def test_truth_and_hosts_say_what_discovery_reveals(hosts):
    assert hosts["hikvision-sadp-unactivated"].ports == [] and hosts["hikvision-sadp-unactivated"].discovery_protocols == ("sadp",)
    assert hosts["axis-p3245"].discovery_protocols == ("wsd", "ssdp", "mdns", "onvif")
    assert hosts["axis-p3245"].truth["discovery_model"] == "AXIS P3245-V"
    assert hosts["generic-onvif-cam"].truth["discovery_model"] is None
    assert hosts["onvif-rogue-refs"].truth["discovery_model"] is None
    assert hosts["bosch-dinion"].onvif_credentials is None and hosts["linux-nginx"].discovery_protocols == ()
    assert 49152 in hosts["axis-p3245"].ports  # the libupnp description server
    every = {p for h in hosts.values() for p in h.discovery_protocols}
    assert every == {"wsd", "sadp", "dhip", "ssdp", "mdns", "onvif"}


def _profile(tmp_path: Path, **overrides) -> Path:
    raw = {"name": "x", "truth": {"vendor": None, "manufacturer": None, "device_type": "ip-camera", "model": "M",
                                  "firmware": None}, "oui": [], "services": {80: {"kind": "http"}}}
    raw.update(overrides)
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump([raw]))
    return path


@pytest.mark.parametrize("overrides, message", [
    ({"services": {}}, "services must be a non-empty mapping"),
    ({"discovery": {"telnet": {}}}, "unknown discovery protocol"),
    ({"discovery": {"wsd": {"flavor": "sony", "scopes": ["a"]}}}, "flavor"),
    ({"discovery": {"wsd": {"scopes": ["a"], "color": "red"}}}, "unknown keys"),
    ({"discovery": {"sadp": {"reply": "broadcast"}}}, "reply must be unicast or multicast"),
    ({"discovery": {"onvif": {"port": 554, "auth": "none", "device_information": {}}}}, "device_information"),
    ({"discovery": {"onvif": {"auth": "digest", "device_information": {}}}}, "username and password"),
    ({"discovery": {"onvif": {"auth": "none", "media": ["media3"], "device_information": {
        k: "v" for k in ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "HardwareId")}}}},
     "media must be true or a list"),
    ({"discovery": {"ssdp": {"server": "s", "st": "t", "location_url": "http://x/", "location": {"path": "/d"}}}},
     "exactly one of location"),
    ({"discovery": {"mdns": {"hostname": "h", "services": [{"type": "http", "name": "n", "port": 80}]}}}, "type"),
])
def test_bad_discovery_sections_are_refused(tmp_path, overrides, message):
    with pytest.raises(ProfileError, match=message):
        load_profiles(_profile(tmp_path, **overrides))


def test_onvif_needs_an_http_service(tmp_path):
    info = {k: "v" for k in ("Manufacturer", "Model", "FirmwareVersion", "SerialNumber", "HardwareId")}
    path = _profile(tmp_path, services={554: {"kind": "rtsp"}},
                    discovery={"onvif": {"port": 554, "auth": "none", "device_information": info}})
    with pytest.raises(ProfileError, match="must be an http service"):
        load_profiles(path)
