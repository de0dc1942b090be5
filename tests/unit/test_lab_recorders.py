"""The lab's recorders: Digest as RFC 7616 computes it, and each channel API answering as documented.

Requests go through httpx's own Digest implementation (``httpx.DigestAuth``) over a
``MockTransport`` that hands them to the lab's recorder: an independent client, no socket.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
from xml.etree import ElementTree

import httpx
import pytest

from camscan_lab import digest, onvif_service
from camscan_lab.profiles import LabHost
from camscan_lab.recorders import (
    HIK_NAMESPACE, RECORDER_PROFILES, WRONG_PASSWORD, check_recorder_route, internal_addresses, lab_credentials,
    recorder_lab, recorder_reply, resolve_channels,
)

NETWORK = "198.18.72.0/24"
HOSTS = recorder_lab(NETWORK)
BY_PROFILE = {host.profile: host for host in HOSTS}
NS = {"hik": HIK_NAMESPACE}


def recorder_route(host: LabHost) -> dict:
    """The ``recorder`` spec of the host's HTTP API route."""
    [route] = [route["recorder"] for route in host.services[80]["routes"].values() if "recorder" in route]
    return route


def client(host: LabHost, auth: httpx.Auth | None = None) -> httpx.Client:
    """An httpx client whose requests the host's recorder API answers (no network)."""
    def answer(request: httpx.Request) -> httpx.Response:
        route = recorder_reply(recorder_route(host), request.method, request.url.raw_path.decode(),
                               request.headers.get("authorization"), host)
        return httpx.Response(route["status"], headers={"Content-Type": route.get("content_type", "text/plain"),
                                                        **route.get("headers", {})}, content=route["content"])
    return httpx.Client(base_url=f"http://{host.ip}", transport=httpx.MockTransport(answer), auth=auth)


def account(host: LabHost) -> httpx.DigestAuth:
    first = recorder_route(host)["accounts"][0]
    return httpx.DigestAuth(first["username"], first["password"])


# --------------------------------------------------------------------------- Digest


def test_digest_response_is_the_rfc_example():
    # RFC 7616 §3.9.1 (MD5) and RFC 2617 §3.5: the same computation, two published answers.
    rfc7616 = {"username": "Mufasa", "realm": "http-auth@example.org", "uri": "/dir/index.html", "qop": "auth",
               "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "nc": "00000001",
               "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"}
    assert digest.expected_response(rfc7616, "Circle of Life", "GET") == "8ca523f5e9506fed4657c9700eebdbec"
    rfc2617 = {"username": "Mufasa", "realm": "testrealm@host.com", "uri": "/dir/index.html", "qop": "auth",
               "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093", "nc": "00000001", "cnonce": "0a4f113b"}
    assert digest.expected_response(rfc2617, "Circle Of Life", "GET") == "6629fae49393a05397450978507c4ef1"
    assert digest.response_matches({**rfc2617, "response": "6629fae49393a05397450978507c4ef1"}, "Circle Of Life", "GET")
    wrong = {**rfc2617, "response": "6629fae49393a05397450978507c4ef1"}
    assert not digest.response_matches(wrong, "circle of life", "GET")


def test_authorization_params_reads_quoted_and_bare_values():
    header = ('Digest username="svc", realm="Login to X, Y", nonce="abc", uri="/a?b=1&c=2", qop=auth, '
              'nc=00000001, response="ff"')
    params = digest.authorization_params(header)
    assert params["realm"] == "Login to X, Y" and params["uri"] == "/a?b=1&c=2" and params["qop"] == "auth"
    assert digest.authorization_params('Basic dXNlcjpwYXNz') == {}


@pytest.mark.parametrize("profile", sorted(host.profile for host in HOSTS if any(
    "recorder" in route for service in host.services.values() for route in service.get("routes", {}).values())))
def test_every_api_path_wants_digest_without_credentials(profile):
    host = BY_PROFILE[profile]
    route = recorder_route(host)
    paths = (["/ISAPI/System/deviceInfo", "/ISAPI/ContentMgmt/InputProxy/channels",
              "/ISAPI/ContentMgmt/InputProxy/channels/status", "/ISAPI/System/Video/inputs/channels"]
             if route["api"] == "isapi" else
             ["/cgi-bin/magicBox.cgi?action=getSystemInfo",
              "/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice",
              "/cgi-bin/configManager.cgi?action=getConfig&name=ChannelTitle"])
    with client(host) as anonymous:
        for path in paths:
            response = anonymous.get(path)
            assert response.status_code == 401, path
            challenge = response.headers["www-authenticate"]
            assert challenge.startswith("Digest ") and 'qop="auth"' in challenge
            assert f'realm="{host.render(route["realm"])}"' in challenge


