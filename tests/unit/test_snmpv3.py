"""SNMPv3 USM (protocols/snmpv3.py): key localisation on RFC 3414's own test vectors, and the
messages of an agent written apart from camscan (the lab's, on pysnmp), as bytes."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from camscan.protocols import ProtocolError, snmp, snmpv3

# RFC 3414 Appendix A.3: password "maplesyrup", snmpEngineID 00 00 00 00 00 00 00 00 00 00 00 02.
ENGINE_ID = bytes.fromhex("000000000000000000000002")
CAMERA = "198.18.0.5"
# The lab agent's engine discovery Report and its Responses to camscan's GETs, as pysnmp built them.
REPORT = bytes.fromhex(
    "306f020103300e020101020300ffe304010002010304233021041380001f88046c61622d3139382e31382e302e3502010102010004"
    "00040004003035041380001f88046c61622d3139382e31382e302e350400a81c0201020201000201003011300f060a2b060106030f"
    "01010400410101")
SHA256_AES = bytes.fromhex(
    "3081ec020103300e020103020300ffe3040103020103044c304a041380001f88046c61622d3139382e31382e302e35020101020100"
    "0409696e76656e746f7279041859d5d1f3e882e4eec9d225dff50067d60030199849e4be5d0408c955e49b3317d64f048188657f06"
    "306e1f410fbefa3fd4e94131b3b8214ccc39f86bc32767eae0bb31c48f3ca08e9fc75b4f76856084c99661eba217249b9b4ce3682f"
    "5e2f8f56d5881145ca0e7260b29ae47b1741fa750548c8f48ddd8c18c73c95bbdca26fd6dfb4d85d934b5309b6439f3b2496586c87"
    "e3a3f2edbd83c55cc6bc6066bc691c9be0eff4144e1450881a17e6")
MD5_DES = bytes.fromhex(
    "3081e5020103300e020103020300ffe3040103020103043d303b041380001f88046c61622d3139382e31382e302e35020101020100"
    "04066c6567616379040c261e1372a5a3a647766047e9040800000001a96516e504819024e1f19ecbbb2316a6515a1bdff287aa8829"
    "e36b38902e4cf087f4dbb3fb2e7e65957aa6d0fd51e575db8fccb571ec47f817bf707faf2c493d6fc5df459fd76911e09556673905"
    "8032c2dd385ec7ce9062d15c77fee3ba9d58a345fb90b6acac5c49a599faeea08e4c06fb0df76b45daa657d28c38f3618f102c5502"
    "11f206f9bb2064826a6cd6159bcb006180c710c0")
LAB_ENGINE = snmpv3.Engine(bytes.fromhex("80001f88046c61622d3139382e31382e302e35"), 1, 0)
INVENTORY = snmpv3.UsmUser("inventory", "sha256", "maplesyrup-auth", "aes", "maplesyrup-priv")
LEGACY = snmpv3.UsmUser("legacy", "md5", "maplesyrup-auth", "des", "maplesyrup-priv")
SAID = ["AXIS Q1615 Mk III Network Camera 9.80.3", "1.3.6.1.4.1.368.4", "dock-cam"]


@pytest.mark.parametrize("hash_name, key, localized", [
    ("md5", "9faf3283884e92834ebc9847d8edd963", "526f5eed9fcce26f8964c2930787d82b"),  # A.3.1
    ("sha1", "9fb5cc0381497b3793528939ff788d5d79145211", "6695febc9288e36282235fc7151f128497b38f3f"),  # A.3.2
])
def test_key_localisation_gives_rfc_3414s_test_vectors(hash_name, key, localized):
    master = snmpv3.password_to_key("maplesyrup", hash_name)
    assert master.hex() == key
    assert snmpv3.localize_key(master, ENGINE_ID, hash_name).hex() == localized


def test_a_sha2_key_is_localised_by_the_same_algorithm():
    """RFC 7860 §9.3 keeps RFC 3414's algorithm with the longer hash."""
    master = snmpv3.password_to_key("maplesyrup", "sha256")
    assert master == hashlib.sha256((b"maplesyrup" * 104858)[:1048576]).digest()
    assert snmpv3.localized_keys(snmpv3.UsmUser("u", "sha256", "maplesyrup"), ENGINE_ID).auth == hashlib.sha256(
        master + ENGINE_ID + master).digest()


def test_engine_discovery_asks_nothing_and_the_report_names_the_engine():
    request = snmpv3.build_discovery(1, 2)
    assert snmp.is_v3(request) and b"\x04\x00" * 3 in request, "no engine, no user, no digest"
    reply = snmpv3.parse_message(REPORT, CAMERA, 161, 0.0, None, None)
    assert (reply.report, reply.engine) == ("usmStatsUnknownEngineIDs", LAB_ENGINE)
    assert snmp.parse_response(REPORT, CAMERA) == [], "the v2c reader leaves SNMPv3 alone"


@pytest.mark.parametrize("user, response", [(INVENTORY, SHA256_AES), (LEGACY, MD5_DES)], ids=["sha256-aes", "md5-des"])
def test_an_agents_authenticated_encrypted_response_is_verified_and_read(user, response):
    keys = snmpv3.localized_keys(user, LAB_ENGINE.engine_id)
    reply = snmpv3.parse_message(response, CAMERA, 161, 1.0, user, keys)
    assert [(seen.field, seen.value) for seen in reply.observations] == list(zip(
        ["snmp.sys_descr", "snmp.sys_object_id", "snmp.sys_name"], SAID))
    assert reply.engine == LAB_ENGINE and reply.report is None


