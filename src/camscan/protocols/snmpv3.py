"""SNMPv3 with the User-based Security Model: the system-group GET for a user of the credentials file.

The message is RFC 3412 §6's ``SNMPv3Message`` (msgSecurityModel 3, USM) carrying RFC 3414
§2.4's ``UsmSecurityParameters``; the PDUs and varbinds are those of :mod:`camscan.protocols.snmp`.
One exchange is two requests:

1. discovery (RFC 3414 §4): a noAuthNoPriv, reportable GetRequest with no user and no
   engine; the agent's Report (``usmStatsUnknownEngineIDs``) names its snmpEngineID,
   snmpEngineBoots and snmpEngineTime;
2. the GET of sysDescr, sysObjectID and sysName, as the user, with that engine's boots and
   time (the timeliness window of RFC 3414 §3.2 step 7 is 150 s), authenticated and
   encrypted as the user's level asks.

Keys: each password becomes a key by RFC 3414 §A.2 (1 MiB of the repeated password,
hashed) and is localised to the engine (``H(Ku || engineID || Ku)``, §2.6); the privacy key
is localised with the authentication protocol's hash (RFC 3826 §1.2). Authentication is
HMAC over the whole message with msgAuthenticationParameters zeroed, truncated: HMAC-MD5-96
and HMAC-SHA-96 (RFC 3414 §6, §7), HMAC-SHA-2 (RFC 7860 §4.2). Privacy is CFB128-AES-128
(RFC 3826 §3.1) or CBC-DES (RFC 3414 §8, for old agents). The hashes and HMAC are the
standard library's, the ciphers ``cryptography``'s; pyasn1 encodes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype, univ

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.snmp import SYSTEM_OIDS, Pdus, get_request, is_v3, system_group

# cryptography 43+ keeps DES (TripleDES with one key) among its "decrepit" algorithms, and 47+ CFB among its
# decrepit modes; older releases have them with the others.
try:
    from cryptography.hazmat.decrepit.ciphers import algorithms as legacy_algorithms
except ImportError:  # pragma: no cover - cryptography before 43
    legacy_algorithms = algorithms  # type: ignore[misc]
try:
    from cryptography.hazmat.decrepit.ciphers import modes as legacy_modes
except ImportError:  # pragma: no cover - cryptography before 47
    legacy_modes = modes  # type: ignore[misc]

VERSION_3 = 3
USM = 3  # msgSecurityModel (RFC 3411 §5, SnmpSecurityModel)
MAX_SIZE = 65507  # msgMaxSize: what one UDP datagram can carry
AUTH_FLAG, PRIV_FLAG, REPORTABLE_FLAG = 0x01, 0x02, 0x04  # msgFlags (RFC 3412 §6.4)
TIME_WINDOW = 150  # seconds (RFC 3414 §3.2 step 7b, §2.2.3)
KEY_STRETCH = 1_048_576  # bytes of repeated password hashed into a key (RFC 3414 §A.2.1)
MIN_PASSWORD = 8  # RFC 3414 §11.2: shorter passwords are refused by agents and easy to guess

# name in the credentials file: (hashlib name, truncated MAC length)
AUTH_PROTOCOLS = {
    "md5": ("md5", 12),  # usmHMACMD5AuthProtocol (RFC 3414 §6)
    "sha": ("sha1", 12),  # usmHMACSHAAuthProtocol (RFC 3414 §7)
    "sha224": ("sha224", 16),  # usmHMAC128SHA224AuthProtocol (RFC 7860 §4.2.1)
    "sha256": ("sha256", 24),  # usmHMAC192SHA256AuthProtocol
    "sha384": ("sha384", 32),  # usmHMAC256SHA384AuthProtocol
    "sha512": ("sha512", 48),  # usmHMAC384SHA512AuthProtocol
}
PRIV_PROTOCOLS = ("aes", "des")  # usmAesCfb128Protocol (RFC 3826), usmDESPrivProtocol (RFC 3414 §8)

# usmStats counters (RFC 3414 §5, 1.3.6.1.6.3.15.1.1.N.0) an agent reports, and what each means.
USM_STATS = {
    "1.3.6.1.6.3.15.1.1.1.0": ("usmStatsUnsupportedSecLevels", "the agent does not offer this user's security level"),
    "1.3.6.1.6.3.15.1.1.2.0": ("usmStatsNotInTimeWindows", "the request was outside the agent's time window"),
    "1.3.6.1.6.3.15.1.1.3.0": ("usmStatsUnknownUserNames", "the agent knows no such user"),
    "1.3.6.1.6.3.15.1.1.4.0": ("usmStatsUnknownEngineIDs", "engine discovery"),
    "1.3.6.1.6.3.15.1.1.5.0": ("usmStatsWrongDigests", "wrong authentication password or protocol"),
    "1.3.6.1.6.3.15.1.1.6.0": ("usmStatsDecryptionErrors", "wrong privacy password or protocol"),
}
UNKNOWN_ENGINE_ID = "usmStatsUnknownEngineIDs"
NOT_IN_TIME_WINDOW = "usmStatsNotInTimeWindows"


class _HeaderData(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("msgID", univ.Integer()),
        namedtype.NamedType("msgMaxSize", univ.Integer()),
        namedtype.NamedType("msgFlags", univ.OctetString()),
        namedtype.NamedType("msgSecurityModel", univ.Integer()),
    )


class _ScopedPdu(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("contextEngineID", univ.OctetString()),
        namedtype.NamedType("contextName", univ.OctetString()),
        namedtype.NamedType("data", Pdus()),
    )


class _ScopedPduData(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("plaintext", _ScopedPdu()),
        namedtype.NamedType("encryptedPDU", univ.OctetString()),
    )


class _Message(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("msgVersion", univ.Integer()),
        namedtype.NamedType("msgGlobalData", _HeaderData()),
        namedtype.NamedType("msgSecurityParameters", univ.OctetString()),
        namedtype.NamedType("msgData", _ScopedPduData()),
    )


class _UsmSecurityParameters(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("msgAuthoritativeEngineID", univ.OctetString()),
        namedtype.NamedType("msgAuthoritativeEngineBoots", univ.Integer()),
        namedtype.NamedType("msgAuthoritativeEngineTime", univ.Integer()),
        namedtype.NamedType("msgUserName", univ.OctetString()),
        namedtype.NamedType("msgAuthenticationParameters", univ.OctetString()),
        namedtype.NamedType("msgPrivacyParameters", univ.OctetString()),
    )


@dataclass(frozen=True)
class UsmUser:
    """A USM user of the credentials file: no protocol means that level is off."""

    name: str
    auth_protocol: str | None = None
    auth_password: str = field(default="", repr=False)
    priv_protocol: str | None = None
    priv_password: str = field(default="", repr=False)

    @property
    def level(self) -> str:
        if self.priv_protocol:
            return "authPriv"
        return "authNoPriv" if self.auth_protocol else "noAuthNoPriv"


@dataclass(frozen=True)
class Engine:
    """An agent's snmpEngineID, snmpEngineBoots and snmpEngineTime as it reported them."""

    engine_id: bytes
    boots: int
    time: int