def test_a_wrong_password_a_foreign_nonce_or_another_uri_is_refused():
    host = BY_PROFILE["rec-hikvision-poe-nvr"]
    good = recorder_route(host)["accounts"][0]
    with client(host, httpx.DigestAuth(good["username"], good["password"] + "x")) as wrong:
        assert wrong.get("/ISAPI/System/deviceInfo").status_code == 401
    with client(host, account(host)) as right:
        assert right.get("/ISAPI/System/deviceInfo").status_code == 200
    realm = host.render(recorder_route(host)["realm"])
    params = {"username": good["username"], "realm": realm, "nonce": "0" * 32, "uri": "/ISAPI/System/deviceInfo",
              "qop": "auth", "nc": "00000001", "cnonce": "abcd"}
    forged = digest.expected_response(params, good["password"], "GET")
    header = "Digest " + ", ".join(f'{key}="{value}"' for key, value in {**params, "response": forged}.items())
    route = recorder_route(host)
    assert recorder_reply(route, "GET", params["uri"], header, host)["status"] == 401, "nonce never issued"
    issued = host.extra["digest_nonces"][-1]
    moved = {**params, "nonce": issued}
    signed = digest.expected_response(moved, good["password"], "GET")
    header = "Digest " + ", ".join(f'{key}="{value}"' for key, value in {**moved, "response": signed}.items())
    assert recorder_reply(route, "GET", "/ISAPI/ContentMgmt/InputProxy/channels", header, host)["status"] == 401
    assert recorder_reply(route, "GET", params["uri"], header, host)["status"] == 200
    # The challenge offers qop="auth": an answer without it (RFC 2069's form) is not the one asked for.
    bare = {key: value for key, value in moved.items() if key not in ("qop", "nc", "cnonce")}
    signed_bare = {**bare, "response": digest.expected_response(bare, good["password"], "GET")}
    header = "Digest " + ", ".join(f'{key}="{value}"' for key, value in signed_bare.items())
    assert recorder_reply(route, "GET", params["uri"], header, host)["status"] == 401


# --------------------------------------------------------------------------- ISAPI


def isapi(host: LabHost, path: str, auth: httpx.Auth | None = None) -> ElementTree.Element:
    with client(host, auth or account(host)) as session:
        response = session.get(path)
    assert response.status_code == 200, (path, response.text)
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ElementTree.fromstring(response.content)


def test_isapi_device_info_and_ip_channel_lists_as_documented():
    host = BY_PROFILE["rec-hikvision-poe-nvr"]
    info = isapi(host, "/ISAPI/System/deviceInfo")
    assert info.tag == f"{{{HIK_NAMESPACE}}}DeviceInfo"
    assert info.findtext("hik:model", namespaces=NS) == "DS-7608NI-K2/8P"
    assert info.findtext("hik:deviceType", namespaces=NS) == "NVR"
    assert info.findtext("hik:serialNumber", namespaces=NS) == host.render(host.discovery["sadp"]["serial"])
    assert info.findtext("hik:macAddress", namespaces=NS) == host.mac

    listed = isapi(host, "/ISAPI/ContentMgmt/InputProxy/channels")
    assert listed.tag == f"{{{HIK_NAMESPACE}}}InputProxyChannelList"
    channels = listed.findall("hik:InputProxyChannel", NS)
    truth = host.truth["channels"]
    assert listed.get("size") == str(len(truth)) == str(len(channels))
    for element, channel in zip(channels, truth):
        port = element.find("hik:sourceInputPortDescriptor", NS)
        assert int(element.findtext("hik:id", namespaces=NS)) == channel["number"]
        assert element.findtext("hik:name", namespaces=NS) == channel["name"]
        assert port.findtext("hik:proxyProtocol", namespaces=NS) == "HIKVISION"
        assert port.findtext("hik:addressingFormatType", namespaces=NS) == "ipaddress"
        assert port.findtext("hik:ipAddress", namespaces=NS) == channel["address"]
        assert port.findtext("hik:managePortNo", namespaces=NS) == "8000"
        assert (port.findtext("hik:model", namespaces=NS) or None) == channel["model"]
        assert (port.findtext("hik:connMode", namespaces=NS) == "plugplay") == (channel["connection"] == "ip-poe")

    status = isapi(host, "/ISAPI/ContentMgmt/InputProxy/channels/status")
    assert status.tag == f"{{{HIK_NAMESPACE}}}InputProxyChannelStatusList"
    online = {int(e.findtext("hik:id", namespaces=NS)): e.findtext("hik:online", namespaces=NS)
              for e in status.findall("hik:InputProxyChannelStatus", NS)}
    assert online == {c["number"]: "false" if c["video"] == "offline" else "true" for c in truth}
    assert sorted(n for n, state in online.items() if state == "false") == [3, 5]


