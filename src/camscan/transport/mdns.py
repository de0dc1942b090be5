"""mDNS/DNS-SD browsing with zeroconf's asyncio API, bound to the in-scope links only.

Enumerates the service types on the link (``_services._dns-sd._udp``) and browses them
together with the types cameras and the devices mistaken for them announce, then asks
each instance for its SRV, TXT and addresses. Only addresses in scope are reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from zeroconf import Error as ZeroconfError
from zeroconf import IPVersion, ServiceStateChange, service_type_name
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf, AsyncZeroconfServiceTypes

from camscan.model import Observation
from camscan.protocols import mdns
from camscan.scope import Scope

# Camera-relevant types (Axis VAPIX announces _axis-video; ONVIF Core §7.4 names
# _onvif._tcp as an alternative to WS-Discovery; HomeKit cameras use _hap) and the
# printer/NAS/computer types that must be told apart from cameras.
BROWSED_TYPES = (
    "_axis-video._tcp.local.",
    "_onvif._tcp.local.",
    "_rtsp._tcp.local.",
    "_http._tcp.local.",
    "_https._tcp.local.",
    "_hap._tcp.local.",
    "_ipp._tcp.local.",
    "_printer._tcp.local.",
    "_pdl-datastream._tcp.local.",
    "_smb._tcp.local.",
    "_afpovertcp._tcp.local.",
    "_workstation._tcp.local.",
)
INFO_TIMEOUT_MS = 1000


def _browsable(service_type: str) -> bool:
    """Whether zeroconf accepts a type another host announced (a hostile name must not end the scan)."""
    try:
        service_type_name(service_type, strict=False)
    except (ZeroconfError, ValueError):
        return False
    return True


async def browse(
    scope: Scope,
    link_addresses: list[str],
    wait: float,
    on_observations: Callable[[str, list[Observation]], None],
) -> list[str]:
    """Browse for ``wait`` seconds on the given interface addresses; returns notices."""
    try:
        aiozc = AsyncZeroconf(interfaces=link_addresses, ip_version=IPVersion.V4Only)
    except OSError as error:
        return [f"mDNS: cannot listen on UDP 5353 ({error.strerror or error}); no mDNS discovery"]
    notices: list[str] = []
    lookups: set[asyncio.Task] = set()
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + wait

    async def resolve(service_type: str, name: str) -> None:
        try:
            info = AsyncServiceInfo(service_type, name)
            remaining = max(0.1, deadline - time.monotonic())
            if not await info.async_request(aiozc.zeroconf, min(INFO_TIMEOUT_MS, int(remaining * 1000))):
                return
        except (ZeroconfError, ValueError) as error:  # a name or answer zeroconf will not take: skip it
            notices.append(f"mDNS: {name!r} could not be resolved: {error}")
            return
        instance = name[: -len(service_type)].rstrip(".") if name.endswith(service_type) else name
        txt = info.properties or {}
        for address in info.parsed_addresses(IPVersion.V4Only):
            if not scope.allowed(address):
                continue
            found = mdns.service_observations(
                address, service_type, instance, info.server, info.port, txt, time.time()
            )
            on_observations(address, found)

    def on_change(zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed or (service_type, name) in seen:
            return
        seen.add((service_type, name))
        task = asyncio.ensure_future(resolve(service_type, name))
        lookups.add(task)
        task.add_done_callback(lookups.discard)

    browsers = [AsyncServiceBrowser(aiozc.zeroconf, list(BROWSED_TYPES), handlers=[on_change])]
    try:
        found_types = await AsyncZeroconfServiceTypes.async_find(aiozc=aiozc, timeout=wait / 2)
        extra = sorted(set(filter(_browsable, found_types)) - set(BROWSED_TYPES))
        if extra:
            browsers.append(AsyncServiceBrowser(aiozc.zeroconf, extra, handlers=[on_change]))
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        if lookups:
            await asyncio.wait(set(lookups), timeout=INFO_TIMEOUT_MS / 1000)
    finally:
        for browser in browsers:
            await browser.async_cancel()
        for task in lookups:
            task.cancel()
        await aiozc.async_close()
    return notices

