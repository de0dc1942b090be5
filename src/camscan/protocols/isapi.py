"""Hikvision ISAPI: the channel lists of a recorder, read from its XML replies.

Sans-IO: the paths below are what a channel inventory asks (HTTP GET, Digest when
refused), and the ``parse_*`` functions read the replies. Element names follow Hikvision's
ISAPI (the "Hikvision ISAPI Core Protocol" documents, sections System/deviceInfo,
ContentMgmt/InputProxy and System/Video/inputs) as recorders really send them, in either
namespace (``http://www.hikvision.com/ver20/XMLSchema`` or ``http://www.isapi.org/ver20/XMLSchema``);
elements are matched by local name. Replies seen in public fixtures:
maciej-or/hikvision_next tests/fixtures/devices/ (DS-7608NXI-I2, DS-7616NI-K2 NVRs,
iDS-7204HUHI-M1 DVR).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from camscan.model import Channel
from camscan.protocols import ProtocolError
from camscan.protocols.xmlsafe import child, parse_untrusted_xml

DEVICE_INFO_PATH = "/ISAPI/System/deviceInfo"
IP_CHANNELS_PATH = "/ISAPI/ContentMgmt/InputProxy/channels"
IP_CHANNEL_STATUS_PATH = "/ISAPI/ContentMgmt/InputProxy/channels/status"
ANALOG_CHANNELS_PATH = "/ISAPI/System/Video/inputs/channels"
MAX_REPLY_BYTES = 512 * 1024  # a 64-channel list with every descriptor is well under this
# VideoInputChannel/resDesc of an analogue input without signal (iDS-7204HUHI-M1 fixture: "NO VIDEO").
NO_VIDEO = "NO VIDEO"


def _text(element: Element | None) -> str | None:
    if element is None:
        return None
    text = " ".join((element.text or "").split())
    return "".join(char for char in text if char.isprintable()) or None


def _root(body: bytes, what: str, tag: str) -> Element:
    root = parse_untrusted_xml(body, what, MAX_REPLY_BYTES)
    if root.tag != tag:
        raise ProtocolError(f"{what}: expected <{tag}>, got <{root.tag}>")
    return root


def _number(element: Element, what: str) -> int:
    text = _text(child(element, "id"))
    if not text or not text.isdigit() or int(text) < 1:
        raise ProtocolError(f"{what}: channel id {text!r} is not a channel number")
    return int(text)


def parse_device_info(body: bytes) -> dict[str, str]:
    """The fields of a ``<DeviceInfo>`` reply (deviceType, model, serialNumber, firmwareVersion ...), as text."""
    root = _root(body, "ISAPI deviceInfo reply", "DeviceInfo")
    return {element.tag: text for element in root if (text := _text(element))}


def parse_ip_channels(body: bytes) -> list[Channel]:
    """The IP channels of an ``<InputProxyChannelList>``: number, name, and from its
    ``sourceInputPortDescriptor`` the camera's address, port, protocol, model, serial and firmware.

    Video is ``present`` until the channel status says otherwise (:func:`parse_ip_channel_status`).
    A recorder keeps the camera's login in the descriptor (userName): it is not read.
    """
    what = "ISAPI InputProxy channels reply"
    channels = []
    for element in _root(body, what, "InputProxyChannelList"):
        if element.tag != "InputProxyChannel":
            continue
        source = child(element, "sourceInputPortDescriptor")
        port = _text(child(source, "managePortNo"))
        address = _text(child(source, "ipAddress")) or _text(child(source, "hostName"))
        channels.append(Channel(
            number=_number(element, what),
            connection="ip",
            video="present",
            name=_text(child(element, "name")),
            address=address,
            port=int(port) if port and port.isdigit() else None,
            protocol=_text(child(source, "proxyProtocol")),
            model=_text(child(source, "model")),
            firmware=_text(child(source, "firmwareVersion")),
            serial=_text(child(source, "serialNumber")),
        ))
    return channels


def parse_ip_channel_status(body: bytes) -> dict[int, bool]:
    """Channel number -> online, from an ``<InputProxyChannelStatusList>`` (``<online>true</online>``)."""
    what = "ISAPI InputProxy channel status reply"
    return {
        _number(element, what): (_text(child(element, "online")) or "").lower() == "true"
        for element in _root(body, what, "InputProxyChannelStatusList")
        if element.tag == "InputProxyChannelStatus"
    }


def parse_analog_channels(body: bytes) -> list[Channel]:
    """The analogue inputs of a ``<VideoInputChannelList>``: number, name, and video
    ``no-video`` when ``resDesc`` says "NO VIDEO" (else the input's resolution: ``present``).
    An input switched off (``videoInputEnabled`` false) is left out: no camera is recorded there."""
    what = "ISAPI video input channels reply"
    channels = []
    for element in _root(body, what, "VideoInputChannelList"):
        if element.tag != "VideoInputChannel":
            continue
        if (_text(child(element, "videoInputEnabled")) or "true").lower() == "false":
            continue
        signal = _text(child(element, "resDesc")) or ""
        channels.append(Channel(
            number=_number(element, what),
            connection="analog",
            video="no-video" if signal.upper() == NO_VIDEO else "present",
            name=_text(child(element, "name")),
        ))
    return channels