def test_isapi_says_not_supported_for_what_the_recorder_has_not():
    host = BY_PROFILE["rec-hikvision-poe-nvr"]
    with client(host, account(host)) as session:
        response = session.get("/ISAPI/System/Video/inputs/channels")
    assert response.status_code == 403
    status = ElementTree.fromstring(response.content)
    assert status.tag == f"{{{HIK_NAMESPACE}}}ResponseStatus"
    assert status.findtext("hik:subStatusCode", namespaces=NS) == "notSupport"


def test_a_bispectrum_camera_lists_its_two_sensors_as_video_inputs_and_no_ip_channel():
    host = BY_PROFILE["rec-hikvision-bispectrum-cam"]
    with client(host) as session:
        assert session.get("/ISAPI/System/Video/inputs/channels").status_code == 401
    inputs = isapi(host, "/ISAPI/System/Video/inputs/channels")
    assert inputs.tag == f"{{{HIK_NAMESPACE}}}VideoInputChannelList"
    assert [(e.findtext("hik:id", namespaces=NS), e.findtext("hik:name", namespaces=NS),
             e.findtext("hik:resDesc", namespaces=NS)) for e in inputs.findall("hik:VideoInputChannel", NS)] == [
        ("1", "Optical", "1920*1080P25"), ("2", "Thermal", "384*288P25")]
    with client(host, account(host)) as session:
        assert session.get("/ISAPI/ContentMgmt/InputProxy/channels").status_code == 403


def test_the_refusing_recorder_refuses_the_scans_account_but_knows_its_channels():
    host = BY_PROFILE["rec-refusing-dvr"]
    assert host.truth["channels_with_credentials"] == "credentials-needed"
    [offered] = [e for e in lab_credentials([host]) if e["service"] == "http"]
    assert offered["password"] == WRONG_PASSWORD
    with client(host, httpx.DigestAuth(offered["username"], offered["password"])) as scanner:
        for path in ("/ISAPI/System/deviceInfo", "/ISAPI/System/Video/inputs/channels", "/"):
            assert scanner.get(path).status_code == 401
    inputs = isapi(host, "/ISAPI/System/Video/inputs/channels")  # its own account
    described = {int(e.findtext("hik:id", namespaces=NS)): e.findtext("hik:resDesc", namespaces=NS)
                 for e in inputs.findall("hik:VideoInputChannel", NS)}
    assert described[2] == "NO VIDEO" and described[3] == "1280*720(HD720P)P25" and len(described) == 4


# --------------------------------------------------------------------------- Dahua


def dahua(host: LabHost, path: str) -> dict[str, str]:
    with client(host, account(host)) as session:
        response = session.get(path)
    assert response.status_code == 200, (path, response.text)
    assert response.text.endswith("\r\n") or response.text == ""
    return dict(line.split("=", 1) for line in response.text.split("\r\n") if line)


