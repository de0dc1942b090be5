"""The lab's exposure behaviour: per-path RTSP answers and the JPEG it serves."""

from __future__ import annotations

import pytest

from camscan_lab.exposure import stream_state, tiny_jpeg
from camscan_lab.profiles import LabHost
from camscan_lab.servers import http_response, rtsp_reply
from camscan.protocols.message import parse_response

HOST = LabHost(ip="198.18.70.2", mac="44:19:b6:00:00:02", profile="t", services={}, truth={}, serial="E5LAB0000000001")


def test_tiny_jpeg_has_the_markers_of_a_baseline_jpeg():
    image = tiny_jpeg()
    assert image[:2] == b"\xff\xd8" and image[-2:] == b"\xff\xd9"
    for marker in (b"\xff\xe0", b"\xff\xdb", b"\xff\xc0", b"\xff\xc4", b"\xff\xda"):
        assert marker in image
    frame = image.index(b"\xff\xc0")
    assert image[frame + 5 : frame + 9] == b"\x00\x08\x00\x08"  # 8 x 8 pixels


def test_streams_answer_per_path():
    spec = {"kind": "rtsp", "auth": 'Basic realm="x"', "streams": {"/live": "open"}, "stream_default": "auth"}
    assert stream_state(spec, "rtsp://198.18.70.2:554/live") == "open"
    assert stream_state(spec, "rtsp://198.18.70.2:554/other") == "auth"
    assert stream_state({"kind": "rtsp"}, "rtsp://198.18.70.2:554/") is None
    assert parse_response(rtsp_reply("DESCRIBE", "rtsp://198.18.70.2/live", "2", spec, HOST)).status == 200
    assert parse_response(rtsp_reply("DESCRIBE", "rtsp://198.18.70.2/x", "3", spec, HOST)).status == 401
    with pytest.raises(ValueError):
        stream_state({"streams": {"/a": "maybe"}, "stream_default": "maybe"}, "rtsp://h/b")


def test_image_route_serves_jpeg():
    response = parse_response(http_response({"kind": "http"}, {"status": 200, "image": "jpeg"}, HOST))
    assert response.header("content-type") == "image/jpeg" and response.body == tiny_jpeg()
