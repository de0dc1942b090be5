"""SNMPv2c: a read-only GetRequest for the system group, and what the GetResponse says.

camscan asks three objects of the SNMPv2-MIB system group (RFC 3418 §2): ``sysDescr``
(1.3.6.1.2.1.1.1.0, free text, often maker, model and firmware), ``sysObjectID``
(1.3.6.1.2.1.1.2.0, an OID under the maker's IANA enterprise number 1.3.6.1.4.1.N) and
``sysName`` (1.3.6.1.2.1.1.5.0, the administrator's name for the node).

The message is the community-based one of RFC 1157 §4 with version 1 (v2c, RFC 1901 §3)
carrying the RFC 3416 §3 PDUs; BER encoding (X.690) is pyasn1's, the types below transcribe
the ASN.1 of RFC 3416 §3 and RFC 2578 §7.1 (the application-wide value types). A varbind
an agent cannot serve comes back as ``noSuchObject`` / ``noSuchInstance`` /
``endOfMibView`` (RFC 3416 §3, §4.2.1) and yields no observation.
"""

from __future__ import annotations

from collections.abc import Callable

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import constraint, namedtype, tag, univ

from camscan.model import Observation
from camscan.protocols import ProtocolError
from camscan.protocols.spec import DiscoverySpec

PORT = 161
BPF = "udp port 161"
VERSION_2C = 1  # RFC 1901 §3: version-2c(1)
PUBLIC = "public"

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYSTEM_OIDS = (SYS_DESCR, SYS_OBJECT_ID, SYS_NAME)
_FIELDS = {SYS_DESCR: "snmp.sys_descr", SYS_OBJECT_ID: "snmp.sys_object_id", SYS_NAME: "snmp.sys_name"}
MAX_VALUE = 1024  # sysDescr is SIZE (0..255) (RFC 3418); a longer value is cut, not trusted whole

__all__ = ["PORT", "BPF", "PUBLIC", "SYSTEM_OIDS", "Pdus", "blank_community", "build_get", "concealed_community",
           "get_request", "is_v3", "parse_response", "system_group"]

_INT32 = constraint.ValueRangeConstraint(-(2**31), 2**31 - 1)


def _application(number: int, base):
    """An RFC 2578 §7.1 application-wide type: ``[APPLICATION number] IMPLICIT base``."""
    return base.subtype(implicitTag=tag.Tag(tag.tagClassApplication, tag.tagFormatSimple, number))


def _context_null(number: int) -> univ.Null:
    """The RFC 3416 §3 exceptions: ``[number] IMPLICIT NULL``."""
    return univ.Null().subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, number))


class _Value(univ.Choice):
    """VarBind's value CHOICE (RFC 3416 §3), with ObjectSyntax flattened (RFC 2578 §7.1)."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("integer", univ.Integer()),
        namedtype.NamedType("string", univ.OctetString()),
        namedtype.NamedType("objectID", univ.ObjectIdentifier()),
        namedtype.NamedType("ipAddress", _application(0, univ.OctetString())),
        namedtype.NamedType("counter32", _application(1, univ.Integer())),
        namedtype.NamedType("gauge32", _application(2, univ.Integer())),
        namedtype.NamedType("timeTicks", _application(3, univ.Integer())),
        namedtype.NamedType("opaque", _application(4, univ.OctetString())),
        namedtype.NamedType("counter64", _application(6, univ.Integer())),
        namedtype.NamedType("unSpecified", univ.Null()),
        namedtype.NamedType("noSuchObject", _context_null(0)),
        namedtype.NamedType("noSuchInstance", _context_null(1)),
        namedtype.NamedType("endOfMibView", _context_null(2)),
    )


class _VarBind(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("name", univ.ObjectIdentifier()),
        namedtype.NamedType("value", _Value()),
    )


class _VarBindList(univ.SequenceOf):
    componentType = _VarBind()


def _pdu(number: int):
    class Pdu(univ.Sequence):
        tagSet = univ.Sequence.tagSet.tagImplicitly(tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, number))
        componentType = namedtype.NamedTypes(
            namedtype.NamedType("request-id", univ.Integer().subtype(subtypeSpec=_INT32)),
            namedtype.NamedType("error-status", univ.Integer()),
            namedtype.NamedType("error-index", univ.Integer()),
            namedtype.NamedType("variable-bindings", _VarBindList()),
        )
    return Pdu


_GetRequest = _pdu(0)
_GetResponse = _pdu(2)  # RFC 3416 §3: Response-PDU ::= [2] IMPLICIT PDU
_Report = _pdu(8)  # RFC 3416 §3: Report-PDU ::= [8] IMPLICIT PDU (SNMPv3 agents' USM errors, RFC 3414 §3.2)


class Pdus(univ.Choice):
    """The PDUs camscan sends or reads (RFC 3416 §3)."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("get-request", _GetRequest()),
        namedtype.NamedType("response", _GetResponse()),
        namedtype.NamedType("report", _Report()),
    )


