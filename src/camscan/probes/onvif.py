"""ONVIF device information: onvif-zeep-async's WSDL-driven requests, carried by camscan's transport.

onvif-zeep-async (zeep) builds each SOAP request from the device-service WSDL, with the
WS-Security UsernameToken digest when an account is given; camscan's own sans-IO parser
(:mod:`camscan.protocols.onvif`) reads each reply, the same one tests and replays use. The
bytes travel through camscan's own transport as a sans-IO flow, so every request passes
the scope guard and the rate limit, a redirect is never followed, and a pcap replay
answers ONVIF exactly as it answers HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

from camscan.credentials import Account
from camscan.model import Observation
from camscan.protocols import Exchange, Flow, ProtocolError, http, onvif
from camscan.probes.flows import host_header_for

PLACEHOLDER_XADDR = "http://0.0.0.0/onvif/device_service"  # each device gets its own binding
# How device_information_flow's onvif.access / onvif.refused notes name the caller and a silence.
ANONYMOUS = "anonymous"
NO_HTTP_ANSWER = "no HTTP answer"


def xaddr_target(xaddr: str) -> tuple[str, int] | None:
    """The (host, port) an http(s) XAddr points at, or None when it is not one."""
    try:
        parts = urlsplit(xaddr)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname, port


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def import_message_layer():
    """onvif-zeep-async's package, its ``ONVIFService`` and its service table.

    Imported on demand, when a device is first asked over ONVIF: zeep, aiohttp and httpx take
    0.3-0.4 s to import, which a scan without ONVIF devices need not pay.
    """
    import onvif
    from onvif.client import ONVIFService
    from onvif.definition import SERVICES

    return onvif, ONVIFService, SERVICES


def _content_type(soap_action: str) -> str:
    """The SOAP 1.2 media type, carrying the operation's action (RFC 3902 section 3)."""
    return f'application/soap+xml; charset=utf-8; action="{soap_action}"'


DEVICE_SERVICE = "devicemgmt"
MEDIA_SERVICE = "media"  # onvif-zeep-async's name of the Media (ver10/media/wsdl) service


class OnvifMessages:
    """zeep clients of the ONVIF services camscan asks (the device service; the media service for a
    recorder's channels), anonymous and one per account, each loaded once per scan."""

    def __init__(self) -> None:
        # by (service, id() of the account); None: anonymous
        self._services: dict[tuple[str, int | None], object] = {}
        self._binding_names: dict[str, str] = {}
        self._loading = asyncio.Lock()
        self._proxies: dict[tuple[str, int | None], object] = {}  # keyed as _services
        self._anonymous_bodies: dict[tuple[str, str, tuple[tuple[str, object], ...]], tuple[bytes, str]] = {}

    @staticmethod
    def _key(account: Account | None, service: str) -> tuple[str, int | None]:
        return service, id(account) if account else None

    async def load(self, account: Account | None = None, service: str = DEVICE_SERVICE) -> None:
        """Read the WSDL of ``service`` for ``account`` (None: anonymous) once, however many devices
        ask at the same moment."""
        key = self._key(account, service)
        async with self._loading:
            if key in self._services:
                return
            # In a thread: the scan's event loop goes on serving other hosts (and mDNS) meanwhile.
            onvif_package, ONVIFService, SERVICES = await asyncio.to_thread(import_message_layer)
            definition = SERVICES[service]
            self._binding_names[service] = "{%s}%s" % (definition["ns"], definition["binding"])
            loaded = ONVIFService(
                PLACEHOLDER_XADDR,
                account.username if account else None,
                account.password if account else None,
                str(Path(onvif_package.__file__).parent / "wsdl" / definition["wsdl"]),
                encrypt=True,
                no_cache=True,
                binding_name=self._binding_names[service],
            )
            await loaded.setup()
            # Only zeep's message building is used: the library's own HTTP session never sends.
            await loaded.close()
            self._services[key] = loaded

    def _service(self, account: Account | None, service: str):
        return self._services[self._key(account, service)]

    def _client(self, account: Account | None, service: str):
        loaded = self._service(account, service)
        return loaded.zeep_client if account else loaded.zeep_client_authless

    def _proxy(self, account: Account | None, service: str):
        """zeep's service proxy for the binding (its address is never used: zeep never sends)."""
        key = self._key(account, service)
        proxy = self._proxies.get(key)
        if proxy is None:
            proxy = self._proxies[key] = self._client(account, service).create_service(
                self._binding_names[service], PLACEHOLDER_XADDR)
        return proxy

    def _envelope(self, operation: str, account: Account | None, service: str,
                  arguments: tuple[tuple[str, object], ...]) -> tuple[bytes, str]:
        """The SOAP envelope of one operation and its content type (the signed one is new each time)."""
        from lxml import etree

        client = self._client(account, service)
        envelope = client.create_message(self._proxy(account, service), operation, **dict(arguments))
        body = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        soap_action = client.wsdl.bindings[self._binding_names[service]].get(operation).soapaction
        return body, _content_type(soap_action)

    def request(self, host_header: str, path: str, operation: str, account: Account | None,
                service: str = DEVICE_SERVICE, arguments: tuple[tuple[str, object], ...] = ()) -> bytes:
        """The HTTP POST of one operation of ``service`` with its ``arguments`` (name, value pairs),
        signed with ``account``'s WS-Security UsernameToken when one is given."""
        if account:
            body, content_type = self._envelope(operation, account, service, arguments)
        else:  # the same bytes for every device: built once
            key = (service, operation, arguments)
            if key not in self._anonymous_bodies:
                self._anonymous_bodies[key] = self._envelope(operation, None, service, arguments)
            body, content_type = self._anonymous_bodies[key]
        return http.build_post(host_header, path, body, content_type)

    def request_for_body(self, host_header: str, path: str, body: str, action: str, account: Account | None) -> bytes:
        """The HTTP POST of an operation whose SOAP body camscan builds itself (for a service whose
        WSDL onvif-zeep-async lacks, as Media2), signed with ``account``'s UsernameToken, by the same
        signer as :meth:`request`, when one is given. Its device-service WSDL must be loaded for ``account``."""
        envelope = onvif.envelope(body)
        if account:
            from lxml import etree

            document = etree.fromstring(envelope)
            self._client(account, DEVICE_SERVICE).wsse.apply(document, {})
            envelope = etree.tostring(document, xml_declaration=True, encoding="utf-8")
        return http.build_post(host_header, path, envelope, _content_type(action))


