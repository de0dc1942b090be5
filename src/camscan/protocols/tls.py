"""X.509 certificates a TLS service presents: subject and issuer as evidence."""

from __future__ import annotations

from camscan.model import Observation
from camscan.protocols import ProtocolError, tls_handshake


def parse_certificate(der: bytes, ip: str, port: int, at: float = 0.0) -> list[Observation]:
    """Subject, issuer and subject-alternative names of a DER certificate."""
    # Imported at the first certificate: cryptography's X.509 layer is 20 ms of every scan's start-up.
    from cryptography import x509

    try:
        certificate = x509.load_der_x509_certificate(der)
        subject = certificate.subject.rfc4514_string()
        issuer = certificate.issuer.rfc4514_string()
    except Exception as error:  # noqa: BLE001 - any failure to read peer bytes is a protocol error
        raise ProtocolError(f"unreadable TLS certificate from {ip}:{port}: {error}") from None

    def seen(field: str, value: str) -> Observation:
        return Observation(ip=ip, source="tls", field=field, value=value, port=port, observed_at=at)

    found = [seen("tls.subject", subject), seen("tls.issuer", issuer)]
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found += [seen("tls.san", str(name.value)) for name in names]
    except Exception:  # noqa: BLE001 - a hostile certificate's extensions fail in many ways; subject and issuer stand
        pass
    return found


def read_server_turn(ip: str, port: int, request: bytes, reply: bytes, at: float) -> tuple[list[Observation], str | None] | None:
    """The certificate of an overheard TLS handshake (TLS 1.2 and older send it in the clear)."""
    if reply[:1] != b"\x16" or reply[1:2] != b"\x03":
        return None
    try:
        certificates = tls_handshake.server_certificates(reply)
        return (parse_certificate(certificates[0], ip, port, at) if certificates else []), "tls"
    except ProtocolError:
        return [], "tls"
