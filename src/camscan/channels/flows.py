"""The conversations of a channel inventory, as sans-IO flows that return a :class:`ChannelInventory`.

Every request goes through one :class:`RecorderSession`: anonymous first; when refused, and
only when the credentials file has an account for this recorder, again with the account: HTTP
Digest (RFC 7616; Basic when that is all the recorder offers) for ISAPI and the Dahua API, a
WS-Security UsernameToken (ONVIF Core s5.12, signed by onvif-zeep-async) for ONVIF, on a
connection of its own whose credentials the transport keeps out of a recording. An account
refused is never tried again, and a lockout sign (423, "locked", "too many") stops every
request to the recorder.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from dataclasses import replace
from urllib.parse import urlsplit

from camscan.checks.flows import RequestBudget, locked_out
from camscan.credentials import Account
from camscan.model import Channel, ChannelInventory
from camscan.probes.flows import host_header_for
from camscan.probes.onvif import DEVICE_SERVICE, MEDIA_SERVICE, OnvifMessages, xaddr_target
from camscan.protocols import Exchange, ProtocolError, dahua_http, http, http_auth, isapi, onvif
from camscan.protocols.message import Response

InventoryFlow = Generator[Exchange, bytes, ChannelInventory]
REFUSALS = (401, 403)
# A lockout sign counts only on a refusal: a channel list may well name a camera "Locked gate".
LOCKOUT_STATUSES = (*REFUSALS, 423)


class RecorderSession:
    """Requests to one recorder's web or ONVIF port, sharing its budget, its account and what it refused."""

    def __init__(self, ip: str, port: int, tls: bool, account: Account | None, cnonce: str,
                 budget: RequestBudget, on_offer: Callable[[Account], None] = lambda account: None,
                 messages: OnvifMessages | None = None) -> None:
        self.host = host_header_for(ip, port, 443 if tls else 80)
        self.account = account
        self.cnonce = cnonce
        self.budget = budget
        self.on_offer = on_offer
        self.messages = messages  # ONVIF's message layer, loaded for this account (ONVIF sessions only)
        self.with_account: Account | None = None  # the recorder refused anonymous requests: every next one carries it
        self.challenge: tuple[str, dict[str, str]] = ("", {})  # the HTTP login the recorder asked for
        self.count = 0  # Digest nonce count
        self.stopped = False  # the account was refused, or the recorder showed a lockout sign
        self.refused = False  # some request was refused (401/403), or stopped on a lockout sign
        self.locked = False  # the recorder showed a lockout sign: nothing more is sent to it

    def sign_from_now(self) -> bool:
        """Carry the account on every next request without asking anonymously first (the device
        already refused an anonymous caller elsewhere); False when there is no account to carry."""
        if self.account is None:
            return False
        if not self.with_account:
            self.with_account = self.account
            self.on_offer(self.account)
        return True

    def get(self, path: str, max_bytes: int, secret_reply: bool = False) -> Generator[Exchange, bytes, Response | None]:
        """GET ``path``; the response, or None when nothing (more) may be asked or nothing readable came.
        ``secret_reply``: the answer holds secrets, to be kept out of a recording."""
        return (yield from self._ask("GET", path, lambda authorization: http.build_get(self.host, path, authorization),
                                     max_bytes, secret_reply))

    def soap(self, path: str, operation: str, service: str,
             arguments: tuple[tuple[str, object], ...] = ()) -> Generator[Exchange, bytes, Response | None]:
        """POST one ONVIF operation of ``service`` (from its WSDL, through onvif-zeep-async) to ``path``."""
        return (yield from self._soap(lambda messages, account: messages.request(self.host, path, operation, account,
                                                                              service, arguments)))

    def soap_body(self, path: str, body: str, action: str) -> Generator[Exchange, bytes, Response | None]:
        """POST one ONVIF operation whose SOAP ``body`` camscan builds (Media2: no WSDL in onvif-zeep-async)."""
        return (yield from self._soap(lambda messages, account: messages.request_for_body(self.host, path, body, action,
                                                                                       account)))

    def _soap(self, build: Callable[[OnvifMessages, Account | None], bytes]) -> Generator[Exchange, bytes, Response | None]:
        """One ONVIF request: anonymously until refused (401 or ter:NotAuthorized), then signed with
        the account's UsernameToken."""
        if self.stopped:
            return None
        assert self.messages is not None, "an ONVIF session is made with its message layer"
        if not self.with_account:
            response = yield from self._send(build(self.messages, None), onvif.MAX_SOAP_BYTES)
            if response is None or not onvif.refused(response.status, response.body):
                return response
            self.refused = True
            if self.account is None:
                return response
            self.with_account = self.account
            self.on_offer(self.account)
        request = build(self.messages, self.account)
        response = yield from self._send(request, onvif.MAX_SOAP_BYTES, http.credential_spans(request))
        if response is not None and onvif.refused(response.status, response.body):
            self.stopped = self.refused = True  # the account was refused: never offered again
        return response

    def _ask(self, method: str, path: str, build: Callable[[str | None], bytes], max_bytes: int,
             secret_reply: bool = False) -> Generator[Exchange, bytes, Response | None]:
        if self.stopped:
            return None
        if not self.with_account:
            response = yield from self._send(build(None), max_bytes, secret_reply=secret_reply)
            if response is None or response.status != 401:
                return response
            if self.account is None:
                self.refused = True
                return response
            try:
                self.challenge = http_auth.parse_challenge(response.header("www-authenticate") or "")
            except ProtocolError:
                self.refused = True
                return response
            self.with_account = self.account
            self.on_offer(self.account)
        for stale_retry in (False, True):
            self.count += 1
            try:
                answer = http_auth.authorization(*self.challenge, method, path, self.with_account.username,
                                                 self.with_account.password, self.cnonce, self.count)
            except ProtocolError:
                self.stopped = self.refused = True
                return None
            request = build(answer)
            response = yield from self._send(request, max_bytes, http.credential_spans(request), secret_reply)
            if response is None or response.status != 401:
                return response
            try:
                scheme, params = http_auth.parse_challenge(response.header("www-authenticate") or "")
            except ProtocolError:
                scheme, params = "", {}
            # RFC 7616 s3.3: stale=true means the nonce aged, not that the account is wrong: once more.
            if stale_retry or params.get("stale", "").lower() != "true":
                break
            self.challenge = (scheme, params)
        self.stopped = self.refused = True  # the account was refused: never offered again
        return response

    def _send(self, request: bytes, max_bytes: int, credentials: tuple[tuple[int, int], ...] = (),
              secret_reply: bool = False) -> Generator[Exchange, bytes, Response | None]:
        if self.stopped or not self.budget.take():
            return None
        reply = yield Exchange(request, http.response_complete, max_bytes=max_bytes, credentials=credentials,
                               secret_reply=secret_reply)
        response = http.http_reply(reply)
        if response is None:
            return None
        if response.status in LOCKOUT_STATUSES and locked_out(response):
            self.stopped = self.refused = self.locked = True
            return None
        if response.status in REFUSALS:
            self.refused = True
        return response


