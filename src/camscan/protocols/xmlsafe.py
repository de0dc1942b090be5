"""XML from the network, parsed without the dangers: no DTDs, no entities, bounded size."""

from __future__ import annotations

from typing import NoReturn
from xml.etree.ElementTree import Element
from xml.parsers import expat

from camscan.protocols import ProtocolError

class _Refused(Exception):
    """Raised from inside the expat callbacks to stop parsing at once."""


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def parse_untrusted_xml(data: bytes, what: str, max_bytes: int) -> Element:
    """Parse bytes from the network into an element tree whose tags are local names.

    A document type declaration is refused outright: nothing a camera legitimately sends
    needs one, and it is where entity expansion (billion laughs) and external entities
    live. Namespace processing is off and prefixes are dropped, because vendors spell
    prefixes every which way and some leave them unbound.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"{what}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data.strip():
        raise ProtocolError(f"{what}: empty message")
    if len(data) > max_bytes:
        raise ProtocolError(f"{what}: {len(data)} bytes is over the {max_bytes}-byte limit; refusing to parse")

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    stack: list[Element] = []
    roots: list[Element] = []

    def refuse_doctype(*_args: object) -> NoReturn:
        raise _Refused("document type declaration (DOCTYPE) refused")

    def refuse_entity(*_args: object) -> NoReturn:
        raise _Refused("entity declaration refused")

    def start(name: str, attributes: dict[str, str]) -> None:
        element = Element(_local(name), {_local(key): value for key, value in attributes.items()})
        if stack:
            stack[-1].append(element)
        else:
            roots.append(element)
        stack.append(element)

    def end(_name: str) -> None:
        stack.pop()

    def text(chunk: str) -> None:
        # Only leaf text matters to these parsers; mixed-content tails are not kept.
        if stack:
            stack[-1].text = (stack[-1].text or "") + chunk

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_entity
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except _Refused as refusal:
        raise ProtocolError(f"{what}: {refusal}") from None
    except (expat.ExpatError, ValueError, LookupError) as error:  # LookupError: an encoding expat does not know
        raise ProtocolError(f"{what}: not well-formed XML ({error})") from None
    if not roots:
        raise ProtocolError(f"{what}: no XML element found")
    return roots[0]


def child(element: Element | None, name: str) -> Element | None:
    """The first child of ``element`` with local name ``name`` (None for a missing element)."""
    if element is None:
        return None
    return next((item for item in element if item.tag == name), None)


def soap_envelope(data: bytes, what: str, max_bytes: int) -> tuple[Element, Element]:
    """(Envelope, Body) of a SOAP 1.1 or 1.2 message; ProtocolError when it is none."""
    root = parse_untrusted_xml(data, what, max_bytes)
    if root.tag != "Envelope":
        raise ProtocolError(f"{what}: root element is <{root.tag}>, not a SOAP Envelope")
    body = child(root, "Body")
    if body is None:
        raise ProtocolError(f"{what}: SOAP envelope has no Body")
    return root, body
