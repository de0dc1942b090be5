"""Run the selected checks on one identified device, within its request budget."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from camscan.checks import (
    DEFAULT_CREDENTIALS, FTP_ANONYMOUS, ONVIF_NO_AUTH, HTTP_NO_TLS, RTSP_NO_AUTH, SNAPSHOT_NO_AUTH, TELNET_OPEN, VULNERABLE_FIRMWARE, passive,
)
from camscan.checks.data import default_logins, rtsp_paths, snapshot_paths
from camscan.checks.flows import (
    RequestBudget, default_credentials_flow, ftp_anonymous_flow, igd_port_mappings_flow, onvif_no_auth_flow,
    rtsp_no_auth_flow,
    snapshot_no_auth_flow,
)
from camscan.model import Device, Finding
from camscan.transport.guard import CONNECT_ONLY
from camscan.transport.interface import Transport

# The bounds the README promises: requests the checks send to one device, in all.
MAX_REQUESTS_PER_DEVICE = 24
RTSP_PATHS_PER_PORT = 6
SNAPSHOT_PATHS_PER_PORT = 4

PASSIVE = {
    TELNET_OPEN: passive.telnet_open,
    HTTP_NO_TLS: passive.http_no_tls,
    VULNERABLE_FIRMWARE: passive.vulnerable_firmware,
}


def _vendors(device: Device) -> list[str]:
    ident = device.identification
    return list(dict.fromkeys(v for v in (ident.vendor, ident.manufacturer) if v))


def _root_protected(device: Device, port: int) -> bool:
    """The scan's own DESCRIBE of the root URL on this port was refused."""
    return any(seen.field == "rtsp.status" and seen.port == port and seen.value in ("401 DESCRIBE", "403 DESCRIBE")
               for seen in device.observations)


async def run_checks(transport: Transport, device: Device, selected: frozenset[str]) -> tuple[list[Finding], list[str]]:
    """Findings for ``device`` from the ``selected`` checks, and notices about cut-short conversations.

    ``transport`` is the scan's :class:`~camscan.transport.interface.Transport`: every request
    passes its scope guard, pacing and concurrency limit.
    """
    findings: list[Finding] = []
    notices: list[str] = []
    for name, check in PASSIVE.items():
        if name in selected:
            findings += check(device)
    budget = RequestBudget(MAX_REQUESTS_PER_DEVICE)
    vendors = _vendors(device)

    async def drive(port: int, flow, tls: bool = False) -> None:
        result = await transport.run_flow(device.ip, port, flow, tls=tls)
        if result.error:
            notices.append(f"check conversation cut short by an unreadable reply from {result.error}")
        findings.extend(result.observations)

    for service in device.services:
        if RTSP_NO_AUTH in selected and service.protocol == "rtsp":
            paths = rtsp_paths(vendors)
            if not _root_protected(device, service.port):
                paths = ["/", *paths]
            await drive(service.port, rtsp_no_auth_flow(device.ip, service.port, paths[:RTSP_PATHS_PER_PORT], budget))
    for service in device.services:
        if SNAPSHOT_NO_AUTH in selected and service.protocol in ("http", "https"):
            tls = service.protocol == "https"
            paths = snapshot_paths(vendors)[:SNAPSHOT_PATHS_PER_PORT]
            await drive(service.port, snapshot_no_auth_flow(device.ip, service.port, paths, budget, tls), tls)
        if ONVIF_NO_AUTH in selected and service.protocol in ("http", "https"):
            tls = service.protocol == "https"
            await drive(service.port, onvif_no_auth_flow(device.ip, service.port, budget, tls), tls)
        if FTP_ANONYMOUS in selected and service.protocol == "ftp":
            await drive(service.port, ftp_anonymous_flow(device.ip, service.port, budget))
    if DEFAULT_CREDENTIALS in selected:
        await _default_credentials(device, vendors, budget, drive)
    return findings, notices


async def _default_credentials(device: Device, vendors: list[str], budget: RequestBudget, drive) -> None:
    """The maker's factory login, on its first web port only (one set of attempts per device)."""
    login = next((default_logins()[vendor] for vendor in vendors if vendor in default_logins()), None)
    web = [service for service in device.services if service.protocol in ("http", "https")]
    if login is None or not web:
        return
    tls = web[0].protocol == "https"
    flow = default_credentials_flow(device.ip, web[0].port, login.path, list(login.credentials), budget,
                                    secrets.token_hex(8), tls)
    await drive(web[0].port, flow, tls)


async def gateway_findings(
    transport: Transport, devices: list[Device]
) -> tuple[list[tuple[Device, Finding]], list[str]]:
    """upnp-port-forward, once every host is identified: each device that announced a UPnP
    description (``ssdp.location`` on itself) is asked for its port-mapping table, within
    its own request budget; mappings to this scan's cameras become findings on the camera."""
    found: list[tuple[Device, Finding]] = []
    notices: list[str] = []
    for gateway in devices:
        locations = [seen.value for seen in gateway.observations if seen.field == "ssdp.location"]
        if not locations:
            continue
        location = locations[0]
        try:
            port = urlsplit(location).port or 80
        except ValueError:
            continue
        if port in CONNECT_ONLY:
            notices.append(f"UPnP description {location} of {gateway.ip} names a connect-only port: not contacted")
            continue
        budget = RequestBudget(MAX_REQUESTS_PER_DEVICE)
        result = await transport.run_flow(gateway.ip, port, igd_port_mappings_flow(gateway.ip, port, location, budget))
        if result.error:
            notices.append(f"UPnP conversation cut short by an unreadable reply from {result.error}")
        found += passive.forwarded_to_cameras(gateway.ip, list(result.observations), devices)
    return found, notices