@pytest.mark.parametrize("user, response", [(INVENTORY, SHA256_AES), (LEGACY, MD5_DES)], ids=["sha256-aes", "md5-des"])
def test_a_wrong_password_or_a_changed_byte_fails_authentication(user, response):
    wrong = snmpv3.UsmUser(user.name, user.auth_protocol, "not-the-password", user.priv_protocol, user.priv_password)
    with pytest.raises(ProtocolError, match="fails authentication"):
        snmpv3.parse_message(response, CAMERA, 161, 0.0, wrong, snmpv3.localized_keys(wrong, LAB_ENGINE.engine_id))
    changed = response[:-1] + bytes([response[-1] ^ 1])
    with pytest.raises(ProtocolError, match="fails authentication"):
        snmpv3.parse_message(changed, CAMERA, 161, 0.0, user, snmpv3.localized_keys(user, LAB_ENGINE.engine_id))


def test_a_response_below_the_users_level_is_refused():
    with pytest.raises(ProtocolError, match="authenticated for a user camscan did not send"):
        snmpv3.parse_message(SHA256_AES, CAMERA, 161, 0.0, None, None)
    request = snmpv3.build_get(snmpv3.UsmUser("inventory"), snmpv3.Keys(), LAB_ENGINE, 1, 2, 3)
    with pytest.raises(ProtocolError, match="get-request"):
        snmpv3.parse_message(request, CAMERA, 161, 0.0, INVENTORY, None)


@pytest.mark.parametrize("user", [INVENTORY, LEGACY, snmpv3.UsmUser("inventory", "sha", "maplesyrup-auth"),
                                  snmpv3.UsmUser("inventory", "sha512", "maplesyrup-auth", "aes", "maplesyrup-priv")])
def test_a_request_carries_the_engine_the_user_and_a_digest_over_the_whole_message(user):
    keys = snmpv3.localized_keys(user, LAB_ENGINE.engine_id)
    request = snmpv3.build_get(user, keys, LAB_ENGINE, 7, 8, 0x0102030405060708)
    start, end = snmpv3._authentication_span(request)
    zeroed = request[:start] + b"\0" * (end - start) + request[end:]
    hash_name, length = snmpv3.AUTH_PROTOCOLS[user.auth_protocol]
    assert request[start:end] == hmac.new(keys.auth, zeroed, hash_name).digest()[:length]
    message, security = snmpv3._decode(request, CAMERA)
    flags = 0x07 if user.priv_protocol else 0x05  # reportable, authenticated, and encrypted where the user is
    assert bytes(message["msgGlobalData"]["msgFlags"]) == bytes([flags])
    assert message["msgData"].getName() == ("encryptedPDU" if user.priv_protocol else "plaintext")
    assert (bytes(security["msgAuthoritativeEngineID"]), bytes(security["msgUserName"])) == (LAB_ENGINE.engine_id,
                                                                                           user.name.encode())


def test_a_recording_keeps_no_user_digest_or_ciphertext_and_a_valid_message():
    blanked = snmpv3.blank_secrets(SHA256_AES)
    assert len(blanked) == len(SHA256_AES) and b"inventory" not in blanked
    assert bytes.fromhex("59d5d1f3e882e4eec9d225dff50067d60030199849e4be5d") not in blanked, "the digest"
    assert SHA256_AES[-40:] not in blanked, "the encrypted PDU"
    assert b"X" * 9 in blanked and b"X" * 24 in blanked and b"X" * 136 in blanked
    with pytest.raises(ProtocolError, match="fails authentication"):  # still an SNMPv3 message, now unverifiable
        snmpv3.parse_message(blanked, CAMERA, 161, 0.0, INVENTORY, snmpv3.localized_keys(INVENTORY, LAB_ENGINE.engine_id))
    assert snmpv3.blank_secrets(REPORT) == REPORT, "engine discovery carries no secret"
    v2c = snmp.build_get("public", snmp.SYSTEM_OIDS, 1)
    assert snmpv3.blank_secrets(v2c) == v2c
    assert snmpv3.blank_secrets(SHA256_AES[:60]) == SHA256_AES[:8] + b"X" * 52, "unreadable: blanked whole"


@pytest.mark.parametrize("reply, expected, inside", [
    (snmpv3.Engine(b"e", 1, 100), snmpv3.Engine(b"e", 1, 240), True),
    (snmpv3.Engine(b"e", 1, 100), snmpv3.Engine(b"e", 1, 251), False),
    (snmpv3.Engine(b"e", 2, 100), snmpv3.Engine(b"e", 1, 100), False),
])
def test_the_time_window_is_150_seconds_of_the_same_boot(reply, expected, inside):
    assert snmpv3.in_time_window(reply, expected) is inside


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x03", REPORT[:40], REPORT + b"x",
                                  snmp.build_get("public", snmp.SYSTEM_OIDS, 1)])
def test_what_is_not_an_snmpv3_usm_message_is_a_protocol_error(data):
    with pytest.raises(ProtocolError):
        snmpv3.parse_message(data, CAMERA, 161, 0.0, None, None)