def _body(response: Response | None) -> bytes | None:
    return response.body if response is not None and response.status == 200 else None


def _parsed(parse, response: Response | None):
    """``parse(body)`` of a 200 answer; None for any other answer or an unreadable body."""
    body = _body(response)
    if body is None:
        return None
    try:
        return parse(body)
    except ProtocolError:
        return None


def _outcome(session: RecorderSession, api: str, lists: list[list[Channel] | None]) -> ChannelInventory:
    """Enumerated when any channel list was read; else credentials-needed when the recorder
    refused, else not-asked (the API is not there)."""
    if any(found is not None for found in lists):
        merged: dict[int, Channel] = {}
        for found in lists:
            for channel in found or ():
                merged.setdefault(channel.number, channel)
        return ChannelInventory("enumerated", tuple(merged[number] for number in sorted(merged)), api)
    return ChannelInventory("credentials-needed" if session.refused else "not-asked", (), api)


def _may_go_on(session: RecorderSession, first: Response | None) -> bool:
    """Whether the answer to the first request leaves anything to ask: the API is there (200, or a
    refusal the account got past) and the recorder neither locked up nor refused a login."""
    return first is not None and first.status == 200 and not session.stopped


def isapi_flow(session: RecorderSession) -> InventoryFlow:
    """deviceInfo (is ISAPI there, may it be read), the IP channels and their online status,
    then the analogue inputs. A recorder without analogue inputs answers 403 or 404 to the last."""
    info = yield from session.get(isapi.DEVICE_INFO_PATH, isapi.MAX_REPLY_BYTES)
    if not _may_go_on(session, info):
        return _outcome(session, "isapi", [])
    ip_channels = _parsed(isapi.parse_ip_channels, (yield from session.get(isapi.IP_CHANNELS_PATH,
                                                                           isapi.MAX_REPLY_BYTES)))
    if ip_channels:
        online = _parsed(isapi.parse_ip_channel_status, (yield from session.get(isapi.IP_CHANNEL_STATUS_PATH,
                                                                                isapi.MAX_REPLY_BYTES))) or {}
        ip_channels = [channel if online.get(channel.number, True) else _with_video(channel, "offline")
                       for channel in ip_channels]
    analog = _parsed(isapi.parse_analog_channels, (yield from session.get(isapi.ANALOG_CHANNELS_PATH,
                                                                          isapi.MAX_REPLY_BYTES)))
    if analog and ip_channels and {c.number for c in analog} & {c.number for c in ip_channels}:
        # A hybrid DVR numbers its IP channels (D1, D2 ...) after its analogue inputs: D1 streams
        # as channel inputs + 1 (e.g. /Streaming/Channels/1701 on a 16-input DVR).
        inputs = max(channel.number for channel in analog)
        ip_channels = [Channel(**{**channel.__dict__, "number": inputs + channel.number}) for channel in ip_channels]
    return _outcome(session, "isapi", [ip_channels, analog])


