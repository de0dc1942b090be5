"""The lab's recorders served on loopback: Digest and the channel APIs through the real HTTP server.

Each recorder's web port is moved to a high port on its own 127.x address (no root needed);
httpx, an independent Digest client, does the asking.
"""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from camscan_lab import LoopbackLab
from camscan_lab.recorders import recorder_lab

HTTP_PORT = 18015


@pytest.fixture(scope="module")
def http():
    """A client that ignores any proxy settings of the environment: requests go straight to 127.x."""
    with httpx.Client(trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def recorders():
    hosts = [host for host in recorder_lab("198.18.72.0/24") if host.truth.get("channels")]
    served = [dataclasses.replace(host, ip=f"127.77.15.{index + 2}", services={HTTP_PORT: host.services[80]})
              for index, host in enumerate(hosts)]
    with LoopbackLab(served) as running:
        yield {host.profile: host for host in running}


def url(host, path: str) -> str:
    return f"http://{host.ip}:{HTTP_PORT}{path}"


def first_account(host) -> httpx.DigestAuth:
    [route] = [r["recorder"] for r in host.services[HTTP_PORT]["routes"].values() if "recorder" in r]
    return httpx.DigestAuth(route["accounts"][0]["username"], route["accounts"][0]["password"])


def test_isapi_over_http_with_digest(recorders, http):
    host = recorders["rec-hikvision-poe-nvr"]
    path = "/ISAPI/ContentMgmt/InputProxy/channels/status"
    refused = http.get(url(host, path))
    assert refused.status_code == 401 and refused.headers["server"] == "DNVRS-Webs"
    answered = http.get(url(host, path), auth=first_account(host))
    assert answered.status_code == 200 and answered.headers["content-type"].startswith("application/xml")
    assert answered.text.count("<InputProxyChannelStatus ") == len(host.truth["channels"])
    assert http.head(url(host, path), auth=first_account(host)).content == b""


def test_dahua_api_over_http_with_digest_keeps_the_query(recorders, http):
    host = recorders["rec-lorex-poe-nvr"]
    path = "/cgi-bin/configManager.cgi?action=getConfig&name=ChannelTitle"
    assert http.get(url(host, path)).status_code == 401
    answered = http.get(url(host, path), auth=first_account(host))
    assert answered.status_code == 200
    assert answered.text == "".join(f"table.ChannelTitle[{c['number'] - 1}].Name={c['name']}\r\n"
                                    for c in host.truth["channels"])


def test_the_refusing_recorder_refuses_over_http(recorders, http):
    host = recorders["rec-refusing-dvr"]
    for path in ("/ISAPI/System/deviceInfo", "/ISAPI/System/Video/inputs/channels"):
        assert http.get(url(host, path), auth=httpx.DigestAuth("svc-chan-audit", "guess")).status_code == 401


def test_onvif_media_over_http(recorders, http):
    host = recorders["rec-onvif-nvr"]
    envelope = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
                'xmlns:trt="http://www.onvif.org/ver10/media/wsdl">'
                "<s:Body><trt:GetVideoSources/></s:Body></s:Envelope>")
    answered = http.post(url(host, "/onvif/Media"), content=envelope,
                          headers={"Content-Type": "application/soap+xml; charset=utf-8"})
    assert answered.status_code == 200
    assert answered.text.count("<trt:VideoSources ") == len(host.truth["channels"])
