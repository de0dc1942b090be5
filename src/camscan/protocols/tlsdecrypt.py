"""Decrypt a recorded TLS connection from its two TCP byte streams and an NSS key log.

Replay of an HTTPS scan needs what the server sent (and its certificate) without any network:
the recording keeps both raw streams and the key log the client wrote
(``ssl.SSLContext.keylog_filename``). Nothing here negotiates keys: the key log already holds the
TLS 1.2 master secret or the TLS 1.3 traffic secrets, so this only derives record keys and opens
records.

References:
- NSS key log format (``<label> <client random hex> <secret hex>``, ``#`` comments):
  firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/
- TLS 1.3, RFC 8446: record layer and per-record nonce §5.1-§5.3, HKDF-Expand-Label §7.1,
  traffic keys §7.3, key update §7.2, HelloRetryRequest random §4.1.3, Certificate §4.4.2,
  supported_versions §4.2.1, cipher suites Appendix B.4.
- TLS 1.2, RFC 5246: PRF §5, record protection §6.2.3, key block §6.3, Certificate §7.4.2;
  TLS 1.0/1.1 PRF (MD5 xor SHA-1) RFC 2246 §5 / RFC 4346 §5, TLS 1.0 implicit CBC IV RFC 2246 §6.2.3.2.
- AES-GCM in TLS 1.2 (4-byte salt + 8-byte explicit nonce), RFC 5288 §3; ChaCha20-Poly1305 in
  TLS 1.2 (IV xor sequence number), RFC 7905 §2; encrypt_then_mac (extension 22), RFC 7366 §3.
- Cipher suite numbers: IANA TLS Cipher Suites registry (RFC 5246 A.5, RFC 5289, RFC 3268, RFC 7905).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from camscan.protocols import ProtocolError

KEYLOG_LABELS = frozenset(
    {
        "CLIENT_RANDOM",
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    }
)

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET, CERTIFICATE, FINISHED, KEY_UPDATE = 1, 2, 4, 11, 20, 24
EXT_ENCRYPT_THEN_MAC, EXT_SUPPORTED_VERSIONS = 22, 43
MAX_FRAGMENT = 2**14 + 2048  # RFC 5246 §6.2.3: TLSCiphertext.length limit
VERSION_NAMES = {0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
HELLO_RETRY_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()

CIPHER_SUITE_NAMES = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}


class TlsDecryptError(ProtocolError):
    """A recorded TLS connection that cannot be decrypted; the message names the step that failed."""


@dataclass
class DecryptedSession:
    """What one recorded TLS connection carried, in plaintext.

    ``problems`` lists what stopped decryption early (a record failing authentication, a stream
    ending inside a record); the data before that point is still returned.
    """

    version: str
    cipher: str
    certificate: bytes | None
    client_data: bytes
    server_data: bytes
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Suite:
    """Record protection parameters read from an IANA cipher suite name."""

    name: str
    bulk: str  # "AES-GCM", "CHACHA20-POLY1305" or "AES-CBC"
    key_length: int
    mac_hash: str | None  # HMAC hash of a CBC suite; None for AEAD suites
    prf_hash: str  # TLS 1.2 PRF hash, or TLS 1.3 HKDF hash


def _suite(code: int) -> _Suite:
    name = CIPHER_SUITE_NAMES.get(code)
    if name is None:
        raise TlsDecryptError(f"cipher suite 0x{code:04x} is not supported for decryption")
    key_length = 16 if "_AES_128_" in name else 32
    if "_CHACHA20_POLY1305_" in name:
        return _Suite(name, "CHACHA20-POLY1305", key_length, None, "sha256")
    if "_GCM_" in name:
        return _Suite(name, "AES-GCM", key_length, None, name.rsplit("_", 1)[1].lower())
    mac = {"SHA": "sha1", "SHA256": "sha256", "SHA384": "sha384"}[name.rsplit("_", 1)[1]]
    # RFC 5246 §7.4.9 / RFC 5289 §3.2: TLS 1.2 suites use the SHA-256 PRF unless they name SHA-384.
    return _Suite(name, "AES-CBC", key_length, mac, "sha384" if mac == "sha384" else "sha256")


def parse_keylog(text: bytes) -> dict[tuple[str, bytes], bytes]:
    """Secrets of an NSS key log, keyed by ``(label, client_random)``.

    Keeps the TLS 1.2 ``CLIENT_RANDOM`` master secrets and the TLS 1.3 handshake and first
    application traffic secrets; other labels, ``#`` comments, blank and malformed lines are skipped.
    """
    secrets: dict[tuple[str, bytes], bytes] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        label = parts[0].decode("ascii", "replace")
        if label not in KEYLOG_LABELS:
            continue
        try:
            client_random, secret = bytes.fromhex(parts[1].decode("ascii")), bytes.fromhex(parts[2].decode("ascii"))
        except ValueError:
            continue
        if len(client_random) == 32 and secret:
            secrets[(label, client_random)] = secret
    return secrets


@dataclass(frozen=True)
class _Record:
    content_type: int
    version: int
    fragment: bytes

    @property
    def header(self) -> bytes:
        return struct.pack("!BHH", self.content_type, self.version, len(self.fragment))


def _split_records(stream: bytes, side: str, problems: list[str]) -> list[_Record]:
    """The TLS records of one direction; a torn or non-TLS tail is noted in ``problems``."""
    records: list[_Record] = []
    offset = 0
    while offset < len(stream):
        if len(stream) - offset < 5:
            problems.append(f"{side}: stream ends inside a record header at byte {offset}")
            break
        content_type, version, length = struct.unpack_from("!BHH", stream, offset)
        if (
            content_type not in (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA)
            or version >> 8 != 3
            or length > MAX_FRAGMENT
        ):
            problems.append(f"{side}: bytes at {offset} are not a TLS record")
            break
        if offset + 5 + length > len(stream):
            problems.append(f"{side}: stream ends inside a record at byte {offset} ({length} bytes announced)")
            break
        records.append(_Record(content_type, version, stream[offset + 5 : offset + 5 + length]))
        offset += 5 + length
    return records


class _HandshakeReader:
    """Handshake messages (type, body) reassembled across record boundaries."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        messages = []
        while len(self._buffer) >= 4:
            length = int.from_bytes(self._buffer[1:4], "big")
            if len(self._buffer) < 4 + length:
                break
            messages.append((self._buffer[0], self._buffer[4 : 4 + length]))
            self._buffer = self._buffer[4 + length :]
        return messages


