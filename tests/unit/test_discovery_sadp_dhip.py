"""SADP (Hikvision) and DHIP (Dahua) discovery parsers on real-looking datagrams, and hostile ones."""

import json
import random
import struct
import uuid
import xml.etree.ElementTree as ElementTree

import pytest

from camscan.protocols import ProtocolError, dhip, sadp

PROBE_UUID = "1f9b2a6c-4e1d-4f5a-9c3e-7a2b5d8e0c11"

# Element set and order of a ProbeMatch captured from a DS-2CD2385G1-I (firmware V5.6.2) and quoted
# in Haicam/Haicam's Go discovery code; addresses moved to the lab range, serial/MAC/salt altered.
# Note the numeric DeviceType, the hyphenated MAC and the firmware's own "flase" typos.
SADP_CAMERA = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<ProbeMatch>\n"
    b"<Uuid>1F9B2A6C-4E1D-4F5A-9C3E-7A2B5D8E0C11</Uuid>\n"
    b"<Types>inquiry</Types>\n"
    b"<DeviceType>141945</DeviceType>\n"
    b"<DeviceDescription>DS-2CD2385G1-I</DeviceDescription>\n"
    b"<DeviceSN>DS-2CD2385G1-I20200414AAWRE12345678</DeviceSN>\n"
    b"<CommandPort>8000</CommandPort>\n"
    b"<HttpPort>80</HttpPort>\n"
    b"<MAC>58-50-ed-1f-00-10</MAC>\n"
    b"<IPv4Address>198.18.0.10</IPv4Address>\n"
    b"<IPv4SubnetMask>255.254.0.0</IPv4SubnetMask>\n"
    b"<IPv4Gateway>198.18.0.1</IPv4Gateway>\n"
    b"<IPv6Address>::</IPv6Address>\n"
    b"<IPv6Gateway>::</IPv6Gateway>\n"
    b"<IPv6MaskLen>64</IPv6MaskLen>\n"
    b"<DHCP>false</DHCP>\n"
    b"<AnalogChannelNum>0</AnalogChannelNum>\n"
    b"<DigitalChannelNum>1</DigitalChannelNum>\n"
    b"<SoftwareVersion>V5.6.2build 190701</SoftwareVersion>\n"
    b"<DSPVersion>V7.3 build 190626</DSPVersion>\n"
    b"<BootTime>1970-01-15 02:44:11</BootTime>\n"
    b"<Encrypt>true</Encrypt>\n"
    b"<ResetAbility>false</ResetAbility>\n"
    b"<DiskNumber>0</DiskNumber>\n"
    b"<Activated>true</Activated>\n"
    b"<PasswordResetAbility>true</PasswordResetAbility>\n"
    b"<PasswordResetModeSecond>true</PasswordResetModeSecond>\n"
    b"<SupportHCPlatform>true</SupportHCPlatform>\n"
    b"<HCPlatformEnable>flase</HCPlatformEnable>\n"
    b"<Salt>0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0</Salt>\n"
    b"<DeviceLock>flase</DeviceLock>\n"
    b"<SDKOverTLSPort>8443</SDKOverTLSPort>\n"
    b"</ProbeMatch>\n"
)
# Same element names (cameronnewman/hikvision-tooling internal/sadp/scanner.go lists them) for a
# factory-fresh recorder: Activated=false is the case an inventory must surface. 192.168.1.64 is the
# address Hikvision units report before activation: reply payload only, never a target.
SADP_NVR_NOT_ACTIVATED = (
    b'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>1F9B2A6C-4E1D-4F5A-9C3E-7A2B5D8E0C11</Uuid>'
    b"<Types>inquiry</Types><DeviceType>2</DeviceType><DeviceDescription>DS-7608NI-K2</DeviceDescription>"
    b"<DeviceSN>DS-7608NI-K20210305CCRRF12345678WCVU</DeviceSN><CommandPort>8000</CommandPort>"
    b"<HttpPort>80</HttpPort><MAC>BC-AD-28-00-00-20</MAC><IPv4Address>192.168.1.64</IPv4Address>"
    b"<DHCP>false</DHCP><SoftwareVersion>V4.30.085build 200922</SoftwareVersion>"
    b"<DSPVersion>V1.0 build 200901</DSPVersion><Activated>false</Activated></ProbeMatch>\x00"
)


