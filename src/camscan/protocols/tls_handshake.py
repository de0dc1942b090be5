"""The server certificate chain of a cleartext TLS handshake (TLS 1.0-1.2; TLS 1.3 encrypts it).

Record layer (RFC 5246 section 6.2.1): type, version, 16-bit length. Handshake messages
(section 7.4) may span records: type, 24-bit length, body. The Certificate message
(section 7.4.2) is a 24-bit-length list of 24-bit-length DER certificates, leaf first.
"""

from __future__ import annotations

from camscan.protocols import ProtocolError

CONTENT_HANDSHAKE = 22
HANDSHAKE_CERTIFICATE = 11
MAX_HANDSHAKE_BYTES = 256 * 1024


def _handshake_bytes(data: bytes) -> bytes:
    """The handshake-protocol bytes of the leading records, up to the first non-handshake one."""
    collected = bytearray()
    position = 0
    while position + 5 <= len(data) and len(collected) < MAX_HANDSHAKE_BYTES:
        content_type, major = data[position], data[position + 1]
        length = int.from_bytes(data[position + 3 : position + 5], "big")
        if content_type != CONTENT_HANDSHAKE or major != 3:
            break
        collected += data[position + 5 : position + 5 + length]
        position += 5 + length
    return bytes(collected)


def server_certificates(data: bytes) -> list[bytes]:
    """DER certificates from the server's side of a handshake, leaf first; [] if there is no Certificate message.

    Raises ProtocolError when the bytes do not start with a TLS handshake record.
    """
    if len(data) < 5 or data[0] != CONTENT_HANDSHAKE or data[1] != 3:
        raise ProtocolError("not a TLS handshake record")
    handshake = _handshake_bytes(data)
    position = 0
    while position + 4 <= len(handshake):
        kind = handshake[position]
        length = int.from_bytes(handshake[position + 1 : position + 4], "big")
        body = handshake[position + 4 : position + 4 + length]
        if kind == HANDSHAKE_CERTIFICATE:
            return _certificate_list(body)
        position += 4 + length
    return []


def _certificate_list(body: bytes) -> list[bytes]:
    if len(body) < 3:
        return []
    end = min(len(body), 3 + int.from_bytes(body[:3], "big"))
    certificates, position = [], 3
    while position + 3 <= end:
        length = int.from_bytes(body[position : position + 3], "big")
        if position + 3 + length > end:
            break  # cut short by the capture: keep the complete ones
        certificates.append(body[position + 3 : position + 3 + length])
        position += 3 + length
    return certificates
