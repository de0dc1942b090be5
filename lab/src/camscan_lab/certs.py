"""Self-signed certificates for the lab's HTTPS services, one key per profile.

Certificates carry the profile's subject (issuer = subject, as on real devices) and are
cached in memory and on disk, so only the first lab run on a machine pays for RSA key
generation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_ATTRS = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
}
_FORMAT = 1  # bump to invalidate disk caches when generation changes

_lock = threading.Lock()
_memory: dict[str, tuple[Path, Path]] = {}
_contexts: dict[str, ssl.SSLContext] = {}


def cache_dir() -> Path:
    base = os.environ.get("CAMSCAN_LAB_CACHE") or os.path.join(
        tempfile.gettempdir(), f"camscan-lab-certs-{os.getuid()}"
    )
    path = Path(base)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def subject_name(subject: dict[str, Any]) -> x509.Name:
    attrs = []
    for key, value in subject.items():
        if key not in _ATTRS:
            raise ValueError(f"unknown subject attribute {key!r} (use {sorted(_ATTRS)})")
        attrs.append(x509.NameAttribute(_ATTRS[key], str(value)))
    return x509.Name(attrs)


def _key_id(profile: str, cert: dict[str, Any]) -> str:
    blob = json.dumps({"profile": profile, "cert": cert, "format": _FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _generate(profile: str, cert: dict[str, Any], cert_path: Path, key_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=int(cert.get("key_size", 2048)))
    name = subject_name(cert["subject"])
    start = cert.get("not_before")
    if isinstance(start, str):
        start = dt.datetime.fromisoformat(start)
    elif isinstance(start, dt.date) and not isinstance(start, dt.datetime):
        start = dt.datetime(start.year, start.month, start.day)
    if not isinstance(start, dt.datetime):
        start = dt.datetime(2020, 1, 1)
    start = start.replace(tzinfo=dt.timezone.utc) if start.tzinfo is None else start
    end = start + dt.timedelta(days=int(cert.get("days", 3650)))
    serial = int.from_bytes(hashlib.sha256(profile.encode()).digest()[:8], "big") | 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
    )
    if cert.get("san"):
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(str(n)) for n in cert["san"]]), critical=False
        )
    certificate = builder.sign(key, hashes.SHA256())
    tmp_cert = cert_path.with_name(f"{cert_path.name}.{os.getpid()}.tmp")
    tmp_key = key_path.with_name(f"{key_path.name}.{os.getpid()}.tmp")
    tmp_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    os.chmod(tmp_key, 0o600)
    tmp_cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_key, key_path)
    os.replace(tmp_cert, cert_path)


def cert_files(profile: str, cert: dict[str, Any]) -> tuple[Path, Path]:
    """(certificate PEM, key PEM) paths for *profile*'s cert spec, generating once."""
    kid = _key_id(profile, cert)
    with _lock:
        if kid in _memory:
            return _memory[kid]
        folder = cache_dir()
        cert_path, key_path = folder / f"{profile}-{kid}.crt", folder / f"{profile}-{kid}.key"
        if not (cert_path.exists() and key_path.exists()):
            _generate(profile, cert, cert_path, key_path)
        _memory[kid] = (cert_path, key_path)
        return cert_path, key_path


def server_context(profile: str, cert: dict[str, Any]) -> ssl.SSLContext:
    """A TLS server context presenting *profile*'s certificate (shared per profile)."""
    kid = _key_id(profile, cert)
    with _lock:
        if kid in _contexts:
            return _contexts[kid]
    cert_path, key_path = cert_files(profile, cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:  # accept the older suites scanners still offer
        context.set_ciphers("DEFAULT:@SECLEVEL=1")
    except ssl.SSLError:  # pragma: no cover
        pass
    context.load_cert_chain(str(cert_path), str(key_path))
    with _lock:
        _contexts.setdefault(kid, context)
        return _contexts[kid]
