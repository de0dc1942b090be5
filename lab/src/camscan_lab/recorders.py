"""Emulated recorders (NVRs, DVRs, XVRs): the channel lists their HTTP APIs give, behind Digest.

A recorder profile (``recorder_profiles.yaml``) lists its channels in ``truth.channels``;
an ``http`` route with ``recorder: {api, realm, accounts, ...}`` answers that recorder's
API from them, for an account of ``accounts`` only (RFC 7616 Digest, MD5, ``qop=auth``,
nonces this host issued; :mod:`camscan_lab.digest`). Without a valid ``Authorization``
every path answers 401 with the maker's challenge.

``api: isapi``  Hikvision ISAPI, XML in ``http://www.hikvision.com/ver20/XMLSchema``
    (Hikvision "Intelligent Security API (General Application) Developer Guide", 2019:
    DeviceInfo, InputProxyChannelList, InputProxyChannelStatusList, VideoInputChannelList,
    ResponseStatus); VideoInputChannelList lists the device's own inputs: a DVR's analogue
    inputs, a multi-sensor camera's sensors. Element order and values follow recorders' answers quoted publicly:
    an NVR channel list with ``model``/``serialNumber``/``firmwareVersion`` inside
    ``sourceInputPortDescriptor`` (a DS-2CD3141G0-I channel of a 16-channel NVR),
    ``connMode plugplay`` for a PoE port, status entries ``online`` + ``chanDetectResult
    connect``, and a DVR's analogue list with ``resDesc NO VIDEO`` for an empty input.
``api: dahua``  Dahua HTTP API (Dahua "HTTP API for DVR" 1.29 and "HTTP API" 2.0):
    ``key=value`` lines, CRLF-terminated. ``magicBox.cgi`` getDeviceType (``type=``),
    getSystemInfo (``deviceType=``, ``hardwareVersion=``, ``processor=``,
    ``serialNumber=``, ``updateSerial=``), getSerialNo (``sn=``), getVendor (``vendor=``),
    getSoftwareVersion (``version=...,build:...``); ``devVideoInput.cgi?action=getCollect``
    (``result=`` local video inputs); ``configManager.cgi?action=getConfig`` with
    ``name=ChannelTitle`` (``table.ChannelTitle[i].Name=``, i = channel - 1) and
    ``name=RemoteDevice`` (``table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_<i>.<Key>=``
    per slot, keys in the alphabetical order recorders print them, password masked
    ``******``, unused slots disabled, as in the DHI-NVR5232-EI answer quoted publicly);
    ``LogicDeviceManager.cgi?action=getCameraState`` (``states[i].channel=`` /
    ``states[i].connectionState=Connected|Unconnect``); ``eventManager.cgi?action=
    getEventIndexes&code=VideoLoss`` (``channels[i]=`` 0-based channels that lost video).
    An unknown call answers 400 ``Error / Bad Request!`` as Dahua firmware does.

Channel truth keys (each channel of ``truth.channels``): ``number`` (1-based, as the
recorder numbers it), ``connection`` (``analog`` | ``ip-poe`` | ``ip-lan``, ``sensor`` for
a multi-sensor camera's own video sources, or null where the API cannot say, as an NVR's ONVIF), ``video`` (``present`` | ``no-video`` | ``offline``),
``maker`` (vendor key the recorder's answer names, or null), ``model`` (as reported, or
null), ``name``; IP channels add ``address``, ``port``, ``protocol`` (the recorder's word
for it: ISAPI ``proxyProtocol``, Dahua ``ProtocolType``), ``vendor_text`` (Dahua
``Vendor``) and ``serial``; an ``ip-lan`` channel may name a ``peer`` profile instead of
an address (:func:`recorder_lab` puts that lab host's address, model and serial there),
and one on the LAN where no lab host lives gives ``lan_offset`` (its index in the network,
negative counting from the end, as Python's ``ip_network(...)[i]``).
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from camscan_lab import digest
from camscan_lab.profiles import LabHost, Profile, get_profile, load_profiles, place_hosts

RECORDER_PROFILES = Path(__file__).with_name("recorder_profiles.yaml")
HIK_NAMESPACE = "http://www.hikvision.com/ver20/XMLSchema"
XML_TYPE = 'application/xml; charset="UTF-8"'
TEXT_TYPE = "text/plain;charset=utf-8"
MAX_NONCES = 256
CONNECTIONS = ("analog", "ip-poe", "ip-lan", "sensor", None)
VIDEO_STATES = ("present", "no-video", "offline")


# --------------------------------------------------------------------------- lab building


def _peer_serial(peer: LabHost) -> str:
    """The serial number the peer itself gives out (ONVIF, then SADP), rendered for that host."""
    onvif = peer.discovery.get("onvif", {}).get("device_information", {})
    template = onvif.get("SerialNumber") or peer.discovery.get("sadp", {}).get("serial") or "${serial}"
    return peer.render(str(template))


def resolve_channels(recorder: LabHost, peers: dict[str, LabHost], network: str) -> list[dict[str, Any]]:
    """*recorder*'s channels with each ``peer`` replaced by that host's address, model and serial,
    and each ``lan_offset`` by that address of *network* (where no lab host lives)."""
    resolved = []
    for channel in recorder.truth.get("channels") or []:
        channel = dict(channel)
        peer_name = channel.pop("peer", None)
        offset = channel.pop("lan_offset", None)
        if offset is not None:
            channel["address"] = str(ipaddress.ip_network(network)[int(offset)])
        if peer_name is not None:
            peer = peers[peer_name]
            channel.update(address=peer.ip, serial=_peer_serial(peer),
                           model=channel.get("model") or peer.truth["model"])
        channel.setdefault("model", None)
        channel.setdefault("maker", None)
        if channel["connection"] not in CONNECTIONS or channel["video"] not in VIDEO_STATES:
            raise ValueError(f"{recorder.profile} channel {channel['number']}: bad connection or video state")
        poe = channel["connection"] == "ip-poe"
        if poe and ipaddress.ip_address(channel["address"]) in ipaddress.ip_network(network):
            raise ValueError(f"{recorder.profile}: PoE channel {channel['number']} must lie outside {network}")
        resolved.append(channel)
    return resolved


def recorder_lab(network: str, seed: int = 15, names: Sequence[str] | None = None) -> list[LabHost]:
    """The recorder profiles (all, or those *names*), then the lab hosts their ``ip-lan``
    channels point at, on consecutive addresses of *network*.

    Each recorder's ``truth.channels`` comes back resolved (:func:`resolve_channels`); its
    ``ip-poe`` addresses lie outside *network*, on the recorder's own camera port.
    """
    recorders = [p for p in load_profiles(RECORDER_PROFILES) if names is None or p.name in names]
    if names is not None and len(recorders) != len(set(names)):
        raise KeyError(f"no recorder profile named {sorted(set(names) - {p.name for p in recorders})}")
    peer_names = sorted({c["peer"] for p in recorders for c in p.truth.get("channels") or [] if "peer" in c})
    profiles: list[Profile] = [*recorders, *(get_profile(name) for name in peer_names)]
    hosts = place_hosts(profiles, network, seed)
    peers = {host.profile: host for host in hosts[len(recorders):]}
    for host in hosts[: len(recorders)]:
        for route in host.services[80]["routes"].values():
            if "recorder" in route:
                check_recorder_route(host.profile, route["recorder"])
        host.truth["channels"] = resolve_channels(host, peers, network)
    return hosts


def check_recorder_route(profile: str, recorder: Any) -> None:
    """Raise ValueError unless *recorder* names a known API, a realm, accounts and the device's answers."""
    wanted = {"isapi": {"serialNumber", "deviceType"}, "dahua": {"serialNumber", "vendor"}}
    if not isinstance(recorder, dict) or recorder.get("api") not in wanted:
        raise ValueError(f"{profile}: a recorder route needs api: isapi or dahua")
    accounts = recorder.get("accounts")
    if not recorder.get("realm") or not accounts or not all({"username", "password"} <= set(a) for a in accounts):
        raise ValueError(f"{profile}: a recorder route needs a realm and accounts with username and password")
    missing = wanted[recorder["api"]] - set(recorder.get("device") or {})
    if missing:
        raise ValueError(f"{profile}: the recorder's device answers lack {sorted(missing)}")
    if recorder["api"] == "dahua" and "remote_slots" in recorder and not recorder.get("unused_address"):
        raise ValueError(f"{profile}: unused RemoteDevice slots need unused_address")


