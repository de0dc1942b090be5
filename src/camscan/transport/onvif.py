"""ONVIF device information through onvif-zeep-async, on an HTTP session that cannot leave scope.

onvif-zeep-async builds its own aiohttp session, which follows redirects anywhere; camscan
swaps in one whose every request passes the scope guard and which refuses redirects, so a
device can never steer a request outside what the user authorised.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from onvif.client import AsyncTransportProtocolErrorHandler, ONVIFService
from onvif.definition import SERVICES
from zeep.exceptions import Fault

from camscan.model import Observation
from camscan.protocols import onvif
from camscan.scope import Scope
from camscan.transport import guard

_DEVICE = SERVICES["devicemgmt"]
DEVICE_WSDL = str(Path(__import__("onvif").__file__).parent / "wsdl" / _DEVICE["wsdl"])
DEVICE_BINDING = "{%s}%s" % (_DEVICE["ns"], _DEVICE["binding"])


@dataclass(frozen=True)
class Credentials:
    """An ONVIF account to try when a device refuses anonymous requests; never stored or printed."""

    username: str
    password: str = field(repr=False)


@dataclass
class OnvifResult:
    """What the device service said, and why anything is missing."""

    observations: list[Observation] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


class RedirectRefused(aiohttp.ClientError):
    """An ONVIF endpoint answered with a redirect; camscan does not follow it."""


# zeep raises its own Fault/TransportError/XMLSyntaxError (and lxml's) from inside the
# awaited call, the library wraps only some in ONVIFError: a device's reply, however
# malformed, must end that one request, never the scan.
_CALL_ERRORS = Exception


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


def _guarded_session(scope: Scope, timeout: float) -> aiohttp.ClientSession:
    async def before_request(_session, _context, params: aiohttp.TraceRequestStartParams) -> None:
        guard(scope, params.url.host or "")

    async def on_redirect(_session, _context, params: aiohttp.TraceRequestRedirectParams) -> None:
        raise RedirectRefused(f"{params.url} redirected to {params.response.headers.get('Location')!r}")

    tracing = aiohttp.TraceConfig()
    tracing.on_request_start.append(before_request)
    tracing.on_request_redirect.append(on_redirect)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=False, limit_per_host=1),
        timeout=aiohttp.ClientTimeout(total=timeout),
        trace_configs=[tracing],
    )


class OnvifClient:
    """One scan's ONVIF device-service client: one guarded session and one pair of zeep
    clients (anonymous, and with the credentials) shared by every device, bound per XAddr."""

    def __init__(self, scope: Scope, credentials: Credentials | None, timeout: float) -> None:
        self.scope = scope
        self.credentials = credentials
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._service: ONVIFService | None = None
        self._opening = asyncio.Lock()

    async def _ready(self) -> ONVIFService:
        """The shared service, opened once: devices found together must not each load the WSDL."""
        async with self._opening:
            if self._service is None:
                await self.open()
        return self._service

    async def open(self) -> None:
        self._session = _guarded_session(self.scope, self.timeout)
        service = ONVIFService(
            "http://0.0.0.0/onvif/device_service",  # each device gets its own binding below
            self.credentials.username if self.credentials else None,
            self.credentials.password if self.credentials else None,
            DEVICE_WSDL,
            encrypt=True,
            no_cache=True,
            binding_name=DEVICE_BINDING,
        )
        # Replace the library's own session (and its transport) with the guarded one.
        await service._session.close()
        await service._connector.close()
        service._session = self._session
        service.transport = AsyncTransportProtocolErrorHandler(session=self._session, verify_ssl=False)
        await service.setup()
        self._service = service

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def device_information(self, ip: str, xaddr: str) -> OnvifResult:
        """GetSystemDateAndTime and GetDeviceInformation from ``xaddr``: anonymously first, then
        with the credentials when the device asks for them. Bounded by the timeout per request."""
        result = OnvifResult()
        target = xaddr_target(xaddr)
        if target is None or not self.scope.allowed(target[0]):
            result.notices.append(f"ONVIF XAddr {xaddr} of {ip} is outside scope: recorded, not contacted")
            return result
        service = await self._ready()
        port = target[1]
        anonymous = service.zeep_client_authless.create_service(DEVICE_BINDING, xaddr)
        try:
            clock = await asyncio.wait_for(anonymous.GetSystemDateAndTime(), self.timeout)
            result.observations += onvif.system_time_observations(ONVIFService.to_dict(clock), ip, port, time.time())
        except Fault as error:  # it speaks SOAP: the information request may still be answered
            result.notices.append(f"ONVIF GetSystemDateAndTime at {xaddr}: {_reason(error)}")
        except _CALL_ERRORS as error:  # unreachable or not ONVIF: asking again would only wait again
            result.notices.append(f"ONVIF GetSystemDateAndTime at {xaddr}: {_reason(error)}")
            return result
        attempts = [("anonymous", anonymous)]
        if self.credentials:
            attempts.append((f"as {self.credentials.username}", service.zeep_client.create_service(DEVICE_BINDING, xaddr)))
        for how, proxy in attempts:
            try:
                info = await asyncio.wait_for(proxy.GetDeviceInformation(), self.timeout)
            except _CALL_ERRORS as error:
                result.observations.append(
                    Observation(ip=ip, source="onvif", field="onvif.refused",
                                value=f"GetDeviceInformation {how}: {_reason(error)}", port=port, observed_at=time.time())
                )
                continue
            result.observations += onvif.device_information_observations(ONVIFService.to_dict(info), ip, port, time.time())
            result.observations.append(
                Observation(ip=ip, source="onvif", field="onvif.access", value=f"GetDeviceInformation {how}",
                            port=port, observed_at=time.time())
            )
            break
        return result


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
