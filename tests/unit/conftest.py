"""Fixtures shared by the unit tests."""

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _certificate(tmp: Path, key, name: str) -> tuple[Path, Path, bytes]:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "camera.test"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hikvision"),
        ]
    )
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("camera.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path, certificate.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A self-signed RSA and an ECDSA server certificate: name -> (cert path, key path, DER)."""
    tmp = tmp_path_factory.mktemp("certs")
    return {
        "rsa": _certificate(tmp, rsa.generate_private_key(public_exponent=65537, key_size=2048), "rsa"),
        "ecdsa": _certificate(tmp, ec.generate_private_key(ec.SECP256R1()), "ecdsa"),
    }
