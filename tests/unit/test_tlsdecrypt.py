"""TLS decryption on real handshakes: Python's ssl talks to itself through memory BIOs, no network."""

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from camscan.protocols import tlsdecrypt
from camscan.protocols.tlsdecrypt import DecryptedSession, TlsDecryptError, decrypt_session, parse_keylog

REQUEST = b"GET /ISAPI/System/deviceInfo HTTP/1.1\r\nHost: camera.test\r\nAuthorization: Basic YWRtaW46MTIzNDU=\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Type: application/xml\r\nContent-Length: 95\r\n\r\n"
    b'<?xml version="1.0"?><DeviceInfo><model>DS-2CD2042WD-I</model><serialNumber>X1</serialNumber></DeviceInfo>'
)
# OpenSSL's SSL_OP_NO_ENCRYPT_THEN_MAC (include/openssl/ssl.h); Python's ssl module has no name for it.
OP_NO_ENCRYPT_THEN_MAC = 0x00080000


def converse(client_context: ssl.SSLContext, server_context: ssl.SSLContext) -> tuple[bytes, bytes]:
    """Run a handshake, one HTTP request and response and a close_notify; return the bytes each side wrote."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out, server_hostname="camera.test")
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    sent_by_client, sent_by_server = bytearray(), bytearray()

    def pump() -> None:
        data = client_out.read()
        sent_by_client.extend(data)
        server_in.write(data)
        data = server_out.read()
        sent_by_server.extend(data)
        client_in.write(data)

    def step(action) -> bool:
        try:
            action()
        except ssl.SSLWantReadError:
            return False
        finally:
            pump()
        return True

    for _ in range(10):
        client_done, server_done = step(client.do_handshake), step(server.do_handshake)
        if client_done and server_done:
            break
    else:
        raise AssertionError("handshake did not complete")
    def carry(sender, receiver, data: bytes) -> None:
        sender.write(data)
        pump()
        received = b""
        while len(received) < len(data):
            received += receiver.read(65536)
        assert received == data

    carry(client, server, REQUEST)
    carry(server, client, RESPONSE)
    step(client.unwrap)
    return bytes(sent_by_client), bytes(sent_by_server)


def contexts(tmp: Path, certificate: tuple[Path, Path, bytes]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A client that verifies ``certificate`` and logs its keys to ``tmp``/keylog, and a server that presents it."""
    cert_path, key_path, _ = certificate
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert_path)
    client.keylog_filename = str(tmp / "keylog")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    return client, server


def decrypt(tmp: Path, client_bytes: bytes, server_bytes: bytes) -> DecryptedSession:
    return decrypt_session(client_bytes, server_bytes, parse_keylog((tmp / "keylog").read_bytes()))


def tls12_conversation(tmp: Path, certificate, ciphers: str, version=ssl.TLSVersion.TLSv1_2, options: int = 0):
    client, server = contexts(tmp, certificate)
    for context in (client, server):
        context.minimum_version = context.maximum_version = version
        context.set_ciphers(ciphers)
        context.options |= options
    return converse(client, server)


def assert_recovered(session: DecryptedSession, certificate, version: str, cipher: str) -> None:
    assert (session.version, session.cipher) == (version, cipher)
    assert session.certificate == certificate[2]
    assert session.client_data == REQUEST
    assert session.server_data == RESPONSE
    assert session.problems == []


# ---- TLS 1.3 ---------------------------------------------------------------------------------------


def test_tls13_default_suite(tmp_path, certificates):
    client_bytes, server_bytes = converse(*contexts(tmp_path, certificates["rsa"]))
    assert_recovered(
        decrypt(tmp_path, client_bytes, server_bytes), certificates["rsa"], "TLSv1.3", "TLS_AES_256_GCM_SHA384"
    )