SCAN_ACCOUNT = "svc-chan-audit"  # the account name recorders share with the lab's credentials file
WRONG_PASSWORD = "Chan-Wrong-7204!"  # what that file offers a recorder that refuses the scan


def lab_credentials(hosts: Sequence[LabHost]) -> list[dict[str, Any]]:
    """The entries of a camscan credentials file for a recorder lab: for each recorder, its
    ``svc-chan-audit`` account (``http`` for its channel API, ``onvif`` for an ONVIF one),
    offered to its address only; a recorder without that account is offered a wrong password."""
    entries: list[dict[str, Any]] = []
    for host in hosts:
        for route in host.services.get(80, {}).get("routes", {}).values():
            if "recorder" in route:
                known = [a["password"] for a in route["recorder"]["accounts"] if a["username"] == SCAN_ACCOUNT]
                entries.append({"service": "http", "username": SCAN_ACCOUNT, "password": (known or [WRONG_PASSWORD])[0],
                                "targets": [host.ip]})
        onvif = host.discovery.get("onvif") or {}
        if onvif.get("username") == SCAN_ACCOUNT:
            entries.append({"service": "onvif", "username": SCAN_ACCOUNT, "password": onvif["password"],
                            "targets": [host.ip]})
    return entries


def internal_addresses(hosts: Sequence[LabHost]) -> set[str]:
    """The camera addresses recorders report on their own PoE ports (never to be contacted)."""
    return {c["address"] for h in hosts for c in h.truth.get("channels") or [] if c["connection"] == "ip-poe"}