def dhip_frame(body: bytes, request_id: int = 0, length: int | None = None, total: int | None = None,
               magic: bytes = b"\x20\x00\x00\x00DHIP") -> bytes:
    """A DHIP header as mcw0/DahuaConsole net.py and julienblitte/UniversalScanner Dahua2.cs lay it out:
    magic, session id, request id, body length (u64 LE), total length (u64 LE)."""
    length = len(body) if length is None else length
    total = length if total is None else total
    return magic + struct.pack("<IIQQ", 0, request_id, length, total) + body


# JSON of a client.notifyDevInfo captured from an IPC-HDW1431T1-S4 and quoted in Haicam/Haicam's Go
# discovery code (serial, MAC and addresses altered); the device ends it with "\n\0" and counts
# both bytes in the header lengths (the same capture shows the header: ef 02 00 00 twice).
DAHUA_IPC_JSON = (
    b'{"mac":"08:ed:ed:00:00:30","method":"client.notifyDevInfo","params":{"deviceInfo":{'
    b'"AlarmInputChannels":0,"AlarmOutputChannels":0,"DeviceClass":"IPC","DeviceID":"",'
    b'"DeviceType":"IPC-HDW1431T1-S4","Find":"BC","FindVersion":1,"HttpPort":80,'
    b'"IPv4Address":{"DefaultGateway":"198.18.0.1","DhcpEnable":true,"IPAddress":"198.18.0.30",'
    b'"SubnetMask":"255.254.0.0"},"IPv6Address":{"DefaultGateway":null,"DhcpEnable":false,'
    b'"IPAddress":"\\/0","LinkLocalAddress":"fe80::0aed:edff:fe00:0030\\/64"},"Init":2714,'
    b'"MachineName":"6C01E93PAG00030","Manufacturer":"Private","Port":37777,'
    b'"RemoteVideoInputChannels":0,"SerialNo":"6C01E93PAG00030","UnLoginFuncMask":1,'
    b'"Vendor":"Private","Version":"2.800.0000000.13.R","VideoInputChannels":1,"VideoOutputChannels":0}}}\n\x00'
)
DAHUA_IPC = dhip_frame(DAHUA_IPC_JSON)
# An Intelbras (Dahua OEM) recorder, modelled on the reply quoted in a public UDP 37810 amplification
# write-up: string HttpPort 1101 is a non-default web port, MachineName is user-set.
DAHUA_OEM_DVR = dhip_frame(
    b'{"mac":"58:10:8c:00:00:40","method":"client.notifyDevInfo","params":{"deviceInfo":{'
    b'"DeviceClass":"MHDX","DeviceType":"MHDX 1016","HttpPort":"1101","IPv4Address":{"IPAddress":"198.18.0.40"},'
    b'"MachineName":"RECEPCAO","Manufacturer":"Intelbras","Port":1102,"SerialNo":"O9RF2200000040",'
    b'"Vendor":"Intelbras","Version":"3.210.IB01.3","VideoInputChannels":16}}}'
)


def fields(found):
    return {seen.field: seen.value for seen in found}


# --- SADP -----------------------------------------------------------------------------------------

def test_sadp_inquiry_is_the_xml_sadptool_sends():
    inquiry = sadp.build_inquiry(PROBE_UUID)
    assert inquiry == (
        b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>1F9B2A6C-4E1D-4F5A-9C3E-7A2B5D8E0C11</Uuid>'
        b"<Types>inquiry</Types></Probe>"
    )
    root = ElementTree.fromstring(inquiry)
    assert (root.tag, root.findtext("Types")) == ("Probe", "inquiry")
    assert sadp.build_inquiry(str(uuid.uuid4()))  # any UUID will do


@pytest.mark.parametrize("bad", ["", "not-a-uuid", "</Uuid><Types>reset</Types><Uuid>", None])
def test_sadp_inquiry_refuses_anything_but_a_uuid(bad):
    with pytest.raises(ValueError):
        sadp.build_inquiry(bad)