class _Message(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer()),
        namedtype.NamedType("community", univ.OctetString()),
        namedtype.NamedType("data", Pdus()),
    )


def build_get(community: str, oids: tuple[str, ...], request_id: int) -> bytes:
    """A BER-encoded SNMPv2c GetRequest for ``oids`` (each value NULL, RFC 3416 §4.2.1)."""
    if not community:
        raise ValueError("an SNMP community cannot be empty")
    message = _Message()
    message["version"] = VERSION_2C
    message["community"] = community.encode("utf-8")
    message["data"]["get-request"] = get_request(oids, request_id)
    return encoder.encode(message)


def get_request(oids: tuple[str, ...], request_id: int):
    """The GetRequest-PDU for ``oids`` (each value NULL, RFC 3416 §4.2.1), for a v2c or v3 message."""
    if not isinstance(request_id, int) or isinstance(request_id, bool) or not 0 <= request_id < 2**31:
        raise ValueError(f"SNMP request-id must be an integer from 0 to 2147483647, got {request_id!r}")
    bindings = _VarBindList()
    for index, oid in enumerate(oids):
        binding = _VarBind()
        binding["name"] = univ.ObjectIdentifier(oid)
        binding["value"]["unSpecified"] = univ.Null()
        bindings[index] = binding
    pdu = _GetRequest()
    pdu["request-id"] = request_id
    pdu["error-status"] = 0
    pdu["error-index"] = 0
    pdu["variable-bindings"] = bindings
    return pdu


def concealed_community(community: str) -> tuple[bytes, bytes]:
    """The community as it appears on the wire (its BER OCTET STRING), and the same with its
    value overwritten by ``X``: what a recording keeps instead, still a valid message."""
    value = community.encode("utf-8")
    field = encoder.encode(univ.OctetString(value))
    return field, field[: len(field) - len(value)] + b"X" * len(value)


def blank_community(community: str) -> Callable[[bytes], bytes]:
    """What a recording does to each datagram exchanged with an agent sent ``community``."""
    secret, blanked = concealed_community(community)
    return lambda payload: payload.replace(secret, blanked)


def is_v3(data: bytes) -> bool:
    """Whether a datagram is an SNMPv3 message: a SEQUENCE whose first element is INTEGER 3."""
    if len(data) < 5 or data[0] != 0x30:
        return False
    start = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
    return data[start:start + 3] == b"\x02\x01\x03"


def parse_response(data: bytes, ip: str, port: int | None = None, at: float = 0.0) -> list[Observation]:
    """The system-group values a GetResponse from ``ip`` carries, as observations.

    A GetRequest (ours, looped back) yields ``[]``; anything that is not a v2c message raises
    ProtocolError. An agent that refuses (``error-status`` non-zero) yields ``[]`` too, and so
    does an SNMPv3 message (:mod:`camscan.protocols.snmpv3` reads those, with the user's keys).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"SNMP datagram from {ip} is not bytes")
    if is_v3(bytes(data)):
        return []
    try:
        message, rest = decoder.decode(bytes(data), asn1Spec=_Message())
    except (PyAsn1Error, ValueError, TypeError, RecursionError) as error:
        raise ProtocolError(f"SNMP datagram from {ip} is not a valid SNMPv2c message: {str(error)[:120]}") from None
    if rest:
        raise ProtocolError(f"SNMP datagram from {ip} has {len(rest)} bytes beyond its message")
    if int(message["version"]) != VERSION_2C:
        raise ProtocolError(f"SNMP message from {ip} is version {int(message['version'])}, not v2c")
    pdus = message["data"]
    if pdus.getName() != "response":
        return []
    return system_group(pdus["response"], ip, port, at)


def system_group(pdu, ip: str, port: int | None, at: float) -> list[Observation]:
    """The system-group values of a Response-PDU as observations (none if the agent refused)."""
    if int(pdu["error-status"]) != 0:
        return []
    found = []
    for binding in pdu["variable-bindings"]:
        field = _FIELDS.get(str(binding["name"]))
        value = _text(binding["value"])
        if field and value:
            found.append(Observation(ip=ip, source="snmp", field=field, value=value, port=port, transport="udp",
                                     observed_at=at))
    return found


def _text(value: _Value) -> str | None:
    kind = value.getName()
    if kind == "objectID":
        return str(value[kind])
    if kind == "string":
        raw = bytes(value[kind])[:MAX_VALUE]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        text = "".join(char if char.isprintable() or char in "\t\n" else " " for char in text).strip()
        return text or None
    return None


# An SNMPv2c GET of the system group with community "public"; an agent answers the asker's
# port, so there is no need to listen on 161.
SPEC = DiscoverySpec(
    "snmp", "SNMP", PORT, parse_response,
    requests=lambda rng: (build_get(PUBLIC, SYSTEM_OIDS, rng.getrandbits(31)),),
    listens_on_port=False, optional=True,
    # RFC 3418 sysDescr, the device's own description (sysName is the administrator's: not read)
    text_fields=("snmp.sys_descr",),
)
