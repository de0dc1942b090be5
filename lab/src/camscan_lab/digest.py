"""HTTP Digest access authentication for the lab's servers (RFC 7616, MD5, ``qop=auth``).

Recorders and cameras answer Digest as RFC 7616 §3.3-3.4 describes: a 401 with
``WWW-Authenticate: Digest realm=..., qop="auth", nonce=...``, then a request whose
``Authorization`` carries ``response = MD5(HA1:nonce:nc:cnonce:qop:HA2)`` with
``HA1 = MD5(username:realm:password)`` and ``HA2 = MD5(method:uri)`` (RFC 2617's form,
without ``qop``, is accepted too: older firmware and clients still send it).
"""

from __future__ import annotations

import hashlib
import hmac
import re

_AUTH_PARAM = re.compile(r'([a-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', re.IGNORECASE)


def authorization_params(header: str) -> dict[str, str]:
    """The parameters of a ``Digest`` Authorization header, names lower-cased (empty when not Digest)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _AUTH_PARAM.finditer(rest)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def expected_response(params: dict[str, str], password: str, method: str) -> str:
    """The ``response`` a client knowing *password* computes for the request *params* describe."""
    ha1 = _md5(f"{params.get('username', '')}:{params.get('realm', '')}:{password}")
    ha2 = _md5(f"{method}:{params.get('uri', '')}")
    if params.get("qop") == "auth":
        return _md5(f"{ha1}:{params.get('nonce', '')}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}")
    return _md5(f"{ha1}:{params.get('nonce', '')}:{ha2}")


def response_matches(params: dict[str, str], password: str, method: str) -> bool:
    """Whether the client's ``response`` proves it knows *password* (constant-time comparison)."""
    return hmac.compare_digest(params.get("response", ""), expected_response(params, password, method))
