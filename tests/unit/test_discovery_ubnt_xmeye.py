"""Ubiquiti discovery (UDP 10001) and Xiongmai search (UDP 34569) parsers, real-looking and hostile datagrams."""

import json
import struct

import pytest

from camscan.fingerprint.identify import Identifier
from camscan.protocols import ProtocolError, ubnt, xmeye

DEVICE = "198.18.0.30"


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def ubnt_reply(*tlvs: bytes, version: int = 1, command: int = 0) -> bytes:
    payload = b"".join(tlvs)
    return struct.pack("!BBH", version, command, len(payload)) + payload


# A UniFi G3 Flex's reply, TLVs as Wireshark's packet-ubdp.c names them; values from public
# sources (keshavdv/unifi-cam-proxy's firmware string, a G3 Flex's model name), address in the lab range.
UNIFI_CAMERA = ubnt_reply(
    tlv(0x02, bytes.fromhex("74acb9010203") + bytes([198, 18, 0, 30])),
    tlv(0x01, bytes.fromhex("74acb9010203")),
    tlv(0x0A, struct.pack("!I", 3600)),
    tlv(0x0B, b"G3 Flex"),
    tlv(0x0C, b"UVC G3 Flex"),
    tlv(0x03, b"UVC.S2L.v4.23.8.67.0eba6e3.200526.1046"),
    tlv(0x15, b"UVC G3 Flex"),
)


def test_a_unifi_camera_reply_gives_mac_address_hostname_model_and_firmware():
    found = {seen.field: seen.value for seen in ubnt.parse_reply(UNIFI_CAMERA, DEVICE, 10001, 2.0)}
    assert found == {
        "ubnt.mac": "74:ac:b9:01:02:03", "ubnt.ipv4": DEVICE, "ubnt.hostname": "G3 Flex",
        "ubnt.product": "UVC G3 Flex", "ubnt.firmware": "UVC.S2L.v4.23.8.67.0eba6e3.200526.1046",
        "ubnt.model": "UVC G3 Flex",
    }
    identified = Identifier().identify(ubnt.parse_reply(UNIFI_CAMERA, DEVICE, 10001))
    assert (identified.manufacturer, identified.device_type, identified.model, identified.firmware) == (
        "ubiquiti", "ip-camera", "UVC G3 Flex", "4.23.8.67")


def test_a_version_2_announcement_is_read_too_and_requests_say_nothing():
    found = ubnt.parse_reply(ubnt_reply(tlv(0x03, b"UCK.mtk7623.v0.12.0.29a26c9.181001.1444"), version=2, command=6),
                             DEVICE)
    firmware = "UCK.mtk7623.v0.12.0.29a26c9.181001.1444"
    assert [(seen.field, seen.value) for seen in found] == [("ubnt.firmware", firmware)]
    assert ubnt.parse_reply(ubnt.build_request(), DEVICE) == []
    assert ubnt.build_request() == b"\x01\x00\x00\x00"


@pytest.mark.parametrize("data", [
    b"", b"\x01\x00", b"\x03\x00\x00\x00", ubnt_reply(tlv(0x0B, b"x"), command=7),
    ubnt_reply(tlv(0x0B, b"x")) + b"extra", ubnt_reply(tlv(0x0B, b"x"))[:-1],
    struct.pack("!BBH", 1, 0, 5) + struct.pack("!BH", 0x0B, 40) + b"ab",  # a TLV longer than the datagram
    struct.pack("!BBH", 1, 0, 2) + b"\x0b\x00",  # a TLV header cut short
])
def test_what_is_not_a_ubiquiti_reply_is_a_protocol_error(data):
    with pytest.raises(ProtocolError):
        ubnt.parse_reply(data, DEVICE)


def xm_reply(common: dict, message: int = xmeye.REPLY) -> bytes:
    body = json.dumps({"NetWork.NetCommon": common, "Ret": 100, "SessionID": "0x00000000"}).encode() + b"\n\x00"
    return struct.pack("<BBHIIHHI", 0xFF, 1, 0, 0, 0, 0, message, len(body)) + body


# The reply of a factory-reset camera quoted in a public Go "sofia" discovery package (MAC and
# addresses moved to the lab range: HostIP 0x1e0012c6 is 198.18.0.30 in little-endian order).
XM_CAMERA = xm_reply({
    "DeviceType": 43, "GateWay": "0x010012c6", "HostIP": "0x1e0012c6", "HostName": "IPC_6a6b", "HttpPort": 80,
    "MAC": "00:12:31:09:B7:9E", "MaxBps": 0, "MonMode": "TCP", "SN": "a5b23b431b14712e", "SSLPort": 8443,
    "Submask": "0x00feffff", "TCPMaxConn": 10, "TCPPort": 34567, "TransferPlan": "Quality", "UDPPort": 34568,
    "UseHSDownLoad": False, "Version": "V4.02.R12.E7335520.12012.047502.00000", "BuildDate": "2018-09-17 10:47:30",
})


def test_an_xmeye_reply_gives_serial_firmware_mac_address_and_ports():
    found = {seen.field: seen.value for seen in xmeye.parse_reply(XM_CAMERA, DEVICE, 34569, 1.0)}
    assert found == {
        "xmeye.hostname": "IPC_6a6b", "xmeye.serial": "a5b23b431b14712e",
        "xmeye.version": "V4.02.R12.E7335520.12012.047502.00000", "xmeye.mac": "00:12:31:09:b7:9e",
        "xmeye.ipv4": DEVICE, "xmeye.tcp_port": "34567", "xmeye.http_port": "80",
    }
    identified = Identifier().identify(xmeye.parse_reply(XM_CAMERA, DEVICE, 34569))
    assert identified.manufacturer == "xiongmai" and identified.firmware.startswith("V4.02.R12")


def test_the_search_is_a_bare_header_with_message_1530_and_says_nothing():
    search = xmeye.build_search()
    assert len(search) == 20 and search[0] == 0xFF and struct.unpack_from("<H", search, 14) == (1530,)
    assert xmeye.parse_reply(search, DEVICE) == []


def test_odd_values_are_dropped_not_trusted():
    found = xmeye.parse_reply(xm_reply({"SN": " ", "MAC": "not a mac", "HostIP": "198.18.0.30", "TCPPort": 70000,
                                        "HttpPort": True, "HostName": ["x"]}), DEVICE)
    assert found == []


@pytest.mark.parametrize("data", [
    b"", b"\xff" * 19, b"\xfe" + bytes(19), xm_reply({}, message=1532), xm_reply({"SN": "x"})[:-5],
    struct.pack("<BBHIIHHI", 0xFF, 1, 0, 0, 0, 0, 1531, 5) + b"{nope",
    struct.pack("<BBHIIHHI", 0xFF, 1, 0, 0, 0, 0, 1531, 2) + b"[]",
])
def test_what_is_not_an_xmeye_reply_is_a_protocol_error(data):
    with pytest.raises(ProtocolError):
        xmeye.parse_reply(data, DEVICE)