@dataclass(frozen=True)
class Keys:
    """A user's keys localised to one engine (RFC 3414 §2.6); never logged, never stored."""

    auth: bytes = field(default=b"", repr=False)
    priv: bytes = field(default=b"", repr=False)


@dataclass
class Reply:
    """What one SNMPv3 message from an agent said: its engine, and a Report's counter or a Response's values."""

    engine: Engine
    report: str | None = None
    observations: list[Observation] = field(default_factory=list)


@functools.lru_cache(maxsize=64)
def password_to_key(password: str, hash_name: str) -> bytes:
    """RFC 3414 §A.2: the digest of the password repeated to 1 MiB (a few milliseconds: kept per
    password, since only its localisation differs from agent to agent)."""
    text = password.encode("utf-8")
    if not text:
        raise ValueError("an SNMPv3 password cannot be empty")
    stretched = (text * (KEY_STRETCH // len(text) + 1))[:KEY_STRETCH]
    return hashlib.new(hash_name, stretched).digest()


def localize_key(key: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """RFC 3414 §2.6: ``H(Ku || snmpEngineID || Ku)``."""
    return hashlib.new(hash_name, key + engine_id + key).digest()


def localized_keys(user: UsmUser, engine_id: bytes) -> Keys:
    """The user's authentication and privacy keys for one engine."""
    if not user.auth_protocol:
        return Keys()
    hash_name = AUTH_PROTOCOLS[user.auth_protocol][0]
    auth = localize_key(password_to_key(user.auth_password, hash_name), engine_id, hash_name)
    priv = b""
    if user.priv_protocol:
        priv = localize_key(password_to_key(user.priv_password, hash_name), engine_id, hash_name)
    return Keys(auth, priv)


def build_discovery(msg_id: int, request_id: int) -> bytes:
    """The engine-discovery request of RFC 3414 §4: noAuthNoPriv, reportable, no user, no engine, no varbinds."""
    return _message(msg_id, REPORTABLE_FLAG, Engine(b"", 0, 0), b"", b"", b"", _scoped(b"", get_request((), request_id)))


def build_get(user: UsmUser, keys: Keys, engine: Engine, msg_id: int, request_id: int, salt: int) -> bytes:
    """The system-group GetRequest as ``user`` of ``engine`` (``engine.time`` as it is now, by the
    agent's clock), authenticated and encrypted as the user's level asks; ``salt`` is a fresh
    64-bit number per message (RFC 3826 §3.1.2.1; its low 32 bits for DES, RFC 3414 §8.1.1.1)."""
    flags = REPORTABLE_FLAG
    scoped = _scoped(engine.engine_id, get_request(SYSTEM_OIDS, request_id))
    privacy = b""
    if user.priv_protocol:
        flags |= AUTH_FLAG | PRIV_FLAG
        privacy = _salt(user.priv_protocol, engine, salt)
        data = univ.OctetString(_encrypt(user.priv_protocol, keys.priv, engine, privacy, encoder.encode(scoped)))
        scoped = _ScopedPduData()
        scoped["encryptedPDU"] = data
    elif user.auth_protocol:
        flags |= AUTH_FLAG
    placeholder = b"\0" * AUTH_PROTOCOLS[user.auth_protocol][1] if user.auth_protocol else b""
    message = _message(msg_id, flags, engine, user.name.encode("utf-8"), placeholder, privacy, scoped)
    if user.auth_protocol:
        start, end = _authentication_span(message)
        message = message[:start] + _digest(user.auth_protocol, keys.auth, message) + message[end:]
    return message


def parse_message(data: bytes, ip: str, port: int | None, at: float, user: UsmUser | None,
                  keys: Keys | None) -> Reply:
    """An agent's SNMPv3 message: its engine, and the Report's counter or the Response's values.

    An authenticated message is verified with ``keys`` (and decrypted); one that fails raises
    ProtocolError, as does anything that is not an SNMPv3 USM Report or Response.
    """
    message, security = _decode(data, ip)
    flags = bytes(message["msgGlobalData"]["msgFlags"])[:1]
    flag = flags[0] if flags else 0
    engine = Engine(bytes(security["msgAuthoritativeEngineID"]), int(security["msgAuthoritativeEngineBoots"]),
                    int(security["msgAuthoritativeEngineTime"]))
    if flag & AUTH_FLAG:
        if user is None or keys is None or not user.auth_protocol:
            raise ProtocolError(f"SNMPv3 message from {ip} is authenticated for a user camscan did not send")
        start, end = _authentication_span(data)
        received = data[start:end]
        zeroed = data[:start] + b"\0" * (end - start) + data[end:]
        if not hmac.compare_digest(received, _digest(user.auth_protocol, keys.auth, zeroed)):
            raise ProtocolError(f"SNMPv3 message from {ip} fails authentication")
    scoped_data = message["msgData"]
    if scoped_data.getName() == "encryptedPDU":
        if not flag & PRIV_FLAG or user is None or keys is None or not user.priv_protocol or not flag & AUTH_FLAG:
            raise ProtocolError(f"SNMPv3 message from {ip} is encrypted for a user camscan did not send")
        plain = _decrypt(user.priv_protocol, keys.priv, engine, bytes(security["msgPrivacyParameters"]),
                         bytes(scoped_data["encryptedPDU"]))
        try:
            scoped, _padding = decoder.decode(plain, asn1Spec=_ScopedPdu())  # DES pads to 8 bytes
        except (PyAsn1Error, ValueError, TypeError, RecursionError):
            raise ProtocolError(f"SNMPv3 message from {ip} does not decrypt to a scoped PDU") from None
    else:
        scoped = scoped_data["plaintext"]
    pdus = scoped["data"]
    kind = pdus.getName()
    if kind == "report":
        bindings = pdus["report"]["variable-bindings"]
        counters = [USM_STATS[str(binding["name"])][0] for binding in bindings if str(binding["name"]) in USM_STATS]
        return Reply(engine, report=counters[0] if counters else "an unknown report")
    if kind != "response":
        raise ProtocolError(f"SNMPv3 message from {ip} is a {kind}, not a Report or Response")
    if user is None or (user.auth_protocol and not flag & AUTH_FLAG) or (user.priv_protocol and not flag & PRIV_FLAG):
        raise ProtocolError(f"SNMPv3 response from {ip} is below the security level camscan asked for")
    return Reply(engine, observations=system_group(pdus["response"], ip, port, at))


def meaning(report: str) -> str:
    """What a usmStats counter in an agent's Report tells the user."""
    return next((said for name, said in USM_STATS.values() if name == report), report)


def in_time_window(reply: Engine, expected: Engine) -> bool:
    """Whether an authenticated reply's boots and time agree with the engine camscan asked (RFC 3414 §3.2 7b)."""
    return reply.boots == expected.boots and abs(reply.time - expected.time) <= TIME_WINDOW


def blank_secrets(payload: bytes) -> bytes:
    """An SNMPv3 message as a recording keeps it: the user name, the authentication digest and
    the encrypted PDU overwritten by ``X`` (same lengths: still a valid message). A message
    that cannot be read is blanked whole past its first bytes: better too much than a secret."""
    if not is_v3(payload):
        return payload
    try:
        message, security = _decode(payload, "recording")
        spans = [_authentication_span(payload)]
    except ProtocolError:
        return payload[:8] + b"X" * max(0, len(payload) - 8)
    secrets = [bytes(security["msgUserName"])]
    if message["msgData"].getName() == "encryptedPDU":
        secrets.append(bytes(message["msgData"]["encryptedPDU"]))
    blanked = bytearray(payload)
    for start, end in spans:
        blanked[start:end] = b"X" * (end - start)
    for secret in secrets:
        where = payload.find(secret) if secret else -1
        if secret and where < 0:
            return payload[:8] + b"X" * max(0, len(payload) - 8)
        if secret:
            blanked[where:where + len(secret)] = b"X" * len(secret)
    return bytes(blanked)


def _scoped(context_engine_id: bytes, pdu) -> _ScopedPduData:
    scoped = _ScopedPdu()
    scoped["contextEngineID"] = context_engine_id
    scoped["contextName"] = b""
    scoped["data"]["get-request"] = pdu
    data = _ScopedPduData()
    data["plaintext"] = scoped
    return data


def _message(msg_id: int, flags: int, engine: Engine, user: bytes, authentication: bytes, privacy: bytes,
             scoped: _ScopedPduData) -> bytes:
    security = _UsmSecurityParameters()
    security["msgAuthoritativeEngineID"] = engine.engine_id
    security["msgAuthoritativeEngineBoots"] = engine.boots
    security["msgAuthoritativeEngineTime"] = engine.time
    security["msgUserName"] = user
    security["msgAuthenticationParameters"] = authentication
    security["msgPrivacyParameters"] = privacy
    message = _Message()
    message["msgVersion"] = VERSION_3
    header = message["msgGlobalData"]
    header["msgID"] = msg_id
    header["msgMaxSize"] = MAX_SIZE
    header["msgFlags"] = bytes([flags])
    header["msgSecurityModel"] = USM
    message["msgSecurityParameters"] = encoder.encode(security)
    message["msgData"] = scoped
    return encoder.encode(message)


def _decode(data: bytes, ip: str):
    try:
        message, rest = decoder.decode(bytes(data), asn1Spec=_Message())
        security, extra = decoder.decode(bytes(message["msgSecurityParameters"]), asn1Spec=_UsmSecurityParameters())
    except (PyAsn1Error, ValueError, TypeError, RecursionError) as error:
        raise ProtocolError(f"SNMP datagram from {ip} is not a valid SNMPv3 message: {str(error)[:120]}") from None
    if rest or extra:
        raise ProtocolError(f"SNMPv3 message from {ip} has bytes beyond its message")
    if int(message["msgVersion"]) != VERSION_3 or int(message["msgGlobalData"]["msgSecurityModel"]) != USM:
        raise ProtocolError(f"SNMP message from {ip} is not SNMPv3 with the User-based Security Model")
    return message, security


def _tlv(data: bytes, offset: int, tag: int) -> tuple[int, int]:
    """Where the value of the BER element at ``offset`` starts and ends (definite lengths only)."""
    if offset + 2 > len(data) or data[offset] != tag:
        raise ProtocolError("SNMPv3 message is not laid out as RFC 3412 says")
    length, start = data[offset + 1], offset + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or start + count > len(data):
            raise ProtocolError("SNMPv3 message has a length camscan does not read")
        length, start = int.from_bytes(data[start:start + count], "big"), start + count
    if start + length > len(data):
        raise ProtocolError("SNMPv3 message is cut short")
    return start, start + length


def _authentication_span(message: bytes) -> tuple[int, int]:
    """Where msgAuthenticationParameters' value lies in a whole encoded message: the bytes HMAC covers zeroed."""
    sequence, octets, integer = 0x30, 0x04, 0x02
    offset, _ = _tlv(message, 0, sequence)
    offset = _tlv(message, offset, integer)[1]  # msgVersion
    offset = _tlv(message, offset, sequence)[1]  # msgGlobalData
    offset, _ = _tlv(message, offset, octets)  # msgSecurityParameters, holding UsmSecurityParameters
    offset, _ = _tlv(message, offset, sequence)
    for tag in (octets, integer, integer, octets):  # engine ID, boots, time, user name
        offset = _tlv(message, offset, tag)[1]
    return _tlv(message, offset, octets)


def _digest(protocol: str, key: bytes, message: bytes) -> bytes:
    hash_name, length = AUTH_PROTOCOLS[protocol]
    return hmac.new(key, message, hash_name).digest()[:length]


def _salt(protocol: str, engine: Engine, salt: int) -> bytes:
    if protocol == "des":  # RFC 3414 §8.1.1.1: snmpEngineBoots, then a local 32-bit integer
        return engine.boots.to_bytes(4, "big") + (salt & 0xFFFFFFFF).to_bytes(4, "big")
    return salt.to_bytes(8, "big")  # RFC 3826 §3.1.2.1: a local 64-bit integer


def _cipher(protocol: str, key: bytes, engine: Engine, privacy: bytes) -> Cipher:
    if len(privacy) != 8:
        raise ProtocolError("SNMPv3 msgPrivacyParameters must be 8 bytes")
    if protocol == "des":  # RFC 3414 §8.1.1.1: the key's first 8 bytes, its next 8 XOR the salt the IV
        iv = bytes(a ^ b for a, b in zip(key[8:16], privacy))
        return Cipher(legacy_algorithms.TripleDES(key[:8] * 3), modes.CBC(iv))  # three equal keys: single DES
    iv = engine.boots.to_bytes(4, "big") + engine.time.to_bytes(4, "big") + privacy  # RFC 3826 §3.1.2.1
    return Cipher(algorithms.AES(key[:16]), legacy_modes.CFB(iv))


def _encrypt(protocol: str, key: bytes, engine: Engine, privacy: bytes, plain: bytes) -> bytes:
    if protocol == "des":
        plain += b"\0" * (-len(plain) % 8)
    encryptor = _cipher(protocol, key, engine, privacy).encryptor()
    return encryptor.update(plain) + encryptor.finalize()


def _decrypt(protocol: str, key: bytes, engine: Engine, privacy: bytes, data: bytes) -> bytes:
    if protocol == "des" and len(data) % 8:
        raise ProtocolError("SNMPv3 DES-encrypted PDU is not a whole number of blocks")
    decryptor = _cipher(protocol, key, engine, privacy).decryptor()
    return decryptor.update(data) + decryptor.finalize()