def _with_video(channel: Channel, video: str) -> Channel:
    return Channel(**{**channel.__dict__, "video": video})


def dahua_flow(session: RecorderSession, analog_inputs: bool) -> InventoryFlow:
    """getSystemInfo (is the API there, may it be read), RemoteDevice (IP channels), the
    number of video inputs (analogue channels, when ``analog_inputs``: a DVR or encoder),
    ChannelTitle (names), VideoLoss (channels without signal) and, when there are IP
    channels, getCameraState (the cameras the recorder cannot reach)."""
    limit = dahua_http.MAX_REPLY_BYTES
    info = yield from session.get(dahua_http.SYSTEM_INFO_PATH, limit)
    if not _may_go_on(session, info):
        return _outcome(session, "dahua-http", [])
    # The table holds the recorder's own login to each camera (UserName, Password): never recorded.
    remote = _body((yield from session.get(dahua_http.REMOTE_DEVICES_PATH, limit, secret_reply=True)))
    ip_channels = dahua_http.parse_remote_devices(remote) if remote is not None else None
    analog: list[Channel] | None = None
    if analog_inputs:
        count = _body((yield from session.get(dahua_http.VIDEO_INPUTS_PATH, limit)))
        inputs = dahua_http.parse_video_input_count(count) if count is not None else None
        if inputs is not None:
            taken = {channel.number for channel in ip_channels or ()}
            analog = [Channel(number, "analog", "present") for number in range(1, inputs + 1) if number not in taken]
    if ip_channels is None and analog is None:
        return _outcome(session, "dahua-http", [])
    titles_body = _body((yield from session.get(dahua_http.CHANNEL_TITLES_PATH, limit)))
    titles = dahua_http.parse_channel_titles(titles_body) if titles_body is not None else {}
    loss_body = _body((yield from session.get(dahua_http.VIDEO_LOSS_PATH, limit)))
    lost = dahua_http.parse_video_loss(loss_body) if loss_body is not None else set()
    unreached: set[int] = set()
    if ip_channels:
        state_body = _body((yield from session.get(dahua_http.CAMERA_STATE_PATH, limit)))
        unreached = dahua_http.parse_unconnected_cameras(state_body) if state_body is not None else set()

    def finished(channel: Channel) -> Channel:
        video = channel.video
        if channel.number in lost:
            video = "no-video" if channel.connection == "analog" else "offline"
        elif channel.connection == "ip" and channel.number in unreached:
            video = "offline"
        return Channel(**{**channel.__dict__, "video": video, "name": channel.name or titles.get(channel.number)})

    return _outcome(session, "dahua-http", [[finished(channel) for channel in found] if found is not None else None
                                            for found in (ip_channels, analog)])


def _here(xaddr: str | None, ip: str, port: int) -> str | None:
    """The path of a service address on the recorder's own host and port (the conversation's), else
    None: an address elsewhere is not followed."""
    if not xaddr or xaddr_target(xaddr) != (ip, port):
        return None
    return urlsplit(xaddr).path or "/"