@dataclass(frozen=True)
class _ServerHello:
    version: int
    random: bytes
    cipher_suite: int
    extensions: dict[int, bytes]


def _read_vector(data: bytes, offset: int, length_size: int, what: str) -> tuple[bytes, int]:
    if offset + length_size > len(data):
        raise TlsDecryptError(f"{what} is truncated")
    length = int.from_bytes(data[offset : offset + length_size], "big")
    end = offset + length_size + length
    if end > len(data):
        raise TlsDecryptError(f"{what} is truncated")
    return data[offset + length_size : end], end


def _parse_server_hello(body: bytes) -> _ServerHello:
    if len(body) < 38:
        raise TlsDecryptError("ServerHello is truncated")
    legacy_version, random = struct.unpack_from("!H", body)[0], body[2:34]
    _, offset = _read_vector(body, 34, 1, "ServerHello session id")
    if offset + 3 > len(body):
        raise TlsDecryptError("ServerHello is truncated")
    cipher_suite = struct.unpack_from("!H", body, offset)[0]
    offset += 3
    extensions: dict[int, bytes] = {}
    if offset < len(body):
        block, _ = _read_vector(body, offset, 2, "ServerHello extension block")
        position = 0
        while position + 4 <= len(block):
            kind = struct.unpack_from("!H", block, position)[0]
            extensions[kind], position = _read_vector(block, position + 2, 2, "ServerHello extension")
    version = legacy_version
    if len(extensions.get(EXT_SUPPORTED_VERSIONS, b"")) == 2:
        version = struct.unpack("!H", extensions[EXT_SUPPORTED_VERSIONS])[0]
    return _ServerHello(version, random, cipher_suite, extensions)