# --------------------------------------------------------------------------- Digest


def _challenge(recorder: dict, host: LabHost) -> str:
    """A fresh ``WWW-Authenticate`` in the maker's own parameter order, remembering its nonce."""
    nonce = secrets.token_hex(16)
    issued: list[str] = host.extra.setdefault("digest_nonces", [])
    issued.append(nonce)
    del issued[:-MAX_NONCES]
    realm = host.render(str(recorder["realm"]))
    if recorder["api"] == "dahua":  # realm "Login to <serial>" first, opaque last (Dahua recorders)
        return f'Digest realm="{realm}", qop="auth", nonce="{nonce}", opaque="{secrets.token_hex(8)}"'
    return f'Digest qop="auth", realm="{realm}", nonce="{nonce}", stale="FALSE"'  # Hikvision DNVRS-Webs


def authenticated(recorder: dict, authorization: str | None, method: str, target: str, host: LabHost) -> bool:
    """Whether *authorization* is a valid Digest answer, for one of the recorder's accounts, to a
    challenge this host issued, for this very request (method and URI)."""
    params = digest.authorization_params(authorization or "")
    if not params:
        return False
    host.extra["digest_attempts"] = host.extra.get("digest_attempts", 0) + 1
    host.extra.setdefault("digest_responses", []).append(params.get("response", ""))  # for the tests' leak checks
    realm = host.render(str(recorder["realm"]))
    if (params.get("realm") != realm or params.get("qop") != "auth" or params.get("uri") != target
            or params.get("nonce") not in host.extra.get("digest_nonces", [])):
        return False
    return any(params.get("username") == account["username"]
               and digest.response_matches(params, account["password"], method)
               for account in recorder.get("accounts") or [])


# --------------------------------------------------------------------------- ISAPI