def test_tls13_with_hello_retry_request(tmp_path, certificates):
    client, server = contexts(tmp_path, certificates["ecdsa"])
    server.set_ecdh_curve("secp384r1")  # not the client's first key share: the server asks again
    client_bytes, server_bytes = converse(client, server)
    assert tlsdecrypt.HELLO_RETRY_RANDOM in server_bytes
    assert_recovered(
        decrypt(tmp_path, client_bytes, server_bytes), certificates["ecdsa"], "TLSv1.3", "TLS_AES_256_GCM_SHA384"
    )


def _tls13_aes256_key_and_iv(secret: bytes) -> tuple[AESGCM, bytes]:
    """TLS_AES_256_GCM_SHA384 traffic key and IV, written from RFC 8446 §7.1 and §7.3 for this test alone."""

    def expand_label(label: bytes, length: int) -> bytes:
        info = length.to_bytes(2, "big") + bytes([6 + len(label)]) + b"tls13 " + label + b"\x00"
        return HKDFExpand(hashes.SHA384(), length, info).derive(secret)

    return AESGCM(expand_label(b"key", 32)), expand_label(b"iv", 12)


def _tls13_nonce(iv: bytes, sequence: int) -> bytes:
    return (int.from_bytes(iv, "big") ^ sequence).to_bytes(12, "big")


def _records(stream: bytes) -> list[bytes]:
    records, offset = [], 0
    while offset < len(stream):
        end = offset + 5 + int.from_bytes(stream[offset + 3 : offset + 5], "big")
        records.append(stream[offset:end])
        offset = end
    return records


def test_tls13_key_update_switches_to_the_next_secret(tmp_path, certificates):
    client_bytes, server_bytes = converse(*contexts(tmp_path, certificates["rsa"]))
    keylog = parse_keylog((tmp_path / "keylog").read_bytes())
    (client_random,) = {client_random for _, client_random in keylog}
    secret = keylog[("SERVER_TRAFFIC_SECRET_0", client_random)]
    key, iv = _tls13_aes256_key_and_iv(secret)
    sent_under_secret_0 = 0  # session tickets and the response
    for record in _records(server_bytes):
        try:
            key.decrypt(_tls13_nonce(iv, sent_under_secret_0), record[5:], record[:5])
            sent_under_secret_0 += 1
        except InvalidTag:
            continue
    assert sent_under_secret_0 >= 2

    def seal(key: AESGCM, iv: bytes, sequence: int, inner: bytes) -> bytes:
        header = b"\x17\x03\x03" + (len(inner) + 16).to_bytes(2, "big")
        return header + key.encrypt(_tls13_nonce(iv, sequence), inner, header)

    # RFC 8446 §7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length)
    next_secret = HKDFExpand(hashes.SHA384(), 48, b"\x00\x30\x11tls13 traffic upd\x00").derive(secret)
    key_update = seal(key, iv, sent_under_secret_0, b"\x18\x00\x00\x01\x00" + b"\x16")  # update_not_requested
    after_update = seal(*_tls13_aes256_key_and_iv(next_secret), 0, b"after update" + b"\x17" + b"\x00" * 7)
    session = decrypt(tmp_path, client_bytes, server_bytes + key_update + after_update)
    assert session.server_data == RESPONSE + b"after update", session.problems


CAPTURE_CONFIG = """openssl_conf = camscan_test
[camscan_test]
ssl_conf = camscan_ssl
[camscan_ssl]
system_default = camscan_tls
[camscan_tls]
Ciphersuites = {suite}
"""