def test_sadp_probe_match_observations():
    found = sadp.parse_probe_match(SADP_CAMERA, "198.18.0.10", port=37020, at=12.5)
    assert fields(found) == {
        "sadp.device_type": "141945",
        "sadp.description": "DS-2CD2385G1-I",
        "sadp.serial": "DS-2CD2385G1-I20200414AAWRE12345678",
        "sadp.mac": "58:50:ed:1f:00:10",
        "sadp.ipv4": "198.18.0.10",
        "sadp.software_version": "V5.6.2build 190701",
        "sadp.dsp_version": "V7.3 build 190626",
        "sadp.activated": "true",
        "sadp.http_port": "80",
        "sadp.command_port": "8000",
    }
    assert len(found) == 10
    assert all(
        (seen.ip, seen.source, seen.port, seen.transport, seen.observed_at)
        == ("198.18.0.10", "sadp", 37020, "udp", 12.5)
        for seen in found
    )


def test_sadp_not_activated_recorder_and_trailing_nul():
    found = fields(sadp.parse_probe_match(SADP_NVR_NOT_ACTIVATED, "198.18.0.64"))
    assert found["sadp.activated"] == "false"
    assert found["sadp.mac"] == "bc:ad:28:00:00:20"
    assert found["sadp.description"] == "DS-7608NI-K2"


def test_sadp_tolerates_namespace_and_skips_unusable_values():
    reply = (
        b'<ProbeMatch xmlns="http://www.hikvision.com/ver20/XMLSchema"><DeviceSN>DS-2CD1023G0-I2021X</DeviceSN>'
        b"<MAC>not-a-mac</MAC><HttpPort>99999</HttpPort><CommandPort>eight</CommandPort><DSPVersion>  </DSPVersion>"
        b"</ProbeMatch>"
    )
    assert fields(sadp.parse_probe_match(reply, "198.18.0.11")) == {"sadp.serial": "DS-2CD1023G0-I2021X"}


def test_sadp_probe_echo_is_not_a_device():
    assert sadp.parse_probe_match(sadp.build_inquiry(PROBE_UUID), "198.18.0.2") == []


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE ProbeMatch [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    b'<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><ProbeMatch><DeviceSN>&d;</DeviceSN></ProbeMatch>'
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<ProbeMatch><DeviceSN>&x;</DeviceSN></ProbeMatch>"
)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00\x00\x00",
        SADP_CAMERA[: len(SADP_CAMERA) // 2],  # truncated mid-document
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        b"<!doctype ProbeMatch><ProbeMatch><MAC>58-50-ed-1f-00-10</MAC></ProbeMatch>",
        b"<html><title>NVR</title></html>",  # well-formed, wrong document
        b"<ProbeMatch><Uuid>x</Uuid><Types>inquiry</Types></ProbeMatch>",  # nothing identifying
        b"<ProbeMatch><DeviceSN>a</DeviceSN></ProbeMatch><ProbeMatch/>",  # two roots
        b"HTTP/1.1 200 OK\r\n\r\n",
        DAHUA_IPC,  # the other vendor's bytes on the wrong parser
        b"\xff\xfe<\x00P\x00",
        b"<" * 70000,  # larger than a datagram
    ],
)
def test_sadp_malformed_or_hostile_input_raises_protocol_error(garbage):
    with pytest.raises(ProtocolError):
        sadp.parse_probe_match(garbage, "198.18.0.10")


# --- DHIP -----------------------------------------------------------------------------------------

def test_dhip_search_frame():
    frame = dhip.build_search(7)
    assert frame[:8] == b"\x20\x00\x00\x00DHIP"  # the bytes, not 0x44484950 packed little endian ("PIHD")
    session, request, length, total = struct.unpack_from("<IIQQ", frame, 8)
    body = frame[32:]
    assert (session, request, length, total) == (0, 7, len(body), len(body))
    assert json.loads(body) == {"method": "DHDiscover.search", "params": {"mac": "", "uni": 1}, "id": 7}


@pytest.mark.parametrize("bad", [-1, 2**32, "1", True, 1.0])
def test_dhip_search_refuses_bad_request_id(bad):
    with pytest.raises(ValueError):
        dhip.build_search(bad)


def test_dhip_reply_observations():
    found = dhip.parse_reply(DAHUA_IPC, "198.18.0.30", port=37810, at=3.0)
    assert fields(found) == {
        "dhip.device_type": "IPC-HDW1431T1-S4",
        "dhip.device_class": "IPC",
        "dhip.serial": "6C01E93PAG00030",
        "dhip.version": "2.800.0000000.13.R",
        "dhip.vendor": "Private",
        "dhip.machine_name": "6C01E93PAG00030",
        "dhip.mac": "08:ed:ed:00:00:30",
        "dhip.ipv4": "198.18.0.30",
        "dhip.http_port": "80",
        "dhip.video_inputs": "1",
    }
    assert all(
        (seen.ip, seen.source, seen.port, seen.transport, seen.observed_at)
        == ("198.18.0.30", "dhip", 37810, "udp", 3.0)
        for seen in found
    )


