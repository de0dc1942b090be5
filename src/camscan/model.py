"""Plain data passed between stages: observations in, identified devices out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A video doorbell is a camera in a doorbell's housing: HomeKit admits one only with a camera stream
# service (HAP category 18, Video Doorbell), and it records and streams like any other camera, so it
# counts among the cameras (and the s.889 video surveillance equipment) with a kind of its own.
CAMERA_DEVICE_TYPES = frozenset({"ip-camera", "doorbell", "dvr", "nvr", "video-encoder"})
RECORDER_DEVICE_TYPES = frozenset({"dvr", "nvr", "video-encoder"})
# What a security maker (Hikvision, Dahua, Axis) makes besides cameras and recorders; a company
# making anything else as well (printers, phones, televisions) is a diversified one.
SECURITY_DEVICE_TYPES = CAMERA_DEVICE_TYPES | {"video-decoder", "intercom", "access-control", "alarm-panel"}
# How a channel's camera is connected: coax, the recorder's PoE network, a scanned LAN, or (for a
# camera with several video sources) one of the camera's own sensors.
CONNECTIONS = ("analog", "ip-poe", "ip-lan", "sensor")
VIDEO_STATES = ("present", "no-video", "offline")
# What became of asking a recorder for its channels.
CHANNEL_STATUSES = ("enumerated", "credentials-needed", "not-asked")


def canonical_mac(value: str | None) -> str | None:
    """``44-19-B6-01-02-03`` or ``4419.b601.0203`` → ``44:19:b6:01:02:03``; None if it is no MAC."""
    digits = re.sub(r"[\s:.\-]", "", value or "").lower()
    if re.fullmatch(r"[0-9a-f]{12}", digits):
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return None


@dataclass(frozen=True)
class Observation:
    """One fact a probe saw on the wire, kept verbatim as evidence.

    ``field`` names what the value is (``http.server``, ``rtsp.server``,
    ``tls.subject``, ``mac.address`` ...); signatures match on it.
    """

    ip: str
    source: str
    field: str
    value: str
    port: int | None = None
    transport: str = "tcp"
    observed_at: float = 0.0


@dataclass(frozen=True)
class Service:
    """An open port and what it was found to speak."""

    ip: str
    port: int
    protocol: str | None  # None: open, but it said nothing camscan recognises (never a placeholder)
    transport: str = "tcp"
    banner: str = ""


def service_label(service: dict) -> str:
    """An exported service as people read it: ``554/rtsp``, or the bare port where the protocol is unknown."""
    return f"{service['port']}/{service['protocol']}" if service.get("protocol") else str(service["port"])


@dataclass(frozen=True)
class Evidence:
    """A signature that matched an observation, and what it contributed."""

    source: str
    field: str
    value: str
    signature: str
    weight: float
    port: int | None = None
    sets: tuple[tuple[str, str], ...] = ()


@dataclass
class Identification:
    """What a device is believed to be, with the evidence that decided it."""

    vendor: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    device_type: str | None = None
    confidence: float = 0.0
    evidence: list[Evidence] = field(default_factory=list)
    ndaa_889: bool | None = None  # the maker is a FY2019 NDAA s.889 covered company; None: maker unknown
    ndaa_basis: str = ""  # the evidence and catalogue facts that decided ndaa_889

    @property
    def is_camera(self) -> bool:
        return self.device_type in CAMERA_DEVICE_TYPES


@dataclass
class Device:
    """Everything one scan learned about one address."""

    ip: str
    mac: str | None = None
    services: list[Service] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    identification: Identification = field(default_factory=Identification)
    mac_seen: bool = False  # the MAC came off the wire (ARP, the kernel's ARP table), not from the device's word
    # How the scan knows it when not by probing it: "on-link, outside scope" (heard on an in-scope
    # link at an address outside scope; never contacted). None: an address in scope, probed.
    seen_as: str | None = None


@dataclass(frozen=True)
class Finding:
    """An exposure a check saw on a device: what, where, how bad, and the evidence for it.

    ``evidence`` holds what was asked and what came back (an URL, codecs, a content
    hash); never a credential and never the media itself.
    """

    check: str
    severity: str
    detail: str
    port: int | None = None
    evidence: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Channel:
    """One video input a recorder reports: an analogue camera on its coax input, or an IP
    camera it records (``connection`` is ``analog`` or ``ip`` as the recorder says it, None when
    it does not say, as over ONVIF; the scan decides whether an IP channel's address is on its own PoE network or a scanned LAN).
    ``address`` is what the recorder reports and is never contacted."""

    number: int  # 1-based, as the recorder numbers it
    connection: str | None
    video: str  # one of VIDEO_STATES
    name: str | None = None
    address: str | None = None
    port: int | None = None
    protocol: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    mac: str | None = None


@dataclass(frozen=True)
class ChannelInventory:
    """What a recorder said about its channels, and through which API (``isapi``, ``dahua-http``, ``onvif``)."""

    status: str  # one of CHANNEL_STATUSES
    channels: tuple[Channel, ...] = ()
    api: str | None = None


@dataclass(frozen=True)
class ChannelDevice:
    """One channel as the store keeps it: the recorder's report, how the camera connects, what it
    was identified as, the observations that say so, and the swept device it is (an ``ip-lan``
    channel whose MAC or serial agrees with one the sweep found), if any."""

    channel: Channel
    connection: str | None  # one of CONNECTIONS, None where the recorder does not say (ONVIF)
    identification: Identification
    observations: tuple[Observation, ...] = ()
    same_as: int | None = None
