"""mDNS/DNS-SD browsing with zeroconf, bound to the in-scope links only.

Enumerates the service types on the link (``_services._dns-sd._udp``) and browses them
together with the types cameras and the devices mistaken for them announce, then asks
each instance for its SRV, TXT and addresses. Only addresses in scope are reported.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from zeroconf import Error as ZeroconfError
from zeroconf import (
    IPVersion,
    ServiceBrowser,
    ServiceInfo,
    ServiceStateChange,
    Zeroconf,
    service_type_name,
)

from camscan.model import Observation
from camscan.protocols import mdns
from camscan.scope import Scope

INFO_TIMEOUT_MS = 1000
RESOLVERS = 8  # services asked for their records at once


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
    """Browse for ``wait`` seconds on the given interface addresses; returns notices.

    zeroconf runs on its own event loop thread, not on the scan's: zeroconf misses answers
    whenever its loop stalls for a few tens of milliseconds, which a large scan's loop does.
    ``on_observations`` is still called on the scan's loop, as each service resolves.
    Cancelled (an interrupted scan), the browse stops within a second, not at the end of its window.
    """
    loop = asyncio.get_running_loop()
    browsing = _Browse(scope, link_addresses, wait)

    def deliver(address: str, found: list[Observation]) -> None:
        try:
            loop.call_soon_threadsafe(on_observations, address, found)
        except RuntimeError:  # the scan's loop has closed (it was interrupted): nobody left to tell
            return

    try:
        return await asyncio.to_thread(browsing.run, deliver)
    except asyncio.CancelledError:
        browsing.stop()
        raise


class _Browse:
    """One browse on zeroconf's thread; :meth:`stop`, from any thread, ends it early."""

    def __init__(self, scope: Scope, link_addresses: list[str], wait: float) -> None:
        self.scope = scope
        self.link_addresses = link_addresses
        self.wait = wait
        self.announced: queue.Queue[tuple[str, str] | None] = queue.Queue()  # None: stop

    def stop(self) -> None:
        self.announced.put(None)

    def run(self, deliver: Callable[[str, list[Observation]], None]) -> list[str]:
        try:
            zc = Zeroconf(interfaces=self.link_addresses, ip_version=IPVersion.V4Only)
        except OSError as error:
            return [f"mDNS: cannot listen on UDP 5353 ({error.strerror or error}); no mDNS discovery"]
        try:
            return self._browse(zc, deliver)
        finally:
            zc.close()

    def _browse(self, zc: Zeroconf, deliver: Callable[[str, list[Observation]], None]) -> list[str]:
        scope, wait, announced = self.scope, self.wait, self.announced
        notices: list[str] = []
        deadline = time.monotonic() + wait
        service_types: queue.Queue[str] = queue.Queue()

        def on_change(zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
            if state_change is not ServiceStateChange.Removed:
                announced.put((service_type, name))

        def on_service_type(zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
            if state_change is ServiceStateChange.Added:
                service_types.put(name)

        def resolve(service_type: str, name: str, cached_only: bool) -> None:
            try:
                info = ServiceInfo(service_type, name)
                # Devices send SRV, TXT and A records with their answer: most need no question.
                if not info.load_from_cache(zc):
                    remaining = deadline - time.monotonic()
                    if cached_only or not info.request(zc, int(min(INFO_TIMEOUT_MS, max(100, remaining * 1000)))):
                        return
            except (ZeroconfError, ValueError) as error:  # a name or answer zeroconf will not take: skip it
                notices.append(f"mDNS: {name!r} could not be resolved: {error}")
                return
            instance = name[: -len(service_type)].rstrip(".") if name.endswith(service_type) else name
            txt = info.properties or {}
            for address in info.parsed_addresses(IPVersion.V4Only):
                if scope.allowed(address):
                    deliver(address, mdns.service_observations(
                        address, service_type, instance, info.server, info.port, txt, time.time()))

        seen: set[tuple[str, str]] = set()
        asked: dict[Future, tuple[str, str]] = {}  # resolves handed to the pool
        browsers = [ServiceBrowser(zc, list(mdns.BROWSED_TYPES), handlers=[on_change]),
                    ServiceBrowser(zc, mdns.SERVICE_ENUMERATION, handlers=[on_service_type])]
        try:
            with ThreadPoolExecutor(max_workers=RESOLVERS, thread_name_prefix="mdns-resolve") as resolvers:
                types_due: float | None = time.monotonic() + wait / 2  # then browse the other types the link has
                while (now := time.monotonic()) < deadline:
                    if types_due is not None and now >= types_due:
                        found_types = {service_types.get_nowait() for _ in range(service_types.qsize())}
                        extra = sorted(set(filter(_browsable, found_types)) - set(mdns.BROWSED_TYPES))
                        if extra:
                            browsers.append(ServiceBrowser(zc, extra, handlers=[on_change]))
                        types_due = None
                    try:
                        service = announced.get(timeout=(types_due or deadline) - now)
                    except queue.Empty:
                        continue
                    if service is None:  # stopped: what has not started never will
                        resolvers.shutdown(cancel_futures=True)
                        return notices
                    if service not in seen:
                        seen.add(service)
                        asked[resolvers.submit(resolve, *service, False)] = service
                # The window is over: resolves still queued ask no more; the ones running end within a second.
                unasked = [service for future, service in asked.items() if future.cancel()]
            while not announced.empty():  # announced as the window closed
                service = announced.get_nowait()
                if service is not None and service not in seen:
                    seen.add(service)
                    unasked.append(service)
            for service in unasked:  # from the answers already here
                resolve(*service, True)
        finally:
            for browser in browsers:
                browser.cancel()
        return notices
