"""The ONVIF client's guarded session on loopback: redirects and out-of-scope XAddrs are never followed."""

from __future__ import annotations

import asyncio

from aiohttp import web

from camscan.scope import Scope
from camscan.transport.onvif import OnvifClient, xaddr_target

CAMERA = "127.0.32.1"
ELSEWHERE = "127.0.32.2"


async def serve(host: str, handler) -> web.AppRunner:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, 8080).start()
    return runner


def test_xaddr_target_reads_host_and_port():
    assert xaddr_target("http://198.18.0.7/onvif/device_service") == ("198.18.0.7", 80)
    assert xaddr_target("https://198.18.0.7:8443/onvif/device_service") == ("198.18.0.7", 8443)
    assert xaddr_target("http://[fd00::7]:8080/onvif") == ("fd00::7", 8080)
    assert xaddr_target("rtsp://198.18.0.7/") is None
    assert xaddr_target("http://198.18.0.7:99999/") is None


def test_redirect_out_of_scope_is_refused_and_nothing_reaches_the_other_host():
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
            client = OnvifClient(Scope([CAMERA]), None, 2.0)
            try:
                result = await client.device_information(CAMERA, f"http://{CAMERA}:8080/onvif/device_service")
            finally:
                await client.close()
        finally:
            for runner in runners:
                await runner.cleanup()
        return contacted, result

    contacted, result = asyncio.run(scenario())
    assert contacted and all(line.startswith("camera POST") for line in contacted), contacted
    assert len(contacted) == 1, "an endpoint that redirects is not asked again"
    assert "RedirectRefused" in result.notices[0] and ELSEWHERE in result.notices[0], result.notices
    assert not [seen for seen in result.observations if seen.field in ("onvif.model", "onvif.manufacturer")]


def test_xaddr_outside_scope_is_never_contacted():
    async def scenario():
        contacted: list[str] = []

        async def elsewhere(request: web.Request) -> web.Response:
            contacted.append(request.path)
            return web.Response(text="")

        runner = await serve(ELSEWHERE, elsewhere)
        try:
            client = OnvifClient(Scope([CAMERA]), None, 2.0)
            try:
                result = await client.device_information(CAMERA, f"http://{ELSEWHERE}:8080/onvif/device_service")
            finally:
                await client.close()
        finally:
            await runner.cleanup()
        return contacted, result

    contacted, result = asyncio.run(scenario())
    assert contacted == []
    assert result.observations == [] and "outside scope" in result.notices[0]