def device_information_flow(messages: OnvifMessages, ip: str, xaddr: str, account: Account | None = None,
                            on_offer: Callable[[Account], None] = lambda account: None) -> Flow:
    """GetSystemDateAndTime, then GetDeviceInformation anonymously and, if refused and an
    ``account`` is given (the caller chose it for this device), signed with it, after calling
    ``on_offer(account)``. Stops at the first request that gets no HTTP answer at all. The account's
    name is never an observation: stored evidence says "with the configured account"."""
    target = xaddr_target(xaddr)
    if target is None:
        raise ValueError(f"not an http(s) XAddr: {xaddr}")
    host, port = target
    parts = urlsplit(xaddr)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host_header_for(host, port, 443 if parts.scheme == "https" else 80)  # never userinfo from the URL
    found: list[Observation] = []

    def note(field: str, value: str) -> None:
        found.append(Observation(ip=ip, source="onvif", field=field, value=value, port=port, observed_at=time.time()))

    def ask(operation: str, signer: Account | None, parse: Callable[..., list[Observation]]):
        """The operation's observations; None without an HTTP answer; the ProtocolError of a refusal."""
        request = messages.request(host_header, path, operation, signer)
        reply = yield Exchange(request, http.response_complete, max_bytes=onvif.MAX_REPLY_BYTES,
                               credentials=http.credential_spans(request) if signer else ())
        response = http.http_reply(reply)
        if response is None:
            return None
        try:
            said = parse(response.body, ip, port, time.time())
        except ProtocolError as error:  # a SOAP Fault (OnvifFault) or no SOAP reply at all
            return error
        if response.status != 200:  # SOAP 1.2 HTTP binding: a result comes with 200, anything else refuses
            return ProtocolError(f"HTTP status {response.status}")
        return said

    clock = yield from ask("GetSystemDateAndTime", None, onvif.parse_system_date_and_time)
    if clock is None:
        note("onvif.unreachable", f"GetSystemDateAndTime at {xaddr}: no HTTP answer")
        return found
    if isinstance(clock, list):
        found += clock
    attempts = [(ANONYMOUS, None)] + ([("with the configured account", account)] if account else [])
    for how, signer in attempts:
        if signer:
            on_offer(signer)
        info = yield from ask("GetDeviceInformation", signer, onvif.parse_device_information)
        if isinstance(info, list):
            found += info
            note("onvif.access", f"GetDeviceInformation {how}")
            break
        note("onvif.refused", f"GetDeviceInformation {how}: {_reason(info) if info is not None else NO_HTTP_ANSWER}")
    return found


def device_information_answer(observations: Iterable[Observation]) -> tuple[int, bool] | None:
    """The port at which a device answered device_information_flow's GetDeviceInformation (with its
    information or a refusal), and whether it refused the anonymous caller there; None when no such
    answer was heard (no ONVIF, or no HTTP answer at all)."""
    port, refused_anonymous = None, False
    for seen in observations:
        if seen.source != "onvif" or seen.port is None:
            continue
        if seen.field == "onvif.access":
            port = seen.port
        elif seen.field == "onvif.refused" and not seen.value.endswith(NO_HTTP_ANSWER):
            port = seen.port
            refused_anonymous = refused_anonymous or seen.value.startswith(f"GetDeviceInformation {ANONYMOUS}:")
    return None if port is None else (port, refused_anonymous)
