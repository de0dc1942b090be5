"""ONVIF device information on loopback: zeep's messages over camscan's transport; redirects and
out-of-scope XAddrs are never followed; an account goes only to the devices its entry names, and
stays out of recordings."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys

import pytest
from aiohttp import web

from camscan.credentials import Account, account_from_options
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


async def ask(scope: Scope, messages: OnvifMessages, xaddr: str, account: Account | None = None):
    await messages.load()
    transport = LiveTransport(scope, 1000, 8, 2.0)
    host, port = xaddr_target(xaddr)
    return await transport.run_flow(host, port, device_information_flow(messages, CAMERA, xaddr, account))


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
            account = account_from_options(1, "admin", "s3cret-lab", CAMERA)
            messages = OnvifMessages()
            await messages.load(account)
            result = await ask(Scope([CAMERA]), messages, f"http://{CAMERA}:8080/onvif/device_service", account)
        finally:
            await runner.cleanup()
        return seen, result

    seen, result = asyncio.run(scenario())
    fields = {item.field: item.value for item in result.observations}
    assert fields["onvif.model"] == "DS-2CD2143G0-I" and fields["onvif.manufacturer"] == "HIKVISION"
    assert fields["onvif.access"] == "GetDeviceInformation with the configured account", "the account is not stored"
    assert not [item for item in result.observations if "admin" in item.value]
    assert fields["onvif.refused"] == (
        f"GetDeviceInformation anonymous: OnvifFault: ONVIF GetDeviceInformation reply from {CAMERA}:8080: "
        "SOAP Fault ter:NotAuthorized (Sender not Authorized)")
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
            result = await ask(Scope([CAMERA]), OnvifMessages(), f"http://{CAMERA}:8080/onvif/device_service")
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
            await ask(Scope([CAMERA]), OnvifMessages(), f"http://{ELSEWHERE}:8080/onvif/device_service")
        except OutOfScopeError:
            return True
        return False

    assert asyncio.run(scenario())


# --------------------------------------------------------------------------- accounts through the CLI

CAMSCAN = [sys.executable, "-m", "camscan"]
HIKVISION_CAMERA = "127.0.32.11"
ROGUE = "127.0.32.12"  # answers like any ONVIF device and refuses anonymous requests, to collect a digest
USER, PASSWORD = "inventory-user", "lab-onvif-pass"
_TOKEN_PART = re.compile(rb"<(?:\w+:)?(Username|Password|Nonce)\b[^>]*>([^<]+)<")


def probe_matches(ip: str, scopes: str) -> bytes:
    """A WS-Discovery ProbeMatches naming the device's own XAddr (written here, not by camscan)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        "<env:Header><wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action></env:Header>"
        "<env:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<wsa:EndpointReference><wsa:Address>urn:uuid:1c852a4d-b800-1f08-abcd-{ip.replace('.', '')[-12:]:0>12}"
        "</wsa:Address></wsa:EndpointReference>"
        f"<d:Types>dn:NetworkVideoTransmitter</d:Types><d:Scopes>{scopes}</d:Scopes>"
        f"<d:XAddrs>http://{ip}:8080/onvif/device_service</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>"
    ).encode()


class OnvifDevice:
    """WS-Discovery on udp/3702 and an ONVIF device service on tcp/8080 that refuses anonymous
    GetDeviceInformation; keeps every request body it is sent."""

    def __init__(self, ip: str, scopes: str) -> None:
        self.ip = ip
        self.scopes = scopes
        self.bodies: list[bytes] = []
        self._udp: socket.socket | None = None
        self._runner: web.AppRunner | None = None

    @property
    def tokens(self) -> list[bytes]:
        return [body for body in self.bodies if b"UsernameToken" in body]

    async def start(self) -> None:
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((self.ip, 3702))
        self._udp.setblocking(False)
        reply = probe_matches(self.ip, self.scopes)

        def on_probe() -> None:
            _data, peer = self._udp.recvfrom(65535)
            self._udp.sendto(reply, peer)

        asyncio.get_running_loop().add_reader(self._udp.fileno(), on_probe)
        self._runner = await serve(self.ip, self._http)

    async def _http(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.Response(text="<html><title>Network Camera</title></html>", content_type="text/html")
        body = await request.read()
        self.bodies.append(body)
        if b"GetDeviceInformation" in body and b"UsernameToken" in body:
            return web.Response(text=DEVICE_INFORMATION, content_type="application/soap+xml")
        return web.Response(status=400, text=FAULT, content_type="application/soap+xml")

    async def stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self._udp.fileno())
        self._udp.close()
        await self._runner.cleanup()


