"""Ask one identified recorder for its channels, and make each channel a device of its own."""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Callable

from camscan.channels import MAX_REQUESTS_PER_RECORDER, MAX_SOURCE_QUESTION_REQUESTS
from camscan.channels.flows import (RecorderSession, as_sensors, dahua_flow, isapi_flow, isapi_video_inputs_flow,
                                    onvif_flow, onvif_video_sources_flow)
from camscan.checks.flows import RequestBudget
from camscan.credentials import Account, Credentials
from camscan.fingerprint.attribution import behind_recorder
from camscan.fingerprint.identify import Identifier
from camscan.model import RECORDER_DEVICE_TYPES, Channel, ChannelInventory, Device, Identification, Observation
from camscan.probes.onvif import (DEVICE_SERVICE, MEDIA_SERVICE, OnvifMessages, device_information_answer,
                                  xaddr_target)
from camscan.transport.guard import CONNECT_ONLY
from camscan.transport.interface import Transport

# The maker whose own API a recorder speaks (its OEM brands too): Hikvision ISAPI, Dahua's HTTP API.
MAKER_APIS = {"hikvision": "isapi", "dahua": "dahua-http"}
# Observation fields of what a recorder reports about a channel's camera; the identifier reads
# them with the rules of the fields a camera uses for the same facts (fingerprint.identify).
CHANNEL_FIELDS = ("name", "manufacturer", "model", "firmware", "serial", "mac", "protocol")


# Observation fields in which a device counts its own video inputs, said in its discovery reply
# (Dahua DHIP ``VideoInputChannels``), so that knowing a camera has several costs no request.
VIDEO_INPUT_FIELDS = ("dhip.video_inputs",)


def video_inputs(device: Device) -> int:
    """The most video inputs the device said it has (0 when it said nothing of them)."""
    return max((int(seen.value) for seen in device.observations
                if seen.field in VIDEO_INPUT_FIELDS and seen.value.isdigit()), default=0)


def is_multi_sensor(device: Device) -> bool:
    """A camera that said it has two or more video inputs (a multi-sensor or panoramic camera)."""
    return device.identification.device_type == "ip-camera" and video_inputs(device) >= 2


def wants_inventory(device: Device) -> bool:
    """Whether a device's channels are worth a recorder's inventory: a recorder's, or the video
    sources of a camera whose discovery reply counted several. Any other camera gets at most
    one question about its video sources (:func:`source_question`)."""
    return device.identification.device_type in RECORDER_DEVICE_TYPES or is_multi_sensor(device)


def recorder_api(device: Device, maker_of: Callable[[str], str]) -> str:
    """``isapi`` or ``dahua-http`` for a recorder of those makers or their OEMs, else ``onvif``."""
    ident = device.identification
    for key in (ident.manufacturer, ident.vendor):
        if key and maker_of(key) in MAKER_APIS:
            return MAKER_APIS[maker_of(key)]
    return "onvif"


def onvif_port(device: Device, web: tuple[int, bool]) -> tuple[int, bool]:
    """The port (and whether TLS) of the device's own ONVIF address as WS-Discovery gave it, else
    ``web``. An XAddr naming a connect-only port (a vendor SDK port, say) is passed over, as
    discovery's follow-ups pass it over: nothing but a bare connect ever goes there."""
    for seen in device.observations:
        if seen.field != "wsd.xaddr":
            continue
        for xaddr in seen.value.split():
            target = xaddr_target(xaddr)
            if target and target[0] == device.ip and target[1] not in CONNECT_ONLY:
                return target[1], xaddr.startswith("https:")
    return web