def onvif_flow(session: RecorderSession, ip: str, port: int, tls: bool,
               connection: str | None = None) -> InventoryFlow:
    """GetServices (ONVIF Core s8.1.2.1, IncludeCapability false: where the Media and Media2
    services are; GetCapabilities when a device answers no GetServices), then the video sources:
    over Media2 where offered (Media2 Service Specification: GetProfiles with Type VideoSource and
    GetVideoSourceConfigurations, each naming its tt:VideoSourceConfiguration's SourceToken), else
    over Media (ver10/media/wsdl GetVideoSources and GetProfiles). Each video source is one channel.
    ONVIF says nothing of how a source's camera is connected (coax, the recorder's PoE ports or the
    LAN): each channel gets ``connection``, what the caller knows from the device's kind (a video
    encoder's inputs are analogue), None where nothing says. A service address on another host or
    port is not followed."""
    services = _parsed(onvif.service_xaddrs, (yield from session.soap(
        onvif.DEVICE_SERVICE_PATH, "GetServices", DEVICE_SERVICE, (("IncludeCapability", False),)))) or {}
    tokens: list[str] | None = None
    media2_path = _here(services.get(onvif.MEDIA2_NAMESPACE), ip, port)
    if media2_path:
        profiled = _parsed(onvif.profile_source_tokens, (yield from session.soap_body(
            media2_path, onvif.MEDIA2_GET_PROFILES, onvif.media2_action("GetProfiles"))))
        configured = _parsed(onvif.video_source_configuration_tokens, (yield from session.soap_body(
            media2_path, onvif.MEDIA2_GET_VIDEO_SOURCE_CONFIGURATIONS,
            onvif.media2_action("GetVideoSourceConfigurations"))))
        if profiled is not None or configured is not None:
            tokens = list(dict.fromkeys((profiled or []) + (configured or [])))
    if tokens is None:
        media_xaddr = services.get(onvif.MEDIA_NAMESPACE)
        if not services and not session.refused:  # a device older than GetServices (ONVIF 2.0)
            media_xaddr = _parsed(onvif.media_xaddr, (yield from session.soap(
                onvif.DEVICE_SERVICE_PATH, "GetCapabilities", DEVICE_SERVICE)))
        media_path = _here(media_xaddr, ip, port)
        if not media_path:
            return _outcome(session, "onvif", [])
        sources = _parsed(onvif.video_source_tokens,
                          (yield from session.soap(media_path, "GetVideoSources", MEDIA_SERVICE)))
        if sources is None:
            return _outcome(session, "onvif", [])
        profiled = _parsed(onvif.profile_source_tokens,
                           (yield from session.soap(media_path, "GetProfiles", MEDIA_SERVICE))) or []
        tokens = list(dict.fromkeys(sources + profiled))
    # ONVIF media reports no signal state: a source the device lists counts as having video.
    return _outcome(session, "onvif", [[Channel(number, connection, "present", name=token)
                                        for number, token in enumerate(tokens, start=1)]])


def isapi_video_inputs_flow(session: RecorderSession) -> InventoryFlow:
    """A camera's one question about its own video inputs (its sensors): ISAPI
    ``/ISAPI/System/Video/inputs/channels`` (Hikvision ISAPI Developer Guide, VideoInputChannelList),
    nothing before it; each input is a ``sensor`` channel."""
    inputs = _parsed(isapi.parse_analog_channels, (yield from session.get(isapi.ANALOG_CHANNELS_PATH,
                                                                          isapi.MAX_REPLY_BYTES)))
    return _outcome(session, "isapi", [None if inputs is None else as_sensors(inputs)])


def onvif_video_sources_flow(session: RecorderSession, ip: str, port: int, signed: bool) -> InventoryFlow:
    """A camera's one question about its video sources over ONVIF: GetServices (ONVIF Core s8.1.2.1,
    PRE_AUTH, always anonymous) to learn where its media service is, then Media2
    GetVideoSourceConfigurations where Media2 is offered, else Media GetVideoSources; each source is
    a ``sensor`` channel. ``signed``: the media question carries the session's account from the
    start (the device refused an anonymous GetDeviceInformation, and ONVIF Core s5.9.4's default
    access policy gives an anonymous caller PRE_AUTH calls only, so READ_MEDIA would be refused too).
    A refused media question is not asked again."""
    services = _parsed(onvif.service_xaddrs, (yield from session.soap(
        onvif.DEVICE_SERVICE_PATH, "GetServices", DEVICE_SERVICE, (("IncludeCapability", False),)))) or {}
    if signed and not session.sign_from_now():
        return _outcome(session, "onvif", [])
    media2_path = _here(services.get(onvif.MEDIA2_NAMESPACE), ip, port)
    media_path = _here(services.get(onvif.MEDIA_NAMESPACE), ip, port)
    if media2_path:
        sources = _parsed(onvif.video_source_configuration_tokens, (yield from session.soap_body(
            media2_path, onvif.MEDIA2_GET_VIDEO_SOURCE_CONFIGURATIONS,
            onvif.media2_action("GetVideoSourceConfigurations"))))
    elif media_path:
        sources = _parsed(onvif.video_source_tokens,
                          (yield from session.soap(media_path, "GetVideoSources", MEDIA_SERVICE)))
    else:
        return _outcome(session, "onvif", [])
    # ONVIF media reports no signal state: a source the device lists counts as having video.
    return _outcome(session, "onvif", [None if sources is None else
                                       [Channel(number, "sensor", "present", name=token)
                                        for number, token in enumerate(sources, start=1)]])


def as_sensors(channels: Iterable[Channel]) -> list[Channel]:
    """A camera's video inputs as its sensors, whatever its API called them: connection ``sensor``,
    no address of their own."""
    return [replace(channel, connection="sensor", address=None) for channel in channels]