def test_dahua_xvr_lists_analogue_and_ip_channels_as_documented():
    host = BY_PROFILE["rec-dahua-xvr"]
    truth = {c["number"]: c for c in host.truth["channels"]}
    system = dahua(host, "/cgi-bin/magicBox.cgi?action=getSystemInfo")
    assert system["deviceType"] == "XVR5108HS-I3" and system["serialNumber"] == host.serial
    assert dahua(host, "/cgi-bin/magicBox.cgi?action=getDeviceType") == {"type": "XVR5108HS-I3"}
    assert dahua(host, "/cgi-bin/magicBox.cgi?action=getVendor") == {"vendor": "Dahua"}
    assert dahua(host, "/cgi-bin/devVideoInput.cgi?action=getCollect") == {"result": "8"}
    titles = dahua(host, "/cgi-bin/configManager.cgi?action=getConfig&name=ChannelTitle")
    assert titles == {f"table.ChannelTitle[{n - 1}].Name": c["name"] for n, c in truth.items()}
    lost = dahua(host, "/cgi-bin/eventManager.cgi?action=getEventIndexes&code=VideoLoss")
    assert sorted(int(v) + 1 for v in lost.values()) == [3, 6]

    remote = dahua(host, "/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice")
    key = "table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_{}.{}".format
    assert remote[key(8, "Address")] == BY_PROFILE["axis-p3245"].ip and remote[key(8, "Enable")] == "true"
    assert remote[key(8, "Vendor")] == "AXIS" and remote[key(8, "DeviceType")] == "AXIS P3245-V"
    assert remote[key(9, "Address")] == "198.18.72.254" and remote[key(9, "ProtocolType")] == "Onvif"
    assert remote[key(9, "Password")] == "******"
    assert remote[key(0, "Enable")] == "false" and remote[key(15, "Enable")] == "false"
    slot_key = r"table\.RemoteDevice\.uuid:System_CONFIG_NETCAMERA_INFO_(\d+)\.Enable"
    slots = (re.fullmatch(slot_key, k) for k, v in remote.items() if v == "true")
    enabled = sorted(int(slot.group(1)) + 1 for slot in slots if slot)
    assert enabled == [9, 10]

    states = dahua(host, "/cgi-bin/LogicDeviceManager.cgi?action=getCameraState&uniqueChannels[0]=-1")
    assert states == {"states[0].channel": "8", "states[0].connectionState": "Connected",
                      "states[1].channel": "9", "states[1].connectionState": "Unconnect"}


def test_dahua_oem_recorder_names_its_brand_and_poe_cameras():
    host = BY_PROFILE["rec-lorex-poe-nvr"]
    assert dahua(host, "/cgi-bin/magicBox.cgi?action=getVendor") == {"vendor": "Lorex"}
    assert dahua(host, "/cgi-bin/devVideoInput.cgi?action=getCollect") == {"result": "0"}
    remote = dahua(host, "/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice")
    addresses = {v for k, v in remote.items() if k.endswith(".Address")}
    assert addresses == {c["address"] for c in host.truth["channels"]} | {"198.19.253.0"}
    assert all(ipaddress.ip_address(a) not in ipaddress.ip_network(NETWORK) for a in addresses)
    assert dahua(host, "/cgi-bin/eventManager.cgi?action=getEventIndexes&code=VideoLoss") == {}


def test_dahua_unknown_calls_and_other_methods():
    host = BY_PROFILE["rec-dahua-xvr"]
    with client(host, account(host)) as session:
        unknown = session.get("/cgi-bin/magicBox.cgi?action=reboot")
        assert unknown.status_code == 400 and unknown.text == "Error\r\nBad Request!\r\n"
        assert session.post("/cgi-bin/configManager.cgi?action=setConfig&ChannelTitle[0].Name=x").status_code == 405


# --------------------------------------------------------------------------- ONVIF media

SOAP = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tr2="http://www.onvif.org/ver20/media/wsdl" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl">{header}<s:Body>{body}</s:Body></s:Envelope>')
ONVIF_NS = {"tt": "http://www.onvif.org/ver10/schema", "trt": "http://www.onvif.org/ver10/media/wsdl",
            "tr2": "http://www.onvif.org/ver20/media/wsdl", "tds": "http://www.onvif.org/ver10/device/wsdl"}


def soap(host: LabHost, service: str, call: str, header: str = "") -> tuple[int, ElementTree.Element]:
    request = SOAP.format(header=header, body=call).encode()
    status, _, body = onvif_service.device_service_reply(request, "", host.discovery["onvif"], host, service=service)
    return status, ElementTree.fromstring(body)


def test_onvif_nvr_lists_its_channels_in_media_and_media2_to_anyone():
    host = BY_PROFILE["rec-onvif-nvr"]
    paths = {path for path, route in host.services[80]["routes"].items() if "onvif" in route}
    assert paths == {"/onvif/device_service", "/onvif/Media", "/onvif/Media2"}
    call = "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>"
    status, services = soap(host, "device", call)
    assert status == 200
    assert f"http://{host.ip}/onvif/Media2" in [x.text for x in services.iter(f"{{{ONVIF_NS['tds']}}}XAddr")]

    status, sources = soap(host, "media", "<trt:GetVideoSources/>")
    assert status == 200
    found = sources.findall(".//trt:VideoSources", ONVIF_NS)
    assert [s.get("token") for s in found] == ["VideoSource_1", "VideoSource_2", "VideoSource_3", "VideoSource_4"]
    assert found[0].findtext("tt:Resolution/tt:Width", namespaces=ONVIF_NS) == "2560"

    status, profiles = soap(host, "media", "<trt:GetProfiles/>")
    bound = [p.findtext("tt:VideoSourceConfiguration/tt:SourceToken", namespaces=ONVIF_NS)
             for p in profiles.findall(".//trt:Profiles", ONVIF_NS)]
    assert status == 200 and len(bound) == 8 and set(bound) == {s.get("token") for s in found}

    status, profiles2 = soap(host, "media2", "<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>")
    bound2 = [p.findtext("tr2:Configurations/tr2:VideoSource/tt:SourceToken", namespaces=ONVIF_NS)
              for p in profiles2.findall(".//tr2:Profiles", ONVIF_NS)]
    assert status == 200 and bound2 == bound