def credentials_file(tmp_path, accounts: str):
    path = tmp_path / "credentials.yaml"
    path.write_text(accounts)
    path.chmod(0o600)
    return path


def scan_devices(tmp_path, devices: list[OnvifDevice], *args: str) -> subprocess.CompletedProcess:
    """``camscan scan`` of the devices (and nothing else) while they serve."""
    async def scenario():
        for device in devices:
            await device.start()
        try:
            process = await asyncio.create_subprocess_exec(
                *CAMSCAN, "scan", *(device.ip for device in devices), "--db", str(tmp_path / "scan.db"), "--yes",
                "--ports", "8080", "--no-multicast", "--discovery-wait", "0.5", "--no-checks", *args,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            out, err = await asyncio.wait_for(process.communicate(), 120)
        finally:
            for device in devices:
                await device.stop()
        return subprocess.CompletedProcess(CAMSCAN, process.returncode,
                                           out.decode(), err.decode())

    return asyncio.run(scenario())


def stored_text(db) -> str:
    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump())


HIKVISION_SCOPES = "onvif://www.onvif.org/hardware/DS-2CD2143G0-I onvif://www.onvif.org/name/HIKVISION"
ROGUE_SCOPES = "onvif://www.onvif.org/name/IPCAM onvif://www.onvif.org/type/video_encoder"


def test_a_rogue_device_outside_the_accounts_targets_never_receives_a_username_token(tmp_path):
    camera, rogue = OnvifDevice(HIKVISION_CAMERA, HIKVISION_SCOPES), OnvifDevice(ROGUE, ROGUE_SCOPES)
    accounts = credentials_file(tmp_path, f"- service: onvif\n  username: {USER}\n  password: {PASSWORD}\n"
                                          f"  targets: [{HIKVISION_CAMERA}]\n")
    result = scan_devices(tmp_path, [camera, rogue], "--credentials", str(accounts))
    assert result.returncode == 0, result.stderr
    assert rogue.bodies and not rogue.tokens, "the rogue device was asked, anonymously only"
    assert camera.tokens and USER.encode() in camera.tokens[0]
    assert f"onvif account 1 ({USER}) for {HIKVISION_CAMERA}: offered to 1 device(s)" in result.stderr
    stored = stored_text(tmp_path / "scan.db")
    assert "DS-2CD2143G0-I20170101AAWR123" in stored and "with the configured account" in stored
    assert USER not in stored and PASSWORD not in stored and PASSWORD not in result.stdout + result.stderr


def test_an_account_narrowed_to_a_maker_waits_for_anonymous_evidence_of_that_maker(tmp_path):
    camera, rogue = OnvifDevice(HIKVISION_CAMERA, HIKVISION_SCOPES), OnvifDevice(ROGUE, ROGUE_SCOPES)
    accounts = credentials_file(tmp_path, f"- service: onvif\n  username: {USER}\n  password: {PASSWORD}\n"
                                          "  targets: [127.0.32.0/24]\n  maker: hikvision\n")
    result = scan_devices(tmp_path, [camera, rogue], "--credentials", str(accounts))
    assert result.returncode == 0, result.stderr
    assert camera.tokens and not rogue.tokens and rogue.bodies
    assert "127.0.32.0/24, hikvision devices only: offered to 1 device(s)" in result.stderr


def test_the_environment_account_is_scoped_by_onvif_targets(tmp_path, monkeypatch):
    camera, rogue = OnvifDevice(HIKVISION_CAMERA, HIKVISION_SCOPES), OnvifDevice(ROGUE, ROGUE_SCOPES)
    monkeypatch.setenv("CAMSCAN_ONVIF_PASSWORD", PASSWORD)
    result = scan_devices(tmp_path, [camera, rogue], "--onvif-user", USER, "--onvif-targets", HIKVISION_CAMERA)
    assert result.returncode == 0, result.stderr
    assert camera.tokens and not rogue.tokens