def test_dhip_oem_reply_with_string_port():
    found = fields(dhip.parse_reply(DAHUA_OEM_DVR, "198.18.0.40"))
    assert (found["dhip.vendor"], found["dhip.device_class"], found["dhip.http_port"]) == ("Intelbras", "MHDX", "1101")
    assert found["dhip.mac"] == "58:10:8c:00:00:40"


def test_dhip_tolerates_nul_padding_after_the_body():
    assert fields(dhip.parse_reply(DAHUA_IPC + b"\x00" * 16, "198.18.0.30"))["dhip.serial"] == "6C01E93PAG00030"


def test_dhip_mac_inside_device_info_and_odd_values_skipped():
    body = json.dumps({"method": "client.notifyDevInfo", "params": {"deviceInfo": {
        "DeviceType": "DH-XVR5108HS", "mac": "4C-11-BF-00-00-50", "HttpPort": True, "Vendor": "",
        "SerialNo": {"nested": 1}, "IPv4Address": "198.18.0.50"}}}).encode()
    assert fields(dhip.parse_reply(dhip_frame(body), "198.18.0.50")) == {
        "dhip.device_type": "DH-XVR5108HS",
        "dhip.mac": "4c:11:bf:00:00:50",
    }


def test_dhip_search_echo_is_not_a_device():
    assert dhip.parse_reply(dhip.build_search(1), "198.18.0.2") == []


GOOD_BODY = DAHUA_IPC_JSON


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        DAHUA_IPC[:31],  # shorter than the header
        DAHUA_IPC[:200],  # truncated: header claims more body than arrived
        dhip_frame(GOOD_BODY, magic=b"\x20\x00\x00\x00PIHD"),  # magic packed the wrong way round
        dhip_frame(GOOD_BODY, magic=b"\x21\x00\x00\x00DHIP"),
        b"\xb3\x00\x00\x68" + b"\x00" * 28 + GOOD_BODY,  # a DVRIP header, not DHIP
        dhip_frame(GOOD_BODY, length=len(GOOD_BODY) + 1),  # length lies by one
        dhip_frame(GOOD_BODY, length=2**63),  # length lies absurdly
        dhip_frame(GOOD_BODY, total=len(GOOD_BODY) * 2),  # a fragment of a longer message
        dhip_frame(GOOD_BODY, length=40),  # header says less than was sent
        dhip_frame(b'{"method":"client.notifyDevInfo",'),  # bad JSON
        dhip_frame(b"\x00\x00\x00\x00"),  # empty body
        dhip_frame(b"[1, 2, 3]"),
        dhip_frame(b"[" * 100000 + b"]" * 100000),  # nesting deep enough to exhaust a recursive parser
        dhip_frame(b'{"method":"configManager.getConfig","params":{}}'),
        dhip_frame(b'{"method":"client.notifyDevInfo","params":{"deviceInfo":"IPC"}}'),
        dhip_frame(b'{"method":"client.notifyDevInfo"}'),
        SADP_CAMERA,
        b"\xff" * 300,
    ],
)
def test_dhip_malformed_or_hostile_input_raises_protocol_error(garbage):
    with pytest.raises(ProtocolError):
        dhip.parse_reply(garbage, "198.18.0.30")


# --- both: no input crashes a parser ----------------------------------------------------------------

@pytest.mark.parametrize("parse, sample", [(sadp.parse_probe_match, SADP_CAMERA), (dhip.parse_reply, DAHUA_IPC)])
def test_truncations_and_mutations_never_crash(parse, sample):
    rng = random.Random(37020)
    candidates = [sample[:cut] for cut in range(0, len(sample), 7)]
    for _ in range(300):
        mutated = bytearray(sample)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        candidates.append(bytes(mutated))
    candidates += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 600))) for _ in range(200)]
    for candidate in candidates:
        try:
            found = parse(candidate, "198.18.0.99")
        except ProtocolError:
            continue
        assert isinstance(found, list)