async def inventory_channels(transport: Transport, device: Device, credentials: Credentials,
                             maker_of: Callable[[str], str],
                             messages: OnvifMessages) -> tuple[ChannelInventory, list[str]]:
    """The recorder's channels through its maker's API on its first web port (then ONVIF, at the
    recorder's own XAddr or that port, if that read nothing), all within MAX_REQUESTS_PER_RECORDER requests; notices
    about cut-short conversations. ``transport`` applies the scope guard and the rate limit;
    ``messages`` is the scan's ONVIF message layer."""
    web_port = _web_port(device)
    if web_port is None:
        return ChannelInventory("not-asked"), []
    ident = device.identification
    makers = [key for key in (ident.vendor, ident.manufacturer) if key]
    budget = RequestBudget(MAX_REQUESTS_PER_RECORDER)
    notices: list[str] = []
    api = recorder_api(device, maker_of)
    attempts = [api] if api == "onvif" else [api, "onvif"]
    inventory = ChannelInventory("not-asked")
    for attempt in attempts:
        service = "onvif" if attempt == "onvif" else "http"
        account = credentials.account_for(service, device.ip, makers)
        port, tls = onvif_port(device, web_port) if attempt == "onvif" else web_port
        if attempt == "onvif":
            for signer in dict.fromkeys((None, account)):
                for service_name in (DEVICE_SERVICE, MEDIA_SERVICE):
                    await messages.load(signer, service_name)
        session = RecorderSession(device.ip, port, tls, account, secrets.token_hex(8), budget,
                                  on_offer=lambda offered: credentials.note_offer(offered, device.ip),
                                  messages=messages)
        if attempt == "isapi":
            flow = isapi_flow(session)
        elif attempt == "dahua-http":
            flow = dahua_flow(session, analog_inputs=ident.device_type != "nvr")
        else:
            flow = onvif_flow(session, device.ip, port, tls, onvif_connection(ident.device_type))
        result = await transport.run_flow(device.ip, port, flow, tls=tls)
        if result.error:
            notices.append(f"channel inventory cut short by an unreadable reply from {result.error}")
        found = result.observations if isinstance(result.observations, ChannelInventory) else None
        if found is None:
            continue
        if found.status == "enumerated" or inventory.status == "not-asked":
            inventory = found
        if found.status == "enumerated" or session.locked:
            break
    if is_multi_sensor(device):  # its video sources are its own sensors, whatever the API called them
        inventory = ChannelInventory(inventory.status, tuple(as_sensors(inventory.channels)), inventory.api)
    return inventory, notices


def source_question(device: Device, maker_of: Callable[[str], str]) -> str | None:
    """Which one question about its video sources a camera gets: ``isapi`` for one of Hikvision or
    its OEM brands (on its first web port), ``onvif`` for one that answered ONVIF
    GetDeviceInformation; None for a device that is not a camera, one that already counted its
    video inputs in a discovery reply (DHIP: two or more make it inventoried as a recorder is,
    one means nothing to ask), or one that offers neither."""
    if device.identification.device_type != "ip-camera":
        return None
    if any(seen.field in VIDEO_INPUT_FIELDS for seen in device.observations):
        return None
    if recorder_api(device, maker_of) == "isapi":
        return "isapi" if _web_port(device) else None
    return "onvif" if device_information_answer(device.observations) else None


def _web_port(device: Device) -> tuple[int, bool] | None:
    """The device's first web port, and whether it is HTTPS."""
    web = [service for service in device.services if service.protocol in ("http", "https")]
    return (web[0].port, web[0].protocol == "https") if web else None