def _leaf_certificate(body: bytes, tls13: bool) -> bytes | None:
    """The first (leaf) certificate of a Certificate message (RFC 5246 §7.4.2, RFC 8446 §4.4.2)."""
    offset = 0
    if tls13:
        _, offset = _read_vector(body, 0, 1, "Certificate request context")
    entries, _ = _read_vector(body, offset, 3, "Certificate list")
    if not entries:
        return None
    leaf, _ = _read_vector(entries, 0, 3, "leaf certificate")
    return leaf


def _hello_messages(records: list[_Record]) -> Iterator[tuple[int, bytes]]:
    """Handshake messages from the start of a stream, read lazily: callers stop at the hello they
    need, before any record that is already encrypted."""
    reader = _HandshakeReader()
    for record in records:
        if record.content_type == HANDSHAKE:
            yield from reader.feed(record.fragment)
        elif record.content_type != CHANGE_CIPHER_SPEC:
            return


# ---- key derivation --------------------------------------------------------------------------------


def _hkdf_expand_label(hash_name: str, secret: bytes, label: bytes, length: int) -> bytes:
    """RFC 8446 §7.1 HKDF-Expand-Label with an empty context."""
    full_label = b"tls13 " + label
    info = struct.pack("!HB", length, len(full_label)) + full_label + b"\x00"
    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}[hash_name]
    return HKDFExpand(algorithm, length, info).derive(secret)


