"""Keys of the district: the central's and each sensor's RSA key with a self-signed certificate.

Celery's message signing (its ``auth`` serializer) takes RSA keys and X.509 certificates
only (celery.security.key.PrivateKey refuses other keys), so every party has one RSA key:
the central signs tasks with it (Celery verifies them on each sensor against the central's
certificate); a sensor signs the results it publishes with its own, and ``collect``
verifies them against the certificate registered for that sensor. RSA-PSS with SHA-256,
as Celery signs (https://docs.celeryq.dev/en/stable/userguide/security.html#message-signing).
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from camscan.errors import UserError
from camscan.private_files import open_private

KEY_BITS = 3072
CERTIFICATE_DAYS = 3650
_PADDING = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)


class KeyFileError(UserError, ValueError):
    """A key or certificate file cannot be used; the message says which and why."""


def generate_identity(name: str, directory: str | Path) -> tuple[Path, Path]:
    """Write ``name.key`` (private: owner only) and ``name.pem`` (its self-signed certificate) in
    ``directory``; refuses to overwrite a key. Returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key_path, certificate_path = directory / f"{name}.key", directory / f"{name}.pem"
    if key_path.exists():
        raise KeyFileError(f"{key_path} exists already; a key is never overwritten (move it away first)")
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "camscan district")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .sign(key, hashes.SHA256())
    )
    with open_private(key_path) as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode())
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, certificate_path


def load_private_key(path: str | Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise KeyFileError(f"cannot use the key {path}: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError(f"{path} is not an RSA key (Celery's message signing takes RSA keys only)")
    return key


def certificate_text(path: str | Path) -> str:
    """A PEM certificate file's text, checked to hold an RSA certificate."""
    try:
        text = Path(path).read_text()
        certificate = x509.load_pem_x509_certificate(text.encode())
    except (OSError, ValueError) as error:
        raise KeyFileError(f"cannot use the certificate {path}: {error}") from None
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        raise KeyFileError(f"{path} is not an RSA certificate (Celery's message signing takes RSA keys only)")
    return text


def sign(key: rsa.RSAPrivateKey, payload: bytes) -> str:
    """The base64 RSA-PSS/SHA-256 signature of ``payload``."""
    return base64.b64encode(key.sign(payload, _PADDING, hashes.SHA256())).decode()


def verify(certificate_pem: str, payload: bytes, signature: str) -> bool:
    """Whether ``signature`` is the certificate's key's signature of ``payload`` (an RSA key's: no other kind signs)."""
    public_key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    try:
        public_key.verify(base64.b64decode(signature, validate=True), payload, _PADDING, hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True
