"""upnp-port-forward against an emulated UPnP gateway on a loopback address (127.70.5.x only).

The gateway's SSDP announcement is given as an observation (the discovery sweep is not
this check's business); the check then reads the port-mapping table over HTTP/SOAP.
"""

from __future__ import annotations

import asyncio

import pytest

from camscan.checks import UPNP_PORT_FORWARD
from camscan.checks.runner import gateway_findings
from camscan_lab import LabHost, LoopbackLab
from camscan.model import Device, Identification, Observation
from camscan.scope import Scope
from camscan.transport.live import LiveTransport

GATEWAY, CAMERA, PRINTER, LOCKED_GATEWAY = "127.70.5.1", "127.70.5.2", "127.70.5.3", "127.70.5.4"
MAPPINGS = [
    {"external_port": "8554", "internal_client": CAMERA, "internal_port": "554", "description": "camera rtsp"},
    {"external_port": "8080", "internal_client": CAMERA, "internal_port": "80", "description": "camera web"},
    {"external_port": "9100", "internal_client": PRINTER, "internal_port": "9100", "description": "printer"},
    {"external_port": "2323", "internal_client": CAMERA, "internal_port": "23", "enabled": False},
]


def gateway_host(ip: str, routes: dict) -> LabHost:
    truth = {"vendor": None, "manufacturer": None, "device_type": "router", "model": None, "firmware": None}
    return LabHost(ip=ip, mac="02:e5:00:00:05:01", profile="lab-igd", truth=truth,
                   services={5000: {"kind": "http", "routes": routes}})


def announced(ip: str) -> Device:
    location = Observation(ip, "ssdp", "ssdp.location", f"http://{ip}:5000/rootDesc.xml", port=1900, transport="udp")
    return Device(ip=ip, observations=[location], identification=Identification(device_type="router"))


@pytest.fixture(scope="module")
def gateways():
    open_routes = {"/rootDesc.xml": {"igd_description": {"control_url": "/ctl/IPConn"}},
                   "/ctl/IPConn": {"igd_control": {"mappings": MAPPINGS}}}
    protected = {"/rootDesc.xml": {"status": 401, "headers": {"WWW-Authenticate": 'Basic realm="router"'}}}
    with LoopbackLab([gateway_host(GATEWAY, open_routes), gateway_host(LOCKED_GATEWAY, protected)]) as hosts:
        yield hosts


def test_ports_forwarded_to_cameras_are_found_on_the_camera(gateways):
    devices = [
        announced(GATEWAY), announced(LOCKED_GATEWAY),
        Device(ip=CAMERA, identification=Identification(vendor="hikvision", device_type="ip-camera")),
        Device(ip=PRINTER, identification=Identification(device_type="printer")),
    ]

    async def run():
        transport = LiveTransport(Scope(["127.70.5.0/24"]), rate=1000, concurrency=16, timeout=2.0)
        return await gateway_findings(transport, devices)

    found, notices = asyncio.run(run())
    assert notices == []
    assert sorted((camera.ip, finding.check, finding.port) for camera, finding in found) == [
        (CAMERA, UPNP_PORT_FORWARD, 80), (CAMERA, UPNP_PORT_FORWARD, 554)]
    evidence = {finding.port: dict(finding.evidence) for _, finding in found}
    assert evidence[554]["external_port"] == "8554" and evidence[554]["gateway"] == GATEWAY


