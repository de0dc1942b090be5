"""SNMPv2c GET building and GetResponse parsing (checked against scapy's independent SNMP
layer), the IANA enterprise registry copy, and sysObjectID resolution to a maker."""

import re

import pytest
from scapy.asn1.asn1 import ASN1_NULL, ASN1_OID, ASN1_STRING
from scapy.layers.snmp import SNMP, SNMPget, SNMPresponse, SNMPvarbind

from camscan.fingerprint.enterprises import enterprise_number, enterprise_organisation, registry
from camscan.fingerprint.identify import Identifier
from camscan.fingerprint.signatures import default_rules
from camscan.model import Observation
from camscan.protocols import ProtocolError, snmp

CAMERA = "198.18.0.20"


def response(bindings, community=b"public", error=0, version=1) -> bytes:
    return bytes(SNMP(version=version, community=community, PDU=SNMPresponse(id=77, error=error, varbindlist=[
        SNMPvarbind(oid=ASN1_OID(oid), value=value) for oid, value in bindings])))


def test_the_get_request_is_v2c_with_the_three_system_objects_and_the_request_id():
    request = SNMP(snmp.build_get("public", snmp.SYSTEM_OIDS, 4242))
    assert request.version.val == 1 and request.community.val == b"public"
    assert isinstance(request.PDU, SNMPget) and request.PDU.id.val == 4242
    assert [binding.oid.val for binding in request.PDU.varbindlist] == list(snmp.SYSTEM_OIDS)
    assert all(isinstance(binding.value, ASN1_NULL) for binding in request.PDU.varbindlist)


@pytest.mark.parametrize("request_id", [-1, 2**31, True, "1"])
def test_a_request_id_outside_int32_is_refused(request_id):
    with pytest.raises(ValueError):
        snmp.build_get("public", snmp.SYSTEM_OIDS, request_id)


def test_a_response_gives_sys_descr_object_id_and_name():
    found = snmp.parse_response(response([
        ("1.3.6.1.2.1.1.1.0", ASN1_STRING(b"Canon Network Camera VB-C60")),
        ("1.3.6.1.2.1.1.2.0", ASN1_OID("1.3.6.1.4.1.1602.4.7")),
        ("1.3.6.1.2.1.1.5.0", ASN1_STRING(b"lobby-cam\x00")),
    ]), CAMERA, 161, 5.0)
    assert {(seen.field, seen.value) for seen in found} == {
        ("snmp.sys_descr", "Canon Network Camera VB-C60"),
        ("snmp.sys_object_id", "1.3.6.1.4.1.1602.4.7"),
        ("snmp.sys_name", "lobby-cam"),
    }
    assert {(seen.source, seen.port, seen.transport, seen.observed_at) for seen in found} == {("snmp", 161, "udp", 5.0)}


def test_objects_the_agent_lacks_and_refusals_yield_nothing():
    # sysName bound to noSuchObject, [0] IMPLICIT NULL (RFC 3416 §3), written out byte by byte.
    binding = bytes.fromhex("300c" "06082b06010201010500" "8000")
    pdu = bytes.fromhex("020101" "020100" "020100") + bytes([0x30, len(binding)]) + binding
    message = bytes.fromhex("020101" "04067075626c6963") + bytes([0xA2, len(pdu)]) + pdu
    assert snmp.parse_response(bytes([0x30, len(message)]) + message, CAMERA) == []
    assert snmp.parse_response(response([("1.3.6.1.2.1.1.1.0", ASN1_STRING(b"x"))], error=2), CAMERA) == []
    assert snmp.parse_response(snmp.build_get("public", snmp.SYSTEM_OIDS, 1), CAMERA) == [], "our own request"
    other = response([("1.3.6.1.2.1.1.3.0", ASN1_STRING(b"uptime as text"))])
    assert snmp.parse_response(other, CAMERA) == [], "objects camscan did not ask for are ignored"


@pytest.mark.parametrize("data", [
    b"", b"\x30", b"\x30\x03\x02\x01\x01", b"GET / HTTP/1.1\r\n\r\n", b"\x30\x84\xff\xff\xff\xff",
    response([("1.3.6.1.2.1.1.1.0", ASN1_STRING(b"x"))], version=0),
    response([("1.3.6.1.2.1.1.1.0", ASN1_STRING(b"x"))]) + b"trailing",
])
def test_what_is_not_a_v2c_message_is_a_protocol_error(data):
    with pytest.raises(ProtocolError):
        snmp.parse_response(data, CAMERA)