def _p_hash(hash_name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    """RFC 5246 §5 P_hash: HMAC(secret, A(i) + seed) chained until ``length`` bytes."""
    output, chain = b"", seed
    while len(output) < length:
        chain = hmac.digest(secret, chain, hash_name)
        output += hmac.digest(secret, chain + seed, hash_name)
    return output[:length]


def _prf(version: int, hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS PRF: P_<hash> for TLS 1.2, P_MD5 xor P_SHA-1 over the two secret halves before it."""
    if version >= 0x0303:
        return _p_hash(hash_name, secret, label + seed, length)
    half = (len(secret) + 1) // 2
    md5 = _p_hash("md5", secret[:half], label + seed, length)
    sha1 = _p_hash("sha1", secret[-half:], label + seed, length)
    return bytes(a ^ b for a, b in zip(md5, sha1, strict=True))


# ---- record protection -----------------------------------------------------------------------------


class _RecordOpener(ABC):
    """Opens the protected records of one direction, counting their sequence numbers."""

    def __init__(self) -> None:
        self.sequence = 0

    def open(self, record: _Record) -> tuple[int, bytes]:
        """(content type, plaintext) of the next record; InvalidTag or ValueError if it does not open."""
        plaintext = self._open(record)
        self.sequence += 1
        return plaintext

    @abstractmethod
    def _open(self, record: _Record) -> tuple[int, bytes]: ...


def _xor_nonce(iv: bytes, sequence: int) -> bytes:
    """RFC 8446 §5.3 / RFC 7905 §2: the sequence number, left-padded to the IV length, xor the IV."""
    return (int.from_bytes(iv, "big") ^ sequence).to_bytes(len(iv), "big")


def _aead(bulk: str, key: bytes) -> AESGCM | ChaCha20Poly1305:
    return ChaCha20Poly1305(key) if bulk == "CHACHA20-POLY1305" else AESGCM(key)


class _Tls13Opener(_RecordOpener):
    """TLS 1.3 records: AEAD over TLSInnerPlaintext, additional data = record header (RFC 8446 §5.2)."""

    def __init__(self, suite: _Suite, secret: bytes) -> None:
        super().__init__()
        self.suite = suite
        self.secret = secret
        self._aead = _aead(suite.bulk, _hkdf_expand_label(suite.prf_hash, secret, b"key", suite.key_length))
        self._iv = _hkdf_expand_label(suite.prf_hash, secret, b"iv", 12)

    def _open(self, record: _Record) -> tuple[int, bytes]:
        inner = self._aead.decrypt(_xor_nonce(self._iv, self.sequence), record.fragment, record.header)
        content = inner.rstrip(b"\x00")
        if not content:
            raise ValueError("record has no content type")
        return content[-1], content[:-1]

    def updated(self) -> _Tls13Opener:
        """The opener for the next traffic secret after a KeyUpdate (RFC 8446 §7.2)."""
        length = 48 if self.suite.prf_hash == "sha384" else 32
        return _Tls13Opener(self.suite, _hkdf_expand_label(self.suite.prf_hash, self.secret, b"traffic upd", length))


def _aad12(sequence: int, record: _Record, length: int) -> bytes:
    return struct.pack("!QBHH", sequence, record.content_type, record.version, length)


class _GcmOpener(_RecordOpener):
    """TLS 1.2 AES-GCM: nonce = 4-byte salt from the key block + 8 explicit bytes (RFC 5288 §3)."""

    def __init__(self, key: bytes, salt: bytes) -> None:
        super().__init__()
        self._aead, self._salt = AESGCM(key), salt

    def _open(self, record: _Record) -> tuple[int, bytes]:
        explicit, sealed = record.fragment[:8], record.fragment[8:]
        if len(sealed) < 16:
            raise ValueError("record too short for AES-GCM")
        aad = _aad12(self.sequence, record, len(sealed) - 16)
        return record.content_type, self._aead.decrypt(self._salt + explicit, sealed, aad)


class _ChachaOpener(_RecordOpener):
    """TLS 1.2 ChaCha20-Poly1305: nonce = 12-byte IV xor sequence number (RFC 7905 §2)."""

    def __init__(self, key: bytes, iv: bytes) -> None:
        super().__init__()
        self._aead, self._iv = ChaCha20Poly1305(key), iv

    def _open(self, record: _Record) -> tuple[int, bytes]:
        if len(record.fragment) < 16:
            raise ValueError("record too short for ChaCha20-Poly1305")
        aad = _aad12(self.sequence, record, len(record.fragment) - 16)
        return record.content_type, self._aead.decrypt(_xor_nonce(self._iv, self.sequence), record.fragment, aad)


class _CbcOpener(_RecordOpener):
    """TLS 1.0-1.2 AES-CBC with HMAC: MAC-then-encrypt (RFC 5246 §6.2.3.2) or encrypt-then-MAC (RFC 7366).

    TLS 1.1+ sends an explicit IV first in each record; TLS 1.0 chains from the key block IV
    through the last ciphertext block of the previous record.
    """

    def __init__(self, key: bytes, mac_key: bytes, mac_hash: str, iv: bytes | None, encrypt_then_mac: bool) -> None:
        super().__init__()
        self._key, self._mac_key, self._mac_hash = key, mac_key, mac_hash
        self._chained_iv, self._encrypt_then_mac = iv, encrypt_then_mac
        self._mac_length = hashlib.new(mac_hash).digest_size

    def _mac(self, record: _Record, data: bytes) -> bytes:
        return hmac.digest(self._mac_key, _aad12(self.sequence, record, len(data)) + data, self._mac_hash)

    def _open(self, record: _Record) -> tuple[int, bytes]:
        fragment = record.fragment
        if self._encrypt_then_mac:
            if len(fragment) < self._mac_length:
                raise ValueError("record too short for its MAC")
            fragment, tag = fragment[: -self._mac_length], fragment[-self._mac_length :]
            if not hmac.compare_digest(tag, self._mac(record, fragment)):
                raise ValueError("bad record MAC")
        if self._chained_iv is None:
            iv, ciphertext = fragment[:16], fragment[16:]
        else:
            iv, ciphertext = self._chained_iv, fragment
        if not ciphertext or len(ciphertext) % 16 or len(iv) != 16:
            raise ValueError("record is not a whole number of AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        padding = padded[-1] + 1
        trailer = padding if self._encrypt_then_mac else padding + self._mac_length
        if trailer > len(padded) or padded[-padding:] != bytes([padded[-1]]) * padding:
            raise ValueError("bad record padding")
        content = padded[:-trailer]
        if not self._encrypt_then_mac:
            tag = padded[len(content) : len(content) + self._mac_length]
            if not hmac.compare_digest(tag, self._mac(record, content)):
                raise ValueError("bad record MAC")
        if self._chained_iv is not None:
            self._chained_iv = ciphertext[-16:]
        return record.content_type, content


def _tls12_openers(
    suite: _Suite, hello: _ServerHello, client_random: bytes, master_secret: bytes
) -> tuple[_RecordOpener, _RecordOpener]:
    """Client and server record openers from the RFC 5246 §6.3 key block."""
    mac_length = hashlib.new(suite.mac_hash).digest_size if suite.mac_hash else 0
    if suite.bulk == "AES-GCM":
        iv_length = 4
    elif suite.bulk == "CHACHA20-POLY1305":
        iv_length = 12
    else:
        iv_length = 16 if hello.version == 0x0301 else 0
    size = 2 * (mac_length + suite.key_length + iv_length)
    block = _prf(hello.version, suite.prf_hash, master_secret, b"key expansion", hello.random + client_random, size)
    parts, offset = [], 0
    for length in (mac_length, mac_length, suite.key_length, suite.key_length, iv_length, iv_length):
        parts.append(block[offset : offset + length])
        offset += length
    client_mac, server_mac, client_key, server_key, client_iv, server_iv = parts
    if suite.bulk == "AES-GCM":
        return _GcmOpener(client_key, client_iv), _GcmOpener(server_key, server_iv)
    if suite.bulk == "CHACHA20-POLY1305":
        return _ChachaOpener(client_key, client_iv), _ChachaOpener(server_key, server_iv)
    assert suite.mac_hash is not None
    etm = EXT_ENCRYPT_THEN_MAC in hello.extensions
    return (
        _CbcOpener(client_key, client_mac, suite.mac_hash, client_iv or None, etm),
        _CbcOpener(server_key, server_mac, suite.mac_hash, server_iv or None, etm),
    )


# ---- one direction ---------------------------------------------------------------------------------


@dataclass
class _Direction:
    """Plaintext and handshake messages recovered from one direction."""

    data: bytearray = field(default_factory=bytearray)
    handshake: list[tuple[int, bytes]] = field(default_factory=list)


def _open_or_report(
    opener: _RecordOpener, record: _Record, index: int, side: str, problems: list[str]
) -> tuple[int, bytes] | None:
    try:
        return opener.open(record)
    except (InvalidTag, ValueError) as error:
        reason = "authentication failed (tampered, or the wrong key)" if isinstance(error, InvalidTag) else str(error)
        problems.append(f"{side}: record {index} could not be decrypted: {reason}; stopped there")
        return None


def _read_tls12(records: list[_Record], opener: _RecordOpener, side: str, problems: list[str]) -> _Direction:
    """Cleartext handshake until ChangeCipherSpec, then protected records (RFC 5246 §7.1)."""
    result, reader, encrypted = _Direction(), _HandshakeReader(), False
    for index, record in enumerate(records):
        if record.content_type == CHANGE_CIPHER_SPEC:
            if encrypted:
                problems.append(f"{side}: renegotiation at record {index} is not followed; stopped there")
                break
            encrypted = True
            continue
        if not encrypted:
            if record.content_type == HANDSHAKE:
                result.handshake += reader.feed(record.fragment)
            elif record.content_type == ALERT:
                problems.append(f"{side}: alert {record.fragment.hex()} before encryption")
            else:
                problems.append(f"{side}: application data before ChangeCipherSpec at record {index}; stopped there")
                break
            continue
        opened = _open_or_report(opener, record, index, side, problems)
        if opened is None:
            break
        if opened[0] == APPLICATION_DATA:
            result.data += opened[1]
    return result


def _read_tls13(
    records: list[_Record],
    handshake_opener: _Tls13Opener,
    application_opener: _Tls13Opener,
    side: str,
    problems: list[str],
) -> _Direction:
    """Cleartext hellos, handshake-key records up to Finished, then application-key records (RFC 8446 §2)."""
    result = _Direction()
    cleartext, protected = _HandshakeReader(), _HandshakeReader()
    opener = handshake_opener
    for index, record in enumerate(records):
        if record.content_type == CHANGE_CIPHER_SPEC:
            continue
        if record.content_type != APPLICATION_DATA:
            if opener is handshake_opener and record.content_type == HANDSHAKE:
                result.handshake += cleartext.feed(record.fragment)
            elif record.content_type == ALERT:
                problems.append(f"{side}: cleartext alert {record.fragment.hex()}")
            continue
        opened = _open_or_report(opener, record, index, side, problems)
        if opened is None:
            break
        content_type, content = opened
        if content_type == APPLICATION_DATA:
            result.data += content
        elif content_type == HANDSHAKE:
            messages = protected.feed(content)
            if opener is handshake_opener:
                result.handshake += messages
                if any(kind == FINISHED for kind, _ in messages):
                    opener = application_opener
            elif any(kind == KEY_UPDATE for kind, _ in messages):
                opener = opener.updated()
    return result


# ---- the session -----------------------------------------------------------------------------------


def _with_problems(message: str, problems: list[str]) -> str:
    return f"{message} ({'; '.join(problems)})" if problems else message


def _secret(keylog: dict[tuple[str, bytes], bytes], label: str, client_random: bytes) -> bytes:
    secret = keylog.get((label, client_random))
    if secret is None:
        raise TlsDecryptError(f"no key log entry {label} for this session's client random {client_random.hex()}")
    return secret


def decrypt_session(
    client_bytes: bytes, server_bytes: bytes, keylog: dict[tuple[str, bytes], bytes]
) -> DecryptedSession:
    """Plaintext, version, cipher suite and server certificate of one recorded TLS connection.

    ``client_bytes`` and ``server_bytes`` are the whole TCP payload each side sent; ``keylog`` is
    what :func:`parse_keylog` returns. Raises TlsDecryptError when decryption cannot start (no
    ClientHello or ServerHello, an unsupported version or cipher suite, a missing key log entry);
    a record that fails later ends that direction and is listed in ``problems``.
    """
    problems: list[str] = []
    client_records = _split_records(client_bytes, "client", problems)
    server_records = _split_records(server_bytes, "server", problems)

    client_hello = next((body for kind, body in _hello_messages(client_records) if kind == CLIENT_HELLO), None)
    if client_hello is None or len(client_hello) < 34:
        raise TlsDecryptError(_with_problems("client stream does not start with a complete TLS ClientHello", problems))
    client_random = client_hello[2:34]

    server_hellos = (
        _parse_server_hello(body) for kind, body in _hello_messages(server_records) if kind == SERVER_HELLO
    )
    hello = next((candidate for candidate in server_hellos if candidate.random != HELLO_RETRY_RANDOM), None)
    if hello is None:
        raise TlsDecryptError(_with_problems("server stream has no complete TLS ServerHello", problems))
    if hello.version not in VERSION_NAMES:
        raise TlsDecryptError(f"TLS version 0x{hello.version:04x} is not supported for decryption")
    suite = _suite(hello.cipher_suite)
    tls13 = hello.version == 0x0304
    if tls13 != (hello.cipher_suite >> 8 == 0x13):
        raise TlsDecryptError(f"cipher suite {suite.name} does not belong to {VERSION_NAMES[hello.version]}")
    if hello.version < 0x0303 and (suite.bulk != "AES-CBC" or suite.mac_hash != "sha1"):
        raise TlsDecryptError(f"cipher suite {suite.name} needs TLS 1.2, not {VERSION_NAMES[hello.version]}")

    if tls13:
        openers = {
            label: _Tls13Opener(suite, _secret(keylog, label, client_random))
            for label in (
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0",
                "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "SERVER_TRAFFIC_SECRET_0",
            )
        }
        client = _read_tls13(
            client_records,
            openers["CLIENT_HANDSHAKE_TRAFFIC_SECRET"],
            openers["CLIENT_TRAFFIC_SECRET_0"],
            "client",
            problems,
        )
        server = _read_tls13(
            server_records,
            openers["SERVER_HANDSHAKE_TRAFFIC_SECRET"],
            openers["SERVER_TRAFFIC_SECRET_0"],
            "server",
            problems,
        )
    else:
        master_secret = _secret(keylog, "CLIENT_RANDOM", client_random)
        client_opener, server_opener = _tls12_openers(suite, hello, client_random, master_secret)
        client = _read_tls12(client_records, client_opener, "client", problems)
        server = _read_tls12(server_records, server_opener, "server", problems)

    certificate = None
    certificate_body = next((body for kind, body in server.handshake if kind == CERTIFICATE), None)
    if certificate_body is not None:
        try:
            certificate = _leaf_certificate(certificate_body, tls13)
        except TlsDecryptError as error:
            problems.append(f"server: unreadable Certificate message: {error}")
    return DecryptedSession(
        version=VERSION_NAMES[hello.version],
        cipher=suite.name,
        certificate=certificate,
        client_data=bytes(client.data),
        server_data=bytes(server.data),
        problems=problems,
    )
