"""Bosch discovery (UDP 1757, replies to 1758): the scan request, both reply forms, hostile datagrams."""

import struct

import pytest

from camscan.fingerprint.identify import Identifier
from camscan.protocols import ProtocolError, bosch

DEVICE = "198.18.0.50"

# The XML record of UniversalScanner's Bosch.xml.selftest, its address moved to the lab range.
XML_REPLY = (
    b'<?xml version="1.0" encoding="UTF-8"?><root xmlns="OEMExt00:device-1-0"><device>'
    b"<deviceType>OEMExt00:device:deviceID0</deviceType><App>1</App><friendlyName>Virtual (XML)</friendlyName>"
    b"<unitName></unitName><deviceGUID>0123456789000000000000000000000000000000000000000000000000000000</deviceGUID>"
    b"<serialNumber>12345678:12345678</serialNumber><physAddress>00-11-22-33-44-55</physAddress>"
    b"<sessionKey>0000000000000001</sessionKey><unitIPAddress>198.18.0.50</unitIPAddress>"
    b"<unitSubnetMask>255.0.0.0</unitSubnetMask><unitGatewayIp></unitGatewayIp><RCPPort>1756</RCPPort>"
    b"<HTTPPort>80</HTTPPort><HTTPSPort>443</HTTPSPort></device></root>"
)


def test_the_scan_request_is_magic_transaction_and_request_code():
    assert bosch.build_scan(0x01020304) == bytes.fromhex("9939a427" "01020304" "ff0006de")
    assert bosch.parse_reply(bosch.build_scan(7), DEVICE) == []
    with pytest.raises(ValueError):
        bosch.build_scan(-1)


def test_an_xml_reply_gives_name_serial_mac_address_and_port_and_names_bosch():
    found = bosch.parse_reply(XML_REPLY, DEVICE, 1757, 3.0)
    assert {seen.field: seen.value for seen in found} == {
        "bosch.friendly_name": "Virtual (XML)", "bosch.serial": "12345678:12345678", "bosch.mac": "00:11:22:33:44:55",
        "bosch.ipv4": DEVICE, "bosch.http_port": "80",
    }
    assert Identifier().identify(found).manufacturer == "bosch"


def test_a_binary_reply_gives_mac_and_address():
    reply = struct.pack("!II6s2xIII4x", 0x9939A427, 7, bytes.fromhex("00075f8a0102"), 0xC6120032, 0xFFFFFF00, 0)
    found = bosch.parse_reply(reply, DEVICE)
    assert [(seen.field, seen.value) for seen in found] == [("bosch.mac", "00:07:5f:8a:01:02"), ("bosch.ipv4", DEVICE)]


@pytest.mark.parametrize("data", [
    b"", b"\x99\x39\xa4\x27", bytes(32), bytes(12), b"<root><other/></root>", b"<device>", b"<!DOCTYPE x><x/>",
])
def test_what_is_not_a_bosch_reply_is_a_protocol_error(data):
    with pytest.raises(ProtocolError):
        bosch.parse_reply(data, DEVICE)
