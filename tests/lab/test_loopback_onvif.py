"""ONVIF device information on loopback: zeep's messages over camscan's transport; redirects and
out-of-scope XAddrs are never followed."""

from __future__ import annotations

import asyncio

from aiohttp import web

from camscan.probes.onvif import OnvifMessages, device_information_flow, xaddr_target
from camscan.scope import Scope
from camscan.transport.guard import OutOfScopeError
from camscan.transport.live import LiveTransport

CAMERA = "127.0.32.1"
ELSEWHERE = "127.0.32.2"
DEVICE_INFORMATION = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><SOAP-ENV:Body><tds:GetDeviceInformationResponse>'
    "<tds:Manufacturer>HIKVISION</tds:Manufacturer><tds:Model>DS-2CD2143G0-I</tds:Model>"
    "<tds:FirmwareVersion>V5.5.0 build 170725</tds:FirmwareVersion><tds:SerialNumber>DS-2CD2143G0-I20170101AAWR123</tds:SerialNumber>"
    "<tds:HardwareId>88</tds:HardwareId></tds:GetDeviceInformationResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">'
    "<env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized"
    "</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang=\"en\">Sender not Authorized</env:Text>"
    "</env:Reason></env:Fault></env:Body></env:Envelope>"
)


async def serve(host: str, handler) -> web.AppRunner:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, 8080).start()
    return runner


async def ask(scope: Scope, messages: OnvifMessages, xaddr: str):
    await messages.load()
    transport = LiveTransport(scope, 1000, 8, 2.0)
    host, port = xaddr_target(xaddr)
    return await transport.run_flow(host, port, device_information_flow(messages, CAMERA, xaddr))


def test_xaddr_target_reads_host_and_port():
    assert xaddr_target("http://198.18.0.7/onvif/device_service") == ("198.18.0.7", 80)
    assert xaddr_target("https://198.18.0.7:8443/onvif/device_service") == ("198.18.0.7", 8443)
    assert xaddr_target("http://[fd00::7]:8080/onvif") == ("fd00::7", 8080)
    assert xaddr_target("rtsp://198.18.0.7/") is None
    assert xaddr_target("http://198.18.0.7:99999/") is None


def test_anonymous_refusal_then_signed_request_with_the_account():
    async def scenario():
        seen: list[bytes] = []

        async def camera(request: web.Request) -> web.Response:
            body = await request.read()
            seen.append(body)
            if b"GetSystemDateAndTime" in body:
                return web.Response(status=400, text=FAULT, content_type="application/soap+xml")
            if b"UsernameToken" not in body:
                return web.Response(status=400, text=FAULT, content_type="application/soap+xml")
            return web.Response(text=DEVICE_INFORMATION, content_type="application/soap+xml")

        runner = await serve(CAMERA, camera)
        try:
            from camscan.probes.onvif import Credentials

            messages = OnvifMessages(Credentials("admin", "s3cret-lab"))
            result = await ask(Scope([CAMERA]), messages, f"http://{CAMERA}:8080/onvif/device_service")
        finally:
            await runner.cleanup()
        return seen, result

    seen, result = asyncio.run(scenario())
    fields = {item.field: item.value for item in result.observations}
    assert fields["onvif.model"] == "DS-2CD2143G0-I" and fields["onvif.manufacturer"] == "HIKVISION"
    assert fields["onvif.access"] == "GetDeviceInformation as admin"
    assert fields["onvif.refused"] == "GetDeviceInformation anonymous: Fault: Sender not Authorized"
    assert b"PasswordDigest" in seen[-1] and b"s3cret-lab" not in seen[-1], "the password itself never travels"


def test_redirect_is_a_refusal_and_nothing_reaches_the_other_host():
    async def scenario():
        contacted: list[str] = []

        async def camera(request: web.Request) -> web.Response:
            contacted.append(f"camera {request.method} {request.path}")
            raise web.HTTPFound(f"http://{ELSEWHERE}:8080/onvif/device_service")

        async def elsewhere(request: web.Request) -> web.Response:
            contacted.append(f"elsewhere {request.method} {request.path}")
            return web.Response(text="should never be asked")

        runners = [await serve(CAMERA, camera), await serve(ELSEWHERE, elsewhere)]
        try:
            result = await ask(Scope([CAMERA]), OnvifMessages(None), f"http://{CAMERA}:8080/onvif/device_service")
        finally:
            for runner in runners:
                await runner.cleanup()
        return contacted, result

    contacted, result = asyncio.run(scenario())
    assert contacted and all(line.startswith("camera POST") for line in contacted), contacted
    assert not [seen for seen in result.observations if seen.field in ("onvif.model", "onvif.manufacturer")]
    assert any(seen.field == "onvif.refused" for seen in result.observations)


def test_xaddr_outside_scope_is_refused_by_the_transport():
    async def scenario():
        try:
            await ask(Scope([CAMERA]), OnvifMessages(None), f"http://{ELSEWHERE}:8080/onvif/device_service")
        except OutOfScopeError:
            return True
        return False

    assert asyncio.run(scenario())