@pytest.mark.parametrize("suite", ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"])
def test_tls13_suite_chosen_through_openssl_config(tmp_path, certificates, suite):
    """Python cannot pick TLS 1.3 suites; OpenSSL's config can, in a child process that loads it at start."""
    (tmp_path / "openssl.cnf").write_text(CAPTURE_CONFIG.format(suite=suite))
    cert_path, key_path, _ = certificates["rsa"]
    environment = dict(os.environ, OPENSSL_CONF=str(tmp_path / "openssl.cnf"))
    arguments = json.dumps([str(tmp_path), str(cert_path), str(key_path)])
    subprocess.run([sys.executable, __file__, arguments], env=environment, check=True, timeout=60)
    session = decrypt(tmp_path, (tmp_path / "client.bin").read_bytes(), (tmp_path / "server.bin").read_bytes())
    assert_recovered(session, certificates["rsa"], "TLSv1.3", suite)


# ---- TLS 1.2 and before ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ciphers", "cipher", "certificate"),
    [
        ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "rsa"),
        ("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "rsa"),
        ("ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "rsa"),
        ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ecdsa"),
        ("AES256-GCM-SHA384", "TLS_RSA_WITH_AES_256_GCM_SHA384", "rsa"),
        ("ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "rsa"),
        ("ECDHE-RSA-AES256-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "rsa"),
        ("AES128-SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA256", "rsa"),
        ("AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", "rsa"),
    ],
)
@pytest.mark.parametrize("options", [0, OP_NO_ENCRYPT_THEN_MAC], ids=["default", "no-encrypt-then-mac"])
def test_tls12_suites(tmp_path, certificates, ciphers, cipher, certificate, options):
    client_bytes, server_bytes = tls12_conversation(
        tmp_path, certificates[certificate], f"{ciphers}:@SECLEVEL=0", options=options
    )
    assert_recovered(decrypt(tmp_path, client_bytes, server_bytes), certificates[certificate], "TLSv1.2", cipher)


def test_encrypt_then_mac_is_negotiated_unless_disabled(tmp_path, certificates):
    """The CBC cases above really cover both record layouts (RFC 7366 extension 22 in the ServerHello)."""
    extension = b"\x00\x16\x00\x00"
    _, with_etm = tls12_conversation(tmp_path, certificates["rsa"], "AES128-SHA:@SECLEVEL=0")
    _, without_etm = tls12_conversation(
        tmp_path, certificates["rsa"], "AES128-SHA:@SECLEVEL=0", options=OP_NO_ENCRYPT_THEN_MAC
    )
    assert extension in with_etm[:200] and extension not in without_etm[:200]


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize(("version", "name"), [(ssl.TLSVersion.TLSv1, "TLSv1.0"), (ssl.TLSVersion.TLSv1_1, "TLSv1.1")])
@pytest.mark.parametrize("options", [0, OP_NO_ENCRYPT_THEN_MAC], ids=["default", "no-encrypt-then-mac"])
def test_old_protocol_versions_of_old_cameras(tmp_path, certificates, version, name, options):
    client_bytes, server_bytes = tls12_conversation(
        tmp_path, certificates["rsa"], "ECDHE-RSA-AES128-SHA:@SECLEVEL=0", version, options
    )
    assert_recovered(
        decrypt(tmp_path, client_bytes, server_bytes), certificates["rsa"], name, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"
    )


def test_cipher_suite_table_agrees_with_openssl():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:@SECLEVEL=0")
    checked = 0
    for cipher in context.get_ciphers():
        code = cipher["id"] & 0xFFFF
        if code not in tlsdecrypt.CIPHER_SUITE_NAMES:
            continue
        suite = tlsdecrypt._suite(code)
        bulk = {"gcm": "AES-GCM", "cbc": "AES-CBC", "poly1305": "CHACHA20-POLY1305"}[
            cipher["symmetric"].rsplit("-", 1)[1]
        ]
        assert (suite.bulk, suite.key_length * 8, suite.mac_hash) == (bulk, cipher["alg_bits"], cipher["digest"]), (
            suite.name
        )
        checked += 1
    assert checked == len(tlsdecrypt.CIPHER_SUITE_NAMES)


# ---- key log ---------------------------------------------------------------------------------------


def test_parse_keylog_keeps_known_labels_and_skips_the_rest():
    random_hex = "ab" * 32
    text = (
        "# SSL/TLS secrets log file, generated by OpenSSL\n\n"
        f"CLIENT_RANDOM {random_hex} {'11' * 48}\n"
        f"SERVER_TRAFFIC_SECRET_0 {random_hex} {'22' * 48}\r\n"
        f"EXPORTER_SECRET {random_hex} {'33' * 48}\n"
        f"CLIENT_RANDOM {'cd' * 31} {'44' * 48}\n"
        f"CLIENT_HANDSHAKE_TRAFFIC_SECRET {random_hex} zz\n"
        f"CLIENT_TRAFFIC_SECRET_0 {random_hex}\n"
        "\xff\xfe garbage\n"
    ).encode("latin-1")
    client_random = bytes.fromhex(random_hex)
    assert parse_keylog(text) == {
        ("CLIENT_RANDOM", client_random): bytes.fromhex("11" * 48),
        ("SERVER_TRAFFIC_SECRET_0", client_random): bytes.fromhex("22" * 48),
    }


def test_missing_key_log_entry_is_a_clear_error(tmp_path, certificates):
    client_bytes, server_bytes = tls12_conversation(tmp_path, certificates["rsa"], "ECDHE-RSA-AES128-GCM-SHA256")
    with pytest.raises(TlsDecryptError, match="no key log entry CLIENT_RANDOM"):
        decrypt_session(client_bytes, server_bytes, {})
    client_bytes, server_bytes = converse(*contexts(tmp_path, certificates["rsa"]))
    keylog = {
        key: value
        for key, value in parse_keylog((tmp_path / "keylog").read_bytes()).items()
        if key[0] != "SERVER_TRAFFIC_SECRET_0"
    }
    with pytest.raises(TlsDecryptError, match="no key log entry SERVER_TRAFFIC_SECRET_0"):
        decrypt_session(client_bytes, server_bytes, keylog)


# ---- damaged and hostile input ---------------------------------------------------------------------


def _flip_last_record(stream: bytes) -> bytes:
    """The stream with one ciphertext bit of its last record flipped (the server's last record is the response)."""
    offsets, offset = [], 0
    while offset < len(stream):
        offsets.append(offset)
        offset += 5 + int.from_bytes(stream[offset + 3 : offset + 5], "big")
    target = offsets[-1] + 5 + 4
    return stream[:target] + bytes([stream[target] ^ 0x01]) + stream[target + 1 :]


@pytest.mark.parametrize(
    "ciphers", ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-SHA"]
)
@pytest.mark.parametrize("options", [0, OP_NO_ENCRYPT_THEN_MAC], ids=["default", "no-encrypt-then-mac"])
def test_tampered_tls12_response_stops_with_a_problem(tmp_path, certificates, ciphers, options):
    client_bytes, server_bytes = tls12_conversation(
        tmp_path, certificates["rsa"], f"{ciphers}:@SECLEVEL=0", options=options
    )
    session = decrypt(tmp_path, client_bytes, _flip_last_record(server_bytes))
    assert session.client_data == REQUEST
    assert session.server_data == b""
    assert session.certificate == certificates["rsa"][2]
    assert len(session.problems) == 1 and session.problems[0].startswith("server: record")


def test_tampered_tls13_handshake_loses_certificate_and_response(tmp_path, certificates):
    client_bytes, server_bytes = converse(*contexts(tmp_path, certificates["rsa"]))
    first_encrypted = server_bytes.index(b"\x17\x03\x03")
    damaged = (
        server_bytes[: first_encrypted + 20]
        + bytes([server_bytes[first_encrypted + 20] ^ 0x80])
        + server_bytes[first_encrypted + 21 :]
    )
    session = decrypt(tmp_path, client_bytes, damaged)
    assert (session.certificate, session.server_data, session.client_data) == (None, b"", REQUEST)
    assert "authentication failed" in session.problems[0]


def test_truncated_streams(tmp_path, certificates):
    client_bytes, server_bytes = converse(*contexts(tmp_path, certificates["rsa"]))
    session = decrypt(tmp_path, client_bytes, server_bytes[:-30])  # the server's last record is the response
    assert session.certificate == certificates["rsa"][2]
    assert session.server_data == b"" and "stream ends inside a record" in session.problems[0]
    with pytest.raises(TlsDecryptError, match="no complete TLS ServerHello"):
        decrypt(tmp_path, client_bytes, server_bytes[:60])
    with pytest.raises(TlsDecryptError, match="complete TLS ClientHello"):
        decrypt(tmp_path, client_bytes[:100], server_bytes)


@pytest.mark.parametrize(
    ("client_bytes", "server_bytes", "message"),
    [
        (b"", b"", "ClientHello"),
        (b"GET / HTTP/1.1\r\nHost: camera.test\r\n\r\n", b"HTTP/1.1 400 Bad Request\r\n\r\n", "not a TLS record"),
        (bytes(range(256)) * 4, b"\x16\x03\x03\x00\x04\x02\x00\x00\x00", "ClientHello"),
    ],
)
def test_garbage_is_a_clear_error(client_bytes, server_bytes, message):
    with pytest.raises(TlsDecryptError, match=message):
        decrypt_session(client_bytes, server_bytes, {})


def _server_hello_record(body: bytes) -> bytes:
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(message).to_bytes(2, "big") + message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x03\x03" + b"\x00" * 32 + b"\x20" + b"\x00" * 10, "ServerHello session id is truncated"),
        (b"\x03\x03" + b"\x00" * 32 + b"\x00\xc0", "ServerHello is truncated"),
        (
            b"\x03\x03" + b"\x01" * 32 + b"\x00\xc0\x2f\x00\x00\x04\x00\x2b\x00\x09",
            "ServerHello extension is truncated",
        ),
        (b"\x03\x03" + b"\x01" * 32 + b"\x00\x00\x0a\x00\x00\x00", "suite 0x000a is not supported"),  # 3DES
        (b"\x03\x03" + b"\x01" * 32 + b"\x00\x13\x01\x00", "TLS_AES_128_GCM_SHA256 does not belong to TLSv1.2"),
        (b"\x03\x01" + b"\x01" * 32 + b"\x00\xc0\x2f\x00", "needs TLS 1.2, not TLSv1.0"),
        (b"\x03\x00" + b"\x01" * 32 + b"\x00\x00\x2f\x00", "version 0x0300 is not supported"),
    ],
)
def test_hostile_server_hello_is_a_clear_error(tmp_path, certificates, body, message):
    client_bytes, _ = tls12_conversation(tmp_path, certificates["rsa"], "AES128-SHA:@SECLEVEL=0")
    with pytest.raises(TlsDecryptError, match=message):
        decrypt_session(client_bytes, _server_hello_record(body), {})


@pytest.mark.parametrize("tls13", [True, False], ids=["tls13", "tls12-cbc"])
def test_any_damage_gives_a_result_or_a_clear_error(tmp_path, certificates, tls13):
    if tls13:
        client_bytes, server_bytes = converse(*contexts(tmp_path, certificates["rsa"]))
    else:
        client_bytes, server_bytes = tls12_conversation(
            tmp_path, certificates["rsa"], "ECDHE-RSA-AES128-SHA:@SECLEVEL=0", options=OP_NO_ENCRYPT_THEN_MAC
        )
    keylog = parse_keylog((tmp_path / "keylog").read_bytes())
    for stream_index, stream in enumerate((client_bytes, server_bytes)):
        for position in range(0, len(stream), 7):
            for damaged in (
                stream[:position],
                stream[:position] + bytes([stream[position] ^ 0xFF]) + stream[position + 1 :],
            ):
                streams = [client_bytes, server_bytes]
                streams[stream_index] = damaged
                try:
                    session = decrypt_session(*streams, keylog)
                except TlsDecryptError:
                    continue
                assert isinstance(session, DecryptedSession)


def _capture_in_child(arguments: str) -> None:
    """Child side of the OpenSSL-config test: one conversation, streams written next to the key log."""
    tmp, cert_path, key_path = (Path(value) for value in json.loads(arguments))
    client_bytes, server_bytes = converse(*contexts(tmp, (cert_path, key_path, b"")))
    (tmp / "client.bin").write_bytes(client_bytes)
    (tmp / "server.bin").write_bytes(server_bytes)


if __name__ == "__main__":
    _capture_in_child(sys.argv[1])
