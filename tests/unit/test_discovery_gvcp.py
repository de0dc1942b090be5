"""GigE Vision discovery (GVCP): the command camscan sends and the acknowledge it reads.

Acknowledges are built here from the layout Wireshark's packet-gvcp.c documents (bootstrap
register offsets), apart from camscan's parser and the lab's responder.
"""

from __future__ import annotations

import random
import struct

import pytest

from camscan.fingerprint.identify import Identifier
from camscan.probes.discovery_probes import discovery_probes
from camscan.protocols import ProtocolError, gvcp
from camscan.registry import DISCOVERY_BY_PORT

CAMERA = "198.18.0.40"


def acknowledge(request_id: int = 0x1234, status: int = 0, answer: int = 0x0003, mode: int = 0x80000001,
                **strings: str) -> bytes:
    payload = bytearray(248)
    struct.pack_into("!HHI", payload, 0, 1, 2, mode)
    payload[10:16] = bytes.fromhex("0030532a0b0c")
    payload[36:40] = bytes([198, 18, 0, 40])
    offsets = {"manufacturer": 0x48, "model": 0x68, "version": 0x88, "info": 0xA8, "serial": 0xD8, "name": 0xE8}
    for key, text in strings.items():
        payload[offsets[key]:offsets[key] + len(text)] = text.encode()
    return struct.pack("!HHHH", status, answer, 248, request_id) + bytes(payload)


def test_discovery_command_asks_for_an_acknowledge_with_a_request_id():
    assert gvcp.build_discovery(0x1234) == bytes.fromhex("4201000200001234")
    with pytest.raises(ValueError):
        gvcp.build_discovery(0)


def test_a_scan_sends_one_command_with_a_non_zero_request_id():
    for seed in range(50):
        probe = next(p for p in discovery_probes(seed=seed) if p.name == "gvcp")
        (request,) = probe.requests
        assert request[:6] == bytes.fromhex("420100020000") and request[6:] != b"\x00\x00"
        assert (probe.port, probe.group, probe.listens_on_port) == (3956, None, False)


def test_acknowledge_fields():
    data = acknowledge(manufacturer="Basler", model="acA1920-40gc", version="106756-10", serial="21234567",
                       name="line-3")
    found = {seen.field: seen.value for seen in gvcp.parse_discovery_ack(data, CAMERA, 3956, 5.0)}
    assert found == {
        "gvcp.spec_version": "1.2", "gvcp.device_class": "transmitter", "gvcp.mac": "00:30:53:2a:0b:0c",
        "gvcp.ipv4": "198.18.0.40", "gvcp.manufacturer": "Basler", "gvcp.model": "acA1920-40gc",
        "gvcp.version": "106756-10", "gvcp.serial": "21234567", "gvcp.user_name": "line-3",
    }


def test_device_class_bits_and_blank_registers():
    data = acknowledge(mode=0x30000000)  # peripheral, nothing else filled in but MAC and address
    found = {seen.field: seen.value for seen in gvcp.parse_discovery_ack(data, CAMERA)}
    assert found["gvcp.device_class"] == "peripheral"
    assert "gvcp.model" not in found and "gvcp.manufacturer" not in found


def test_unprintable_register_bytes_are_blanked():
    found = {seen.field: seen.value for seen in gvcp.parse_discovery_ack(
        acknowledge(model="cam\x1b[2J01"), CAMERA)}
    assert found["gvcp.model"] == "cam [2J01"


@pytest.mark.parametrize("data", [
    acknowledge()[:100],                      # cut short
    acknowledge(status=0x8001),               # not implemented
    acknowledge(answer=0x0081),               # a READREG_ACK
    gvcp.build_discovery(7),                  # a command overheard, no acknowledge
    random.Random(3).randbytes(256),
])
def test_anything_but_a_successful_acknowledge_is_refused(data):
    with pytest.raises(ProtocolError):
        gvcp.parse_discovery_ack(data, CAMERA)


def test_passive_analysis_and_identification_read_it_through_the_registry():
    assert DISCOVERY_BY_PORT[3956] is gvcp.SPEC
    said = gvcp.parse_discovery_ack(acknowledge(manufacturer="Basler", model="acA1920-40gc"), CAMERA)
    identified = Identifier().identify(said)
    assert (identified.manufacturer, identified.model, identified.device_type) == ("basler", "acA1920-40gc",
                                                                                   "ip-camera")
