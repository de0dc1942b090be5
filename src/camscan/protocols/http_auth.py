"""HTTP authentication (RFC 7617 Basic, RFC 7616 Digest with MD5): reading challenges, answering them.

Sans-IO: the client nonce is passed in, so the same inputs always give the same header.
"""

from __future__ import annotations

import base64
import hashlib
import re

from camscan.protocols import ProtocolError

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", nonce="y", qop="auth"`` -> ("digest", {realm: x, nonce: y, qop: auth}).

    Only the first challenge of a header is read; raises ProtocolError on anything else.
    """
    scheme, _, rest = header.strip().partition(" ")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", scheme):
        raise ProtocolError(f"not an authentication challenge: {header[:60]!r}")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            break
        name, value = match.groups()
        if name.lower() in params:  # the next challenge of a combined header starts here
            break
        params[name.lower()] = value[1:-1].replace('\\"', '"') if value.startswith('"') else value
        position = match.end()
    return scheme.lower(), params


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - RFC 7616 MD5 digest


def authorization(scheme: str, params: dict[str, str], method: str, uri: str, user: str, password: str,
                  cnonce: str, count: int = 1) -> str:
    """The ``Authorization`` value answering a Basic or MD5 Digest challenge."""
    if scheme == "basic":
        return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    if scheme != "digest":
        raise ProtocolError(f"unsupported authentication scheme {scheme!r}")
    if params.get("algorithm", "MD5").upper() != "MD5" or "nonce" not in params:
        raise ProtocolError(f"unsupported digest challenge {params!r}")
    realm, nonce = params.get("realm", ""), params["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    fields = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in qops:
        nc = f"{count:08x}"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    fields.append(f'response="{response}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(fields)
