"""ONVIF device information: onvif-zeep-async's WSDL-driven messages, carried by camscan's transport.

onvif-zeep-async (zeep) builds each SOAP request from the device-service WSDL, with the
WS-Security UsernameToken digest when an account is given, and reads each reply; the
bytes travel through camscan's own transport as a sans-IO flow, so every request passes
the scope guard and the rate limit, a redirect is never followed, and a pcap replay
answers ONVIF exactly as it answers HTTP.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

from camscan.model import Observation
from camscan.protocols import Exchange, Flow, ProtocolError, http, onvif
from camscan.probes.flows import host_header_for
from camscan.protocols.message import parse_response

PLACEHOLDER_XADDR = "http://0.0.0.0/onvif/device_service"  # each device gets its own binding


@dataclass(frozen=True)
class Credentials:
    """An ONVIF account to try when a device refuses anonymous requests; never stored or printed."""

    username: str
    password: str = field(repr=False)


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

    Imported on demand: zeep and its WSDL are a fifth of a second a scan without ONVIF need not pay.
    """
    import onvif
    from onvif.client import ONVIFService
    from onvif.definition import SERVICES

    return onvif, ONVIFService, SERVICES


def preload_message_layer() -> None:
    """Import the message layer and parse the device service's WSDL now (outside any scan's
    event loop); onvif-zeep-async keeps parsed WSDL documents for the rest of the process."""
    asyncio.run(OnvifMessages(None).load())


class OnvifMessages:
    """The device service's zeep clients (anonymous, and with the account), loaded once per scan."""

    def __init__(self, credentials: Credentials | None) -> None:
        self.credentials = credentials
        self._service = None
        self._binding_name = ""
        self._loading = asyncio.Lock()
        self._proxies: dict[bool, object] = {}
        self._anonymous_bodies: dict[str, tuple[bytes, str]] = {}

    async def load(self) -> None:
        """Read the WSDL once, however many devices ask at the same moment."""
        async with self._loading:
            if self._service is not None:
                return
            onvif_package, ONVIFService, SERVICES = import_message_layer()
            device = SERVICES["devicemgmt"]
            self._binding_name = "{%s}%s" % (device["ns"], device["binding"])
            service = ONVIFService(
                PLACEHOLDER_XADDR,
                self.credentials.username if self.credentials else None,
                self.credentials.password if self.credentials else None,
                str(Path(onvif_package.__file__).parent / "wsdl" / device["wsdl"]),
                encrypt=True,
                no_cache=True,
                binding_name=self._binding_name,
            )
            await service.setup()
            # Only zeep's message building is used: the library's own HTTP session never sends.
            await service.close()
            self._service = service

    def _client(self, authenticated: bool):
        return self._service.zeep_client if authenticated else self._service.zeep_client_authless

    def _proxy(self, authenticated: bool):
        """zeep's service proxy for the device binding (its address is never used: zeep never sends)."""
        proxy = self._proxies.get(authenticated)
        if proxy is None:
            proxy = self._proxies[authenticated] = self._client(authenticated).create_service(
                self._binding_name, PLACEHOLDER_XADDR)
        return proxy

    def _envelope(self, operation: str, authenticated: bool) -> tuple[bytes, str]:
        """The SOAP envelope of one operation and its content type (the signed one is new each time)."""
        from lxml import etree

        envelope = self._client(authenticated).create_message(self._proxy(authenticated), operation)
        body = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        # The SOAP 1.2 media type carries the operation's action (RFC 3902 section 3).
        soap_action = self._device_binding().get(operation).soapaction
        return body, f'application/soap+xml; charset=utf-8; action="{soap_action}"'

    def _device_binding(self):
        return self._client(False).wsdl.bindings[self._binding_name]

    def request(self, host_header: str, path: str, operation: str, authenticated: bool) -> bytes:
        """The HTTP POST of one device-service operation (signed when ``authenticated``)."""
        if authenticated:
            body, content_type = self._envelope(operation, authenticated)
        else:  # the same bytes for every device: built once
            if operation not in self._anonymous_bodies:
                self._anonymous_bodies[operation] = self._envelope(operation, authenticated)
            body, content_type = self._anonymous_bodies[operation]
        return http.build_post(host_header, path, body, content_type)

    def reply(self, operation: str, authenticated: bool, status: int, content: bytes, content_type: str) -> dict:
        """The operation's result as a plain dict; a SOAP Fault or an HTTP error raises."""
        client = self._client(authenticated)
        binding = self._device_binding()
        response = SimpleNamespace(status_code=status, content=content, headers={"Content-Type": content_type},
                                   encoding="utf-8")
        return self._service.to_dict(binding.process_reply(client, binding.get(operation), response)) or {}


def device_information_flow(messages: OnvifMessages, ip: str, xaddr: str) -> Flow:
    """GetSystemDateAndTime, then GetDeviceInformation anonymously and, if refused and an
    account is given, signed. Stops at the first request that gets no HTTP answer at all."""
    host, port = xaddr_target(xaddr)
    parts = urlsplit(xaddr)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host_header_for(host, port, 443 if parts.scheme == "https" else 80)  # never userinfo from the URL
    found: list[Observation] = []

    def note(field: str, value: str) -> None:
        found.append(Observation(ip=ip, source="onvif", field=field, value=value, port=port, observed_at=time.time()))

    def ask(operation: str, authenticated: bool):
        reply = yield Exchange(messages.request(host_header, path, operation, authenticated), http.response_complete,
                               max_bytes=onvif.MAX_REPLY_BYTES)
        try:
            response = parse_response(reply)
        except ProtocolError:
            return None
        if response.protocol != "HTTP":
            return None
        try:
            return messages.reply(operation, authenticated, response.status, response.body,
                                  response.header("content-type") or "application/soap+xml")
        except Exception as error:  # zeep's Fault, TransportError, XMLSyntaxError ...: a refusal, with its reason
            return error

    clock = yield from ask("GetSystemDateAndTime", False)
    if clock is None:
        note("onvif.unreachable", f"GetSystemDateAndTime at {xaddr}: no HTTP answer")
        return found
    if isinstance(clock, dict):
        found += onvif.system_time_observations(clock, ip, port, time.time())
    attempts = [("anonymous", False)] + ([(f"as {messages.credentials.username}", True)] if messages.credentials else [])
    for how, authenticated in attempts:
        info = yield from ask("GetDeviceInformation", authenticated)
        if isinstance(info, dict):
            found += onvif.device_information_observations(info, ip, port, time.time())
            note("onvif.access", f"GetDeviceInformation {how}")
            break
        note("onvif.refused", f"GetDeviceInformation {how}: {_reason(info) if info is not None else 'no HTTP answer'}")
    return found