async def ask_video_sources(transport: Transport, device: Device, question: str, credentials: Credentials,
                            messages: OnvifMessages) -> tuple[ChannelInventory | None, list[str]]:
    """A camera's sensors from its one question (``question`` as :func:`source_question` chose it),
    within MAX_SOURCE_QUESTION_REQUESTS requests; None when it did not show two or more sources
    (one source, a refusal, no answer): nothing is then stored. Notices as inventory_channels'.

    ISAPI goes anonymously, then with the ``http`` account after a 401 (none: it stops there).
    ONVIF goes as the device answered GetDeviceInformation in discovery: anonymously when it
    answered an anonymous caller (a refusal is then final), with the ``onvif`` account when it
    refused one, and not at all when it refused one and there is no account."""
    ident = device.identification
    makers = [key for key in (ident.vendor, ident.manufacturer) if key]
    budget = RequestBudget(MAX_SOURCE_QUESTION_REQUESTS)

    def offered(account: Account) -> None:
        credentials.note_offer(account, device.ip)

    if question == "isapi":
        web = _web_port(device)
        assert web is not None, "source_question asks ISAPI only on a web port"
        port, tls = web
        session = RecorderSession(device.ip, port, tls, credentials.account_for("http", device.ip, makers),
                                  secrets.token_hex(8), budget, on_offer=offered)
        flow = isapi_video_inputs_flow(session)
    else:
        answer = device_information_answer(device.observations)
        assert answer is not None, "source_question asks ONVIF only of a device that answered it"
        port, tls = onvif_port(device, (answer[0], False))
        signed = answer[1]
        account = credentials.account_for("onvif", device.ip, makers) if signed else None
        if signed and account is None:
            return None, []
        for signer in dict.fromkeys((None, account)):
            for service_name in (DEVICE_SERVICE, MEDIA_SERVICE):
                await messages.load(signer, service_name)
        session = RecorderSession(device.ip, port, tls, account, secrets.token_hex(8), budget, on_offer=offered,
                                  messages=messages)
        flow = onvif_video_sources_flow(session, device.ip, port, signed)
    result = await transport.run_flow(device.ip, port, flow, tls=tls)
    notices = [f"video source question cut short by an unreadable reply from {result.error}"] if result.error else []
    found = result.observations if isinstance(result.observations, ChannelInventory) else None
    if found is None or found.status != "enumerated" or len(found.channels) < 2:
        return None, notices
    return found, notices


def onvif_connection(device_type: str | None) -> str | None:
    """How the cameras of a device's ONVIF video sources are connected, as far as its kind says: a
    video encoder's inputs are analogue (coax); an NVR's or a DVR's sources carry no address nor
    link over ONVIF (a DVR may be hybrid), so theirs stay unknown (None)."""
    return "analog" if device_type == "video-encoder" else None


def connection_of(channel: Channel, on_scanned_network: Callable[[str], bool]) -> str | None:
    """``analog`` or ``sensor``; or, for an IP channel, ``ip-lan`` when the address the recorder reports is on a
    scanned network, else ``ip-poe`` (the recorder's own network behind its PoE ports); None
    where the recorder does not say (an NVR's or DVR's ONVIF video sources)."""
    if channel.connection in ("analog", "sensor", None):
        return channel.connection
    try:
        address = str(ipaddress.ip_address(channel.address or ""))
    except ValueError:
        return "ip-poe"
    return "ip-lan" if on_scanned_network(address) else "ip-poe"


def channel_observations(recorder_ip: str, port: int | None, api: str, channel: Channel) -> list[Observation]:
    """What the recorder said about one channel's camera, as observations (at the recorder's address)."""
    now = time.time()
    values = {name: getattr(channel, name) for name in CHANNEL_FIELDS}
    return [Observation(ip=recorder_ip, source=api, field=f"channel.{name}", value=str(value), port=port,
                        observed_at=now)
            for name, value in values.items() if value]


def identify_channel(identifier: Identifier, observations: list[Observation],
                     recorder: Identification, connection: str | None = None) -> Identification:
    """A channel identified like any device from what its recorder reports; every channel is a
    camera, and one of unknown make behind a covered recorder says so in its s.889 basis. A
    ``sensor`` channel is part of its camera, not a camera of its own: it names the camera's maker
    and model but has no kind and no s.889 status of its own (the camera carries it), so no count
    takes one multi-sensor camera for several."""
    if connection == "sensor":
        return Identification(vendor=recorder.vendor, manufacturer=recorder.manufacturer, model=recorder.model,
                              firmware=recorder.firmware, confidence=recorder.confidence,
                              ndaa_basis="a video source of the camera itself, which carries its s.889 status")
    identification = identifier.identify(observations)
    identification.device_type = "ip-camera"
    if identification.manufacturer is None:
        identification.ndaa_889, identification.ndaa_basis = behind_recorder(recorder)
    return identification