@pytest.mark.skipif(os.geteuid() != 0, reason="--record captures frames: root")
def test_a_recording_keeps_no_credential_unless_asked_and_still_replays(tmp_path):
    camera = OnvifDevice(HIKVISION_CAMERA, HIKVISION_SCOPES)
    accounts = credentials_file(tmp_path, f"- service: onvif\n  username: {USER}\n  password: {PASSWORD}\n"
                                          f"  targets: [{HIKVISION_CAMERA}]\n")
    recording = tmp_path / "scan.pcapng"
    before = os.umask(0o022)
    try:
        result = scan_devices(tmp_path, [camera], "--credentials", str(accounts), "--record", str(recording))
    finally:
        os.umask(before)
    assert result.returncode == 0, result.stderr
    sent = dict((name.decode(), value) for name, value in _TOKEN_PART.findall(camera.tokens[0]))
    assert set(sent) == {"Username", "Password", "Nonce"}
    recorded = recording.read_bytes()
    assert b"GetDeviceInformation" in recorded and b"<wsse:Username>" + b"X" * len(USER) in recorded
    assert not [value for value in sent.values() if value in recorded], "no part of the token is in the recording"
    assert recording.stat().st_mode & 0o777 == 0o600 and (tmp_path / "scan.db").stat().st_mode & 0o777 == 0o600

    isolated = ["unshare", "--net"] if shutil.which("unshare") else []
    replay = subprocess.run([*isolated, *CAMSCAN, "scan", HIKVISION_CAMERA, "--db", str(tmp_path / "replay.db"),
                             "--yes", "--replay", str(recording), "--credentials", str(accounts)],
                            capture_output=True, text=True, timeout=120)
    assert replay.returncode == 0, replay.stderr
    assert "DS-2CD2143G0-I20170101AAWR123" in stored_text(tmp_path / "replay.db"), "the signed request replays too"

    kept = tmp_path / "kept.pcapng"
    camera = OnvifDevice(HIKVISION_CAMERA, HIKVISION_SCOPES)
    result = scan_devices(tmp_path, [camera], "--credentials", str(accounts), "--record", str(kept),
                          "--record-credentials")
    assert result.returncode == 0, result.stderr
    assert USER.encode() in kept.read_bytes(), "--record-credentials keeps them"


def test_an_exchange_with_credentials_gets_its_own_connection_and_no_logged_tls_keys(tmp_path):
    """The transport: the recorder hears of the credential connection's local port before it
    opens (and of one whose reply holds secrets, such as a recorder's camera logins); over TLS
    those connections' keys never reach the key log (the anonymous one's do)."""
    from camscan_lab.certs import server_context
    from camscan.protocols import Exchange
    from camscan.protocols.http import build_get, credential_spans, response_complete

    async def scenario(tls: bool):
        connections: list[int] = []

        async def camera(request: web.Request) -> web.Response:
            connections.append(request.transport.get_extra_info("peername")[1])
            return web.Response(text="ok", headers={"Connection": "keep-alive"})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", camera)
        runner = web.AppRunner(app)
        await runner.setup()
        context = server_context("credentials-test", {"subject": {"CN": "camera"}}) if tls else None
        await web.TCPSite(runner, CAMERA, 8443, ssl_context=context).start()
        told: list[tuple] = []
        keylog = tmp_path / f"keylog-{tls}"
        keylog.touch()
        transport = LiveTransport(Scope([CAMERA]), 1000, 8, 2.0, keylog=keylog,
                                  conceal=lambda *named: told.append(named))
        host = f"{CAMERA}:8443"
        login = build_get(host, "/", "Basic aW52ZW50b3J5OnB3")

        def flow():
            yield Exchange(build_get(host, "/").replace(b"Connection: close", b"Connection: keep-alive"),
                           response_complete)
            yield Exchange(login, response_complete, credentials=credential_spans(login))
            yield Exchange(build_get(host, "/remote"), response_complete, secret_reply=True)
            return []

        try:
            await transport.run_flow(CAMERA, 8443, flow(), tls=tls)
        finally:
            await runner.cleanup()
        return connections, told, keylog.read_text()

    connections, told, keys = asyncio.run(scenario(tls=False))
    assert len(set(connections)) == 3, "the login and the secret reply did not reuse the anonymous connection"
    spans = credential_spans(build_get(f"{CAMERA}:8443", "/", "Basic aW52ZW50b3J5OnB3"))
    assert told == [(connections[1], CAMERA, 8443, spans, False), (connections[2], CAMERA, 8443, (), True)]
    connections, told, keys = asyncio.run(scenario(tls=True))
    randoms = {line.split()[1] for line in keys.splitlines() if line.strip() and not line.startswith("#")}
    assert len(set(connections)) == 3 and told == []
    assert len(randoms) == 1, "only the anonymous connection's keys are logged"