def _xml(body: str, status: int = 200) -> dict:
    return {"status": status, "content_type": XML_TYPE,
            "content": ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")}


def _element(name: str, value: Any) -> str:
    return f"<{name}>{escape(str(value))}</{name}>" if value not in (None, "") else f"<{name}></{name}>"


def _response_status(url: str, code: int, status: str, sub: str) -> str:
    return (f'<ResponseStatus version="2.0" xmlns="{HIK_NAMESPACE}">\n{_element("requestURL", url)}\n'
            f"<statusCode>{code}</statusCode>\n{_element('statusString', status)}\n{_element('subStatusCode', sub)}\n"
            "</ResponseStatus>\n")


# A device's own video inputs: a recorder's analogue inputs, a multi-sensor camera's sensors.
LOCAL_INPUTS = ("analog", "sensor")


def _ip_channels(host: LabHost) -> list[dict]:
    return [c for c in host.truth["channels"] if c["connection"] not in LOCAL_INPUTS]


def _local_inputs(host: LabHost) -> list[dict]:
    return [c for c in host.truth["channels"] if c["connection"] in LOCAL_INPUTS]


def _port_descriptor(channel: dict, detail: bool) -> str:
    online = channel["video"] != "offline"
    fields = [
        _element("proxyProtocol", channel.get("protocol") or "HIKVISION"),
        _element("addressingFormatType", "ipaddress"),
        _element("ipAddress", channel["address"]),
        _element("managePortNo", channel.get("port", 8000)),
        _element("srcInputPort", 1),
        _element("userName", "admin"),
        _element("streamType", "auto"),
    ]
    if detail:
        if channel["connection"] == "ip-poe":
            fields.append(_element("connMode", "plugplay"))
        fields += [_element("model", channel["model"] if online else None),
                   _element("serialNumber", channel.get("serial") if online else None),
                   _element("firmwareVersion", channel.get("firmware") if online else None)]
    fields.append(_element("deviceID", None))
    return "<sourceInputPortDescriptor>\n" + "\n".join(fields) + "\n</sourceInputPortDescriptor>"


def _channel_name(channel: dict) -> str:
    return channel.get("name") or f"IPCamera {channel['number']:02d}"


def _analog_name(channel: dict) -> str:
    return channel.get("name") or f"Camera {channel['number']:02d}"


def isapi_device_info(recorder: dict, host: LabHost) -> str:
    info = recorder["device"]
    fields = [
        _element("deviceName", info.get("deviceName", "Network Video Recorder")),
        _element("deviceID", host.endpoint_uuid),
        _element("model", host.truth["model"]),
        _element("serialNumber", host.render(str(info["serialNumber"]))),
        _element("macAddress", host.mac.lower()),
        _element("firmwareVersion", info.get("firmwareVersion", host.truth["firmware"])),
        _element("firmwareReleasedDate", info.get("firmwareReleasedDate", "")),
        _element("encoderVersion", info.get("encoderVersion", "V5.0")),
        _element("encoderReleasedDate", info.get("encoderReleasedDate", "")),
        _element("deviceType", info["deviceType"]),
        _element("telecontrolID", 255),
    ]
    return f'<DeviceInfo version="2.0" xmlns="{HIK_NAMESPACE}">\n' + "\n".join(fields) + "\n</DeviceInfo>\n"


def _isapi_list(name: str, item: str, entries: list[tuple[int, str]], with_size: bool = False) -> str:
    """An ISAPI list document: one *item* per (id, inner elements), each carrying its own namespace."""
    items = "".join(f'<{item} version="2.0" xmlns="{HIK_NAMESPACE}">\n<id>{number}</id>\n{inner}</{item}>\n'
                    for number, inner in entries)
    size = f' size="{len(entries)}"' if with_size else ""
    return f'<{name} version="2.0" xmlns="{HIK_NAMESPACE}"{size}>\n{items}</{name}>\n'


def isapi_proxy_channels(host: LabHost) -> str:
    return _isapi_list("InputProxyChannelList", "InputProxyChannel", [
        (c["number"], f"{_element('name', _channel_name(c))}\n{_port_descriptor(c, detail=True)}\n"
                      "<enableAnr>false</enableAnr>\n<enableTiming>true</enableTiming>\n")
        for c in _ip_channels(host)], with_size=True)


def isapi_proxy_status(host: LabHost) -> str:
    # `online` is the documented boolean; chanDetectResult values differ between firmware
    # ("connect" when up; a public client lists "netUnreachable" among the offline ones).
    return _isapi_list("InputProxyChannelStatusList", "InputProxyChannelStatus", [
        (c["number"], f"{_port_descriptor(c, detail=False)}\n"
                      f"<online>{'false' if c['video'] == 'offline' else 'true'}</online>\n"
                      f"{_element('chanDetectResult', 'netUnreachable' if c['video'] == 'offline' else 'connect')}\n")
        for c in _ip_channels(host)])


def _video_description(channel: dict) -> str:
    """An analogue input's resDesc: "NO VIDEO" without a signal, else the detected format."""
    return "NO VIDEO" if channel["video"] == "no-video" else channel.get("resolution", "1920*1080(1080P)P25")


def isapi_video_inputs(host: LabHost) -> str:
    return _isapi_list("VideoInputChannelList", "VideoInputChannel", [
        (c["number"], f"<inputPort>{c['number']}</inputPort>\n<videoInputEnabled>true</videoInputEnabled>\n"
                      f"{_element('name', _analog_name(c))}\n<videoFormat>PAL</videoFormat>\n"
                      f"{_element('resDesc', _video_description(c))}\n")
        for c in _local_inputs(host)])


def isapi_reply(recorder: dict, path: str, host: LabHost) -> dict:
    """The answer to an authenticated GET of *path* on a Hikvision-style recorder."""
    if path == "/ISAPI/System/deviceInfo":
        return _xml(isapi_device_info(recorder, host))
    if path == "/ISAPI/ContentMgmt/InputProxy/channels" and _ip_channels(host):
        return _xml(isapi_proxy_channels(host))
    if path == "/ISAPI/ContentMgmt/InputProxy/channels/status" and _ip_channels(host):
        return _xml(isapi_proxy_status(host))
    if path == "/ISAPI/System/Video/inputs/channels" and _local_inputs(host):
        return _xml(isapi_video_inputs(host))
    # What the guide's ResponseStatus says for a resource this device does not have.
    return _xml(_response_status(path, 4, "Invalid Operation", "notSupport"), status=403)


# --------------------------------------------------------------------------- Dahua


def _lines(pairs: Sequence[tuple[str, Any]]) -> dict:
    text = "".join(f"{key}={'' if value is None else value}\r\n" for key, value in pairs)
    return {"status": 200, "content_type": TEXT_TYPE, "content": text.encode("utf-8")}


def _bad_request() -> dict:
    return {"status": 400, "content_type": TEXT_TYPE, "content": b"Error\r\nBad Request!\r\n"}


def dahua_remote_devices(recorder: dict, host: LabHost) -> list[tuple[str, Any]]:
    """RemoteDevice slots: one per IP channel (slot = channel - 1), then the recorder's unused ones."""
    by_slot = {c["number"] - 1: c for c in _ip_channels(host)}
    slots = int(recorder.get("remote_slots", max(by_slot, default=-1) + 1))
    pairs: list[tuple[str, Any]] = []
    for slot in sorted(set(range(slots)) | set(by_slot)):
        channel = by_slot.get(slot)
        prefix = f"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_{slot}."
        if channel is None:  # an unused slot: disabled, the network address of the camera port
            pairs += [(prefix + "Address", recorder["unused_address"]), (prefix + "Enable", "false")]
            continue
        fields = {
            "Address": channel["address"],
            "DeviceType": channel["model"] or "",
            "Enable": "true",
            "HttpPort": 80,
            "Name": _channel_name(channel),
            "Password": "******",
            "Port": channel.get("port", 37777),
            "ProtocolType": channel.get("protocol", "Private"),
            "RtspPort": 554,
            "SerialNo": channel.get("serial") or "",
            "UserName": "admin",
            "Vendor": channel.get("vendor_text") or "",
            "VideoInputChannels": 1,
            "VideoInputs[0].Enable": "true",
            "VideoInputs[0].MainStreamUrl": "",
            "VideoInputs[0].Name": _channel_name(channel),
            "VideoInputs[0].ServiceType": "AUTO",
        }
        pairs += [(prefix + key, value) for key, value in fields.items()]
    return pairs


def dahua_reply(recorder: dict, path: str, query: dict[str, str], host: LabHost) -> dict:
    """The answer to an authenticated GET of *path* ? *query* on a Dahua-style recorder."""
    info = recorder["device"]
    serial = host.render(str(info["serialNumber"]))
    channels = host.truth["channels"]
    action = query.get("action")
    if path == "/cgi-bin/magicBox.cgi":
        answers = {
            "getDeviceType": [("type", host.truth["model"])],
            "getSystemInfo": [("deviceType", host.truth["model"]),
                              ("hardwareVersion", info.get("hardwareVersion", "1.00")),
                              ("processor", info.get("processor", "")), ("serialNumber", serial),
                              ("updateSerial", info.get("updateSerial", host.truth["model"]))],
            "getSerialNo": [("sn", serial)],
            "getVendor": [("vendor", info["vendor"])],
            "getSoftwareVersion": [("version", f"{host.truth['firmware'].lstrip('V')},build:{info.get('build', '')}")],
            "getMachineName": [("name", info.get("machineName", serial))],
        }
        return _lines(answers[action]) if action in answers else _bad_request()
    if path == "/cgi-bin/devVideoInput.cgi" and action == "getCollect":
        return _lines([("result", len(_local_inputs(host)))])
    if path == "/cgi-bin/configManager.cgi" and action == "getConfig":
        if query.get("name") == "ChannelTitle":
            return _lines([(f"table.ChannelTitle[{c['number'] - 1}].Name", _channel_name(c)) for c in channels])
        if query.get("name") == "RemoteDevice":
            return _lines(dahua_remote_devices(recorder, host))
        return _bad_request()
    if path == "/cgi-bin/LogicDeviceManager.cgi" and action == "getCameraState":
        pairs: list[tuple[str, Any]] = []
        for index, channel in enumerate(_ip_channels(host)):
            state = "Unconnect" if channel["video"] == "offline" else "Connected"
            pairs += [(f"states[{index}].channel", channel["number"] - 1), (f"states[{index}].connectionState", state)]
        return _lines(pairs)
    if path == "/cgi-bin/eventManager.cgi" and action == "getEventIndexes" and query.get("code") == "VideoLoss":
        lost = [c["number"] - 1 for c in _local_inputs(host) if c["video"] == "no-video"]
        return _lines([(f"channels[{index}]", number) for index, number in enumerate(lost)])
    return _bad_request()


# --------------------------------------------------------------------------- dispatch


def _unauthorized(recorder: dict, host: LabHost) -> dict:
    challenge = _challenge(recorder, host)
    if recorder["api"] == "dahua":
        return {"status": 401, "content_type": TEXT_TYPE, "headers": {"WWW-Authenticate": challenge},
                "content": b"Error\r\nUnauthorized!\r\n"}
    body = ('<?xml version="1.0" encoding="UTF-8" ?>\n<userCheck>\n<statusValue>401</statusValue>\n'
            "<statusString>Unauthorized</statusString>\n</userCheck>\n")
    return {"status": 401, "content_type": XML_TYPE, "headers": {"WWW-Authenticate": challenge},
            "content": body.encode("utf-8")}


def recorder_reply(recorder: dict, method: str, target: str, authorization: str | None, host: LabHost) -> dict:
    """The route to answer one request to a recorder's API with (``content`` holds the body bytes)."""
    if not authenticated(recorder, authorization, method, target, host):
        return _unauthorized(recorder, host)
    if method not in ("GET", "HEAD"):
        return {"status": 405, "headers": {"Allow": "GET"}, "content": b""}
    parts = urlsplit(target)
    if recorder["api"] == "isapi":
        return isapi_reply(recorder, parts.path, host)
    return dahua_reply(recorder, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)), host)