def test_the_panoramic_camera_gives_its_four_sensors_over_media2_to_its_account_only():
    host = BY_PROFILE["rec-axis-panoramic-cam"]
    call = "<tr2:GetVideoSourceConfigurations/>"
    status, _ = soap(host, "media2", call)
    assert status == 401
    spec = host.discovery["onvif"]
    status, configurations = soap(host, "media2", call, username_token(spec["username"], spec["password"]))
    assert status == 200
    assert [c.findtext("tt:SourceToken", namespaces=ONVIF_NS)
            for c in configurations.findall(".//tr2:Configurations", ONVIF_NS)] == [
        f"VideoSource_{n}" for n in range(1, 5)]


def test_the_media2_only_nvr_offers_media2_alone_and_only_to_its_account():
    host = BY_PROFILE["rec-onvif-media2-nvr"]
    spec = host.discovery["onvif"]
    call = "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>"
    status, services = soap(host, "device", call)
    assert status == 200 and [x.text for x in services.iter(f"{{{ONVIF_NS['tds']}}}Namespace")] == [
        "http://www.onvif.org/ver10/device/wsdl", "http://www.onvif.org/ver20/media/wsdl"]
    status, capabilities = soap(host, "device", "<tds:GetCapabilities/>")
    assert status == 200 and capabilities.find(".//tt:Media", ONVIF_NS) is None
    signed = username_token(spec["username"], spec["password"])
    status, fault = soap(host, "media", "<trt:GetVideoSources/>", signed)
    assert status == 500 and "ActionNotSupported" in ElementTree.tostring(fault, encoding="unicode")
    status, fault = soap(host, "media2", "<tr2:GetProfiles/>")
    assert status == 401 and "NotAuthorized" in ElementTree.tostring(fault, encoding="unicode")
    status, profiles = soap(host, "media2", "<tr2:GetProfiles><tr2:Type>VideoSource</tr2:Type></tr2:GetProfiles>",
                            signed)
    assert status == 200 and len(profiles.findall(".//tr2:Profiles", ONVIF_NS)) == 2 * len(host.truth["channels"])


def username_token(username: str, password: str) -> str:
    nonce, created = os.urandom(16), "2026-01-01T00:00:00Z"
    password_digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return ('<s:Header><Security '
            'xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
            f"<UsernameToken><Username>{username}</Username><Password Type=\"{onvif_service.PASSWORD_DIGEST}\">"
            f"{password_digest}</Password><Nonce>{base64.b64encode(nonce).decode()}</Nonce><Created>{created}</Created>"
            "</UsernameToken></Security></s:Header>")


def test_onvif_media_wants_a_signed_request_when_the_device_asks_for_one():
    open_host = BY_PROFILE["rec-onvif-nvr"]
    spec = {**open_host.discovery["onvif"], "auth": "digest"}
    host = LabHost(ip=open_host.ip, mac=open_host.mac, profile="t", services={}, truth=open_host.truth,
                   discovery={"onvif": spec})
    status, fault = soap(host, "media", "<trt:GetVideoSources/>")
    assert status == 400 and "NotAuthorized" in ElementTree.tostring(fault, encoding="unicode")
    status, _ = soap(host, "media2", "<tr2:GetProfiles/>", username_token(spec["username"], "wrong"))
    assert status == 400
    status, sources = soap(host, "media", "<trt:GetVideoSources/>", username_token(spec["username"], spec["password"]))
    assert status == 200 and len(sources.findall(".//trt:VideoSources", ONVIF_NS)) == 4
    signed = username_token(spec["username"], spec["password"])
    status, configurations = soap(host, "media2", "<tr2:GetVideoSourceConfigurations/>", signed)
    assert status == 200 and len(configurations.findall(".//tr2:Configurations", ONVIF_NS)) == 4
    status, _ = soap(host, "media2", "<tr2:GetVideoEncoderConfigurations/>", signed)
    assert status == 500