def test_a_concealed_community_leaves_a_valid_message_without_it():
    request = snmp.build_get("s3cret", snmp.SYSTEM_OIDS, 1)
    secret, blanked = snmp.concealed_community("s3cret")
    assert request.count(secret) == 1 and len(blanked) == len(secret)
    kept = SNMP(request.replace(secret, blanked))
    assert kept.community.val == b"XXXXXX" and [b.oid.val for b in kept.PDU.varbindlist] == list(snmp.SYSTEM_OIDS)


def test_the_registry_copy_holds_the_whole_registry():
    numbers = registry()
    assert len(numbers) > 59000 and numbers[1] == "NxNetworks"
    assert numbers[368] == "Axis Communications AB"
    assert enterprise_number(".1.3.6.1.4.1.39165.1.1") == 39165 and enterprise_number("1.3.6.1.2.1.1") is None
    assert enterprise_organisation("1.3.6.1.4.1.1004849.3") is None, "Dahua's MIB root is unregistered"


def test_every_enterprise_rule_names_a_number_the_registry_gives_to_that_maker():
    catalogue = Identifier().catalogue
    rules = [rule for rule in default_rules() if rule.field == "snmp.sys_object_id"]
    assert rules
    for rule in rules:
        number = int(re.search(r"1\\\.3\\\.6\\\.1\\\.4\\\.1\\\.(\d+)", rule.regex.pattern).group(1))
        maker = rule.sets["manufacturer"]
        if number in registry():
            assert f"PEN {number} \"{registry()[number]}\"" in rule.reference, rule.id
            assert catalogue.vendor_for_org(registry()[number]) is None, f"{rule.id}: the registry already resolves it"
        else:
            assert "outside the IANA registry" in rule.reference, rule.id
        assert catalogue.get(maker), rule.id


@pytest.mark.parametrize(("oid", "maker"), [
    ("1.3.6.1.4.1.368.4", "axis"),  # through the registry: "Axis Communications AB" is Axis's IEEE name
    ("1.3.6.1.4.1.37496.1", "dahua"),  # through the registry
    ("1.3.6.1.4.1.39165.1.1", "hikvision"),  # through signatures/snmp_sys_object_id.yaml
    ("1.3.6.1.4.1.1004849.3.2.10", "dahua"),
])
def test_a_sys_object_id_resolves_to_its_maker(oid, maker):
    seen = Observation(ip=CAMERA, source="snmp", field="snmp.sys_object_id", value=oid, port=161, transport="udp")
    assert Identifier().identify([seen]).manufacturer == maker


def test_an_enterprise_the_catalogue_does_not_know_identifies_nothing():
    seen = Observation(ip=CAMERA, source="snmp", field="snmp.sys_object_id", value="1.3.6.1.4.1.8072.3.2.10",
                       port=161, transport="udp")
    assert Identifier().evidence([seen]) == []


def test_the_refresh_script_reads_the_registrys_plain_text_layout():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "refresh_iana_pen.py"
    spec = importlib.util.spec_from_file_location("refresh_iana_pen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # The layout of https://www.iana.org/assignments/enterprise-numbers.txt: the number alone,
    # then organisation, contact and e-mail, each indented two spaces more.
    text = ("PRIVATE ENTERPRISE NUMBERS\n\nDecimal\n| Organization\n| | Contact\n| | | Email\n| | | |\n"
            "0\n  Reserved\n    Internet Assigned Numbers Authority\n      iana&iana.org\n"
            "368\n  Axis Communications AB\n    Someone\n      someone&axis.com\n"
            "39165\n  Hikvision Digital Technology Co., Ltd.\n    Someone\n      someone&hikvision.com\n")
    assert module.assignments(text) == [(0, "Reserved"), (368, "Axis Communications AB"),
                                        (39165, "Hikvision Digital Technology Co., Ltd.")]


def test_a_scan_with_discovery_reads_the_registry_before_its_event_loop_starts():
    from camscan.scanning import preload as prepare_scan

    registry.cache_clear()
    prepare_scan(discovery=False)
    assert registry.cache_info().currsize == 0
    prepare_scan(discovery=True)
    assert registry.cache_info().currsize == 1, "read mid-scan it would block the loop for 60 ms"
