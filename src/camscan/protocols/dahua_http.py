"""Dahua HTTP API (CGI): a recorder's channels, read from its ``key=value`` replies.

Sans-IO. The paths are those of Dahua's "HTTP API for IPC & SD & NVR" (V2.x): magicBox.cgi
getSystemInfo / getDeviceType (system information), configManager.cgi getConfig of
RemoteDevice (the IP cameras a recorder records) and ChannelTitle (channel names),
devVideoInput.cgi getCollect (how many video inputs the device has: ``result=N``) and
eventManager.cgi getEventIndexes of VideoLoss (``channels[i]=N``: 0-based channels without
signal). Dahua's OEM brands (Amcrest, Lorex, ...) answer the same API. Replies as recorders
send them are shown by public code fixtures, e.g. a DH-NVR4216-HDS2's RemoteDevice and
ChannelTitle tables and an NVR6XX-4KS2's getSystemInfo (``serialNumber=``, ``deviceType=``,
``updateSerial=``), and python-dahua's ``video_input_channels_device_supported`` (getCollect).
"""

from __future__ import annotations

import ipaddress
import re

from camscan.model import Channel, canonical_mac

SYSTEM_INFO_PATH = "/cgi-bin/magicBox.cgi?action=getSystemInfo"
DEVICE_TYPE_PATH = "/cgi-bin/magicBox.cgi?action=getDeviceType"
REMOTE_DEVICES_PATH = "/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice"
CHANNEL_TITLES_PATH = "/cgi-bin/configManager.cgi?action=getConfig&name=ChannelTitle"
VIDEO_INPUTS_PATH = "/cgi-bin/devVideoInput.cgi?action=getCollect"
VIDEO_LOSS_PATH = "/cgi-bin/eventManager.cgi?action=getEventIndexes&code=VideoLoss"
# Whether the recorder reaches each IP camera (``states[i].channel=`` 0-based, ``states[i].
# connectionState=Connected|Unconnect``): Dahua HTTP API 2.x LogicDeviceManager getCameraState,
# read the same way by public Dahua NVR clients (CameraState {channel, connectionState}).
CAMERA_STATE_PATH = "/cgi-bin/LogicDeviceManager.cgi?action=getCameraState&uniqueChannels[0]=-1"
MAX_REPLY_BYTES = 512 * 1024
MAX_CHANNELS = 256  # the largest Dahua recorders have 256 channels

_REMOTE = re.compile(r"^table\.RemoteDevice\.(?:uuid:)?[^.]*?_(\d+)\.([A-Za-z]+)$")
_TITLE = re.compile(r"^table\.ChannelTitle\[(\d+)\]\.Name$")
_LOSS = re.compile(r"^channels\[\d+\]$")
_STATE = re.compile(r"^states\[(\d+)\]\.(channel|connectionState)$")
# An unused RemoteDevice slot keeps a placeholder address (0.0.0.0, 192.168.0.0 in the public fixtures).
_PLACEHOLDER_ADDRESSES = {"", "0.0.0.0", "192.168.0.0"}
_PLACEHOLDER_MACS = {"ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"}  # an unset slot's Mac (public fixtures)


def parse_table(body: bytes) -> dict[str, str]:
    """``key=value`` lines (CRLF or LF) as a dict; lines without ``=`` are skipped."""
    table: dict[str, str] = {}
    for line in body[:MAX_REPLY_BYTES].decode("utf-8", "replace").splitlines():
        key, equals, value = line.partition("=")
        if equals and key.strip():
            table[key.strip()] = value.strip()
    return table


def _printable(value: str | None) -> str | None:
    text = " ".join((value or "").split())
    return "".join(char for char in text if char.isprintable()) or None


def parse_device_type(body: bytes) -> str | None:
    """The model of a getDeviceType reply (``type=DH-NVR4216-HDS2``) or of getSystemInfo (``deviceType=``)."""
    table = parse_table(body)
    return _printable(table.get("type") or table.get("deviceType"))


def parse_video_input_count(body: bytes) -> int | None:
    """The number of video inputs of a getCollect reply (``result=4``)."""
    value = parse_table(body).get("result", "")
    return int(value) if value.isdigit() and int(value) <= MAX_CHANNELS else None


def parse_channel_titles(body: bytes) -> dict[int, str]:
    """Channel number (1-based) -> name, from ``table.ChannelTitle[i].Name=...`` (i is 0-based)."""
    titles = {}
    for key, value in parse_table(body).items():
        match = _TITLE.match(key)
        if match and int(match.group(1)) < MAX_CHANNELS and (name := _printable(value)):
            titles[int(match.group(1)) + 1] = name
    return titles


def parse_video_loss(body: bytes) -> set[int]:
    """The channels (1-based) in video loss, from getEventIndexes' ``channels[k]=i`` (i 0-based)."""
    return {int(value) + 1 for key, value in parse_table(body).items()
            if _LOSS.match(key) and value.isdigit() and int(value) < MAX_CHANNELS}


def parse_unconnected_cameras(body: bytes) -> set[int]:
    """The IP channels (1-based) the recorder cannot reach: ``connectionState`` other than
    ``Connected`` in a getCameraState reply."""
    states: dict[str, dict[str, str]] = {}
    for key, value in parse_table(body).items():
        if match := _STATE.match(key):
            states.setdefault(match.group(1), {})[match.group(2)] = value
    return {int(state["channel"]) + 1 for state in states.values()
            if state.get("channel", "").isdigit() and int(state["channel"]) < MAX_CHANNELS
            and state.get("connectionState", "Connected") != "Connected"}


def _real_address(text: str | None) -> str | None:
    if not text or text in _PLACEHOLDER_ADDRESSES:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return _printable(text)


def parse_remote_devices(body: bytes, first_channel: int = 1) -> list[Channel]:
    """The IP cameras of a RemoteDevice table: slot i (``..._INFO_i``) is channel
    ``first_channel + i``; a slot switched off (Enable=false) or without a real address is empty.

    Vendor, DeviceType, Version, SerialNo and Mac give the maker, model, firmware, serial and
    MAC the recorder reports; Address, Port and ProtocolType where the camera is. Password
    and UserName (the recorder's login to the camera) are never read.
    """
    slots: dict[int, dict[str, str]] = {}
    for key, value in parse_table(body).items():
        match = _REMOTE.match(key)
        if match and int(match.group(1)) < MAX_CHANNELS:
            slots.setdefault(int(match.group(1)), {})[match.group(2)] = value
    channels = []
    for slot, fields in sorted(slots.items()):
        address = _real_address(fields.get("Address"))
        if fields.get("Enable", "true").lower() != "true" or address is None:
            continue
        port = fields.get("Port", "")
        channels.append(Channel(
            number=first_channel + slot,
            connection="ip",
            video="present",
            name=_printable(fields.get("Name")),
            address=address,
            port=int(port) if port.isdigit() else None,
            protocol=_printable(fields.get("ProtocolType")),
            manufacturer=_printable(fields.get("Vendor")),
            model=_printable(fields.get("DeviceType")),
            firmware=_printable(fields.get("Version")),
            serial=_printable(fields.get("SerialNo")),
            mac=mac if (mac := canonical_mac(fields.get("Mac"))) not in _PLACEHOLDER_MACS else None,
        ))
    return channels