# --------------------------------------------------------------------------- lab truth


def test_recorder_lab_truth_places_poe_cameras_off_the_network_and_lan_ones_on_lab_hosts():
    network = ipaddress.ip_network(NETWORK)
    internal = internal_addresses(HOSTS)
    assert internal and not any(ipaddress.ip_address(a) in network for a in internal)
    hosts_by_ip = {host.ip: host for host in HOSTS}
    peers = [c for h in HOSTS for c in h.truth.get("channels") or []
             if c["connection"] == "ip-lan" and c["address"] in hosts_by_ip]
    assert len(peers) == 2
    for channel in peers:
        peer = hosts_by_ip[channel["address"]]
        assert channel["model"] == peer.truth["model"]
        onvif_serial = peer.discovery.get("onvif", {}).get("device_information", {}).get("SerialNumber")
        assert channel["serial"] == peer.render(str(onvif_serial))
    for host in HOSTS:
        for channel in host.truth.get("channels") or []:
            assert channel["connection"] in ("analog", "ip-poe", "ip-lan", "sensor", None)
            assert channel["video"] in ("present", "no-video", "offline")
            assert (channel.get("address") is None) == (channel["connection"] in ("analog", "sensor", None))
            assert (channel["connection"] == "sensor") == (host.truth["device_type"] == "ip-camera")
    assert str(RECORDER_PROFILES).endswith("recorder_profiles.yaml")


def test_a_poe_channel_inside_the_scanned_network_or_an_unknown_connection_is_refused():
    host = BY_PROFILE["rec-hikvision-poe-nvr"]
    first = host.truth["channels"][0]

    def with_channel(channel: dict) -> LabHost:
        return LabHost(ip=host.ip, mac=host.mac, profile=host.profile, services={}, serial=host.serial,
                       truth={**host.truth, "channels": [channel]})

    assert resolve_channels(with_channel(first), {}, NETWORK) == [first]
    with pytest.raises(ValueError, match="outside"):
        resolve_channels(with_channel({**first, "address": "198.18.72.200"}), {}, NETWORK)
    with pytest.raises(ValueError, match="bad connection"):
        resolve_channels(with_channel({**first, "connection": "wired"}), {}, NETWORK)


def test_lab_credentials_offer_each_recorder_its_own_account_on_its_address_only():
    entries = lab_credentials(HOSTS)
    assert [(e["service"], e["targets"]) for e in entries] == [
        ("http", [BY_PROFILE["rec-hikvision-poe-nvr"].ip]), ("http", [BY_PROFILE["rec-dahua-xvr"].ip]),
        ("onvif", [BY_PROFILE["rec-onvif-nvr"].ip]), ("http", [BY_PROFILE["rec-lorex-poe-nvr"].ip]),
        ("http", [BY_PROFILE["rec-refusing-dvr"].ip]), ("onvif", [BY_PROFILE["rec-onvif-media2-nvr"].ip]),
        ("onvif", [BY_PROFILE["rec-dahua-dual-sensor-cam"].ip]), ("onvif", [BY_PROFILE["rec-axis-panoramic-cam"].ip]),
        ("http", [BY_PROFILE["rec-hikvision-bispectrum-cam"].ip])]
    for entry in entries:
        host = next(h for h in HOSTS if h.ip == entry["targets"][0])
        wanted = "enumerated" if entry["password"] != WRONG_PASSWORD else "credentials-needed"
        assert host.truth["channels_with_credentials"] == wanted


def test_a_subset_of_recorders_brings_only_its_own_peers():
    hosts = recorder_lab("198.18.90.0/29", seed=11, names=["rec-dahua-xvr"])
    assert [h.profile for h in hosts] == ["rec-dahua-xvr", "axis-p3245"]
    assert [c["address"] for c in hosts[0].truth["channels"] if c.get("address")] == ["198.18.90.3", "198.18.90.6"]
    with pytest.raises(KeyError):
        recorder_lab(NETWORK, names=["no-such-recorder"])


def test_a_recorder_route_must_say_what_it_answers():
    good = recorder_route(BY_PROFILE["rec-dahua-xvr"])
    check_recorder_route("t", good)
    for broken in ({**good, "api": "psia"}, {**good, "accounts": []}, {**good, "accounts": [{"username": "x"}]},
                   {**good, "device": {"serialNumber": "x"}}, {**good, "unused_address": None}, "isapi"):
        with pytest.raises(ValueError):
            check_recorder_route("t", broken)
