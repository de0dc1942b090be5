"""Rapid7 Recog's fingerprint databases (``signatures/recog/*.xml``): reading them, matching their
Ruby regexes in Python, and turning a match into camscan evidence.

The databases are vendored as data at a pinned upstream commit (``signatures/recog/UPSTREAM``,
BSD-2-Clause, ``scripts/refresh_recog.sh``). The XML format, the ``flags`` names, ``pos``/``value``
params with ``{name}`` interpolation and ``_tmp.`` names, and ``_encoding="base64"`` examples are
documented in Recog's README and ``xml/fingerprints.xsd`` (https://github.com/rapid7/recog).
The SNMP databases are vendored for when camscan reads SNMP; no observation reaches them yet.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from xml.etree import ElementTree

from camscan.fingerprint.prefilter import LiteralPrefilter
from camscan.fingerprint.signatures import signatures_dir
from camscan.fingerprint.vendors import Catalogue
from camscan.model import Evidence, Observation

# A Recog match alone: lower than camscan's own specific rules, scaled by Recog's certainty when given.
RECOG_WEIGHT = 0.5


class UntranslatableRegex(ValueError):
    """A Ruby (Onigmo) construct that Python's ``re`` has no equivalent for."""


# Recog's ``flags`` attribute (Recog::Fingerprint::RegexpFactory::FLAG_MAP): Ruby's MULTILINE is
# Python's DOTALL; Ruby's ^ and $ always match at line ends, so every pattern gets re.MULTILINE.
FLAG_MAP = {"REG_ICASE": re.IGNORECASE, "REG_MULTILINE": re.DOTALL, "REG_DOT_NEWLINE": re.DOTALL}
# Ruby's inline option letters: m is Python's s; i and x are the same.
RUBY_INLINE = {"i": "i", "m": "s", "x": "x"}
# Ruby's \d \w \s \b are ASCII-only (Onigmo doc/RE, "Character types"), as with re.ASCII.
BASE_FLAGS = re.MULTILINE | re.ASCII
POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\r\n\v\f", "xdigit": "0-9a-fA-F", "punct": r"!-/:-@\[-`{-~", "word": r"\w",
    "blank": r" \t", "cntrl": r"\x00-\x1f\x7f", "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
}
# Escapes that Python's re reads as Ruby does (outside a character class).
SAME_ESCAPES = set("AbBdDsSwWntrfvae0123456789x")
RUBY_ESCAPES = {"z": r"\Z", "Z": r"(?=\n?\Z)", "h": "[0-9a-fA-F]", "H": "[^0-9a-fA-F]", "e": r"\x1b"}


def translate(pattern: str) -> str:
    """A Ruby regex as the Python ``re`` pattern that matches the same strings.

    Handles ``\\z`` ``\\Z`` ``\\h`` ``\\H``, POSIX bracket classes, ``(?<name>``, Ruby's inline options
    (``(?m)`` is DOTALL; an option mid-pattern holds to the end of its group, alternatives included,
    as Onigmo reads it), and ``{n,m}+`` (a repeat of a repeat in Ruby, not possessive). Raises
    UntranslatableRegex for what Python lacks (``\\G``, ``\\K``, ``\\p{..}``, class intersections).
    """
    out: list[str] = []
    # For each open group: how many ")" the options inserted in it need before its own ")".
    scopes: list[int] = [0]
    index = 0
    length = len(pattern)
    while index < length:
        char = pattern[index]
        if char == "\\":
            out.append(_escape(pattern, index))
            index += 2
        elif char == "[":
            text, index = _char_class(pattern, index)
            out.append(text)
        elif char == "(":
            text, index = _group_open(pattern, index, out, scopes)
            out.append(text)
        elif char == ")":
            out.append(")" * (scopes.pop() + 1) if len(scopes) > 1 else ")")
            index += 1
        elif char == "{" and (repeat := re.match(r"\{\d*,?\d*\}\+", pattern[index:])):
            raise UntranslatableRegex(f"{repeat.group()} repeats a repeat in Ruby; Python reads it as possessive")
        else:
            out.append(char)
            index += 1
    out.append(")" * scopes[0])
    return "".join(out)


def _escape(pattern: str, index: int) -> str:
    letter = pattern[index + 1] if index + 1 < len(pattern) else ""
    if not letter:
        raise UntranslatableRegex("trailing backslash")
    if letter in RUBY_ESCAPES:
        return RUBY_ESCAPES[letter]
    if letter in SAME_ESCAPES or not letter.isascii() or not letter.isalnum():
        return "\\" + letter
    raise UntranslatableRegex(f"\\{letter} has no Python equivalent")


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """A bracket class from ``start`` (its ``[``): the Python text and the index after its ``]``."""
    out = ["["]
    index = start + 1
    if pattern.startswith("^", index):
        out.append("^")
        index += 1
    if pattern.startswith("]", index):  # a leading ] is a literal in both
        out.append(r"\]")
        index += 1
    while index < len(pattern):
        char = pattern[index]
        if char == "]":
            return "".join(out) + "]", index + 1
        if char == "\\":
            letter = pattern[index + 1 : index + 2]
            if letter == "h":
                out.append("0-9a-fA-F")
            elif letter in ("H", "p", "P", "G", "K", "R", "X"):
                raise UntranslatableRegex(f"\\{letter} inside a character class")
            else:
                out.append(_escape(pattern, index) if letter.isalpha() else "\\" + letter)
            index += 2
        elif char == "[":
            posix = re.match(r"\[:(\^?)(\w+):\]", pattern[index:])
            if not posix or posix.group(2) not in POSIX_CLASSES or posix.group(1):
                raise UntranslatableRegex("a nested or negated class inside a character class")
            out.append(POSIX_CLASSES[posix.group(2)])
            index += posix.end()
        elif pattern.startswith("&&", index):
            raise UntranslatableRegex("character class intersection (&&)")
        else:
            out.append(char)
            index += 1
    raise UntranslatableRegex("unterminated character class")


def _group_open(pattern: str, index: int, out: list[str], scopes: list[int]) -> tuple[str, int]:
    """The Python text for a group opening at ``index`` and the index after it."""
    rest = pattern[index:]
    if named := re.match(r"\(\?(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')", rest):
        scopes.append(0)
        return f"(?P<{named.group(1) or named.group(2)}>", index + named.end()
    if options := re.match(r"\(\?([imx]*)(?:-([imx]*))?([:)])", rest):
        on, off, end = options.group(1), options.group(2) or "", options.group(3)
        flags = "".join(RUBY_INLINE[letter] for letter in on)
        if off:
            flags += "-" + "".join(RUBY_INLINE[letter] for letter in off)
        if end == ":":
            scopes.append(0)
            return f"(?{flags}:", index + options.end()
        if not "".join(out) and not off:  # leading options: global, as Python wants them
            return f"(?{flags})", index + options.end()
        # An option mid-pattern holds to the end of the enclosing group.
        scopes[-1] += 1
        return f"(?{flags}:", index + options.end()
    if rest.startswith("(?") and not re.match(r"\(\?(?:[:=!>#]|<[=!])", rest):
        raise UntranslatableRegex(f"group {rest[:6]!r}... has no Python equivalent")
    scopes.append(0)
    return "(", index + 1


@dataclass(frozen=True)
class Param:
    position: int
    name: str
    value: str | None


@dataclass(frozen=True)
class RecogExample:
    value: str
    expect: dict[str, str]


@dataclass(frozen=True)
class Fingerprint:
    """One Recog fingerprint: its database and place in it, its pattern and flags, what it sets.

    The regex is compiled on first use: a scan meets few of the thousands of fingerprints.
    """

    database: str
    index: int
    description: str
    pattern: str
    flags: str | None
    params: tuple[Param, ...]
    examples: tuple[RecogExample, ...]
    certainty: float | None
    untranslatable: str = ""

    @cached_property
    def regex(self) -> re.Pattern[str] | None:
        """The Python regex (None: untranslatable, see ``untranslatable`` or compile_fingerprint)."""
        return compile_fingerprint(self.pattern, self.flags)[0]

    @property
    def id(self) -> str:
        return f"recog:{self.database}:{self.index}"

    @property
    def weight(self) -> float:
        return round(RECOG_WEIGHT * (self.certainty if self.certainty is not None else 1.0), 3)

    def match(self, value: str) -> dict[str, str] | None:
        """What a matching value says (Recog's params, interpolated, without ``_tmp.`` names), or None."""
        if self.regex is None:
            return None
        found = self.regex.search(value)
        if found is None:
            return None
        said: dict[str, str] = {}
        for param in self.params:
            if param.position:
                captured = found.group(param.position)
                if captured is not None:
                    said[param.name] = captured
            elif param.value is not None:
                said[param.name] = param.value
        for name, text in said.items():
            if "{" in text:
                said[name] = _INTERPOLATION.sub(lambda ref: said.get(ref.group(1), ""), text)
        return {name: text for name, text in said.items() if not name.startswith("_tmp.")}


def translate_fingerprint(pattern: str, flags: str | None) -> tuple[str | None, int, str]:
    """The Python pattern and ``re`` flags of a Recog pattern and its flags attribute, or None and why not."""
    compiled_flags = BASE_FLAGS
    for name in filter(None, (flags or "").replace(" ", "").split(",")):
        if name not in FLAG_MAP:
            return None, 0, f"unknown Recog flag {name}"
        compiled_flags |= FLAG_MAP[name]
    try:
        return translate(pattern), compiled_flags, ""
    except UntranslatableRegex as error:
        return None, 0, str(error)


def compile_fingerprint(pattern: str, flags: str | None) -> tuple[re.Pattern[str] | None, str]:
    """The compiled Python regex of a Recog pattern and flags, or None and why not."""
    translated, compiled_flags, why = translate_fingerprint(pattern, flags)
    if translated is None:
        return None, why
    try:
        return re.compile(translated, compiled_flags), ""
    except re.error as error:
        return None, f"Python re rejects the translation: {error}"


def _example(element: ElementTree.Element) -> RecogExample:
    text = element.text or ""
    if element.get("_encoding") == "base64":
        text = base64.b64decode("".join(text.split())).decode("latin-1")
    expect = {name: value for name, value in element.attrib.items() if not name.startswith("_")}
    return RecogExample(text, expect)


def load_database(path: Path) -> list[Fingerprint]:
    """Every fingerprint of one Recog XML database, in file order (Recog's first match wins)."""
    database = path.stem
    fingerprints = []
    for index, element in enumerate(ElementTree.parse(path).getroot().iter("fingerprint")):
        pattern = element.get("pattern", "")
        why = translate_fingerprint(pattern, element.get("flags"))[2]
        params = tuple(Param(int(p.get("pos", "0")), p.get("name", ""), p.get("value")) for p in element.iter("param"))
        certainties = [float(p.value) for p in params if p.name.endswith(".certainty") and p.value]
        if certainty := element.get("certainty"):
            certainties.append(float(certainty))
        fingerprints.append(Fingerprint(
            database=database, index=index, description=(element.findtext("description") or "").strip(),
            pattern=pattern, flags=element.get("flags"), params=params,
            examples=tuple(_example(item) for item in element.iter("example")),
            certainty=min(certainties) if certainties else None, untranslatable=why,
        ))
    return fingerprints


def check_recog_example(fingerprint: Fingerprint, example: RecogExample) -> str | None:
    """Why a Recog example fails its fingerprint (no match, or other param values), or None when it passes."""
    said = fingerprint.match(example.value)
    if said is None:
        reason = compile_fingerprint(fingerprint.pattern, fingerprint.flags)[1]
        why = f" (untranslatable: {reason})" if reason else ""
        return f"{fingerprint.id}: {example.value!r} does not match {fingerprint.pattern!r}{why}"
    wrong = {key: said.get(key) for key, value in example.expect.items() if said.get(key) != value}
    if wrong:
        return f"{fingerprint.id}: {example.value!r} gave {wrong}, expected {example.expect}"
    return None


def vendored_fingerprints() -> list[Fingerprint]:
    """Every fingerprint of every vendored database (those camscan reads and those kept for later)."""
    return [fingerprint for path in sorted(recog_directory().glob("*.xml")) for fingerprint in load_database(path)]


class Database:
    """One Recog database; only the fingerprints whose required literal a value contains run on it."""

    def __init__(self, fingerprints: list[Fingerprint]) -> None:
        self.fingerprints = [item for item in fingerprints if not item.untranslatable]
        self.prefilter = LiteralPrefilter([item.pattern for item in self.fingerprints])

    def first_match(self, value: str) -> tuple[Fingerprint, dict[str, str]] | None:
        """The first fingerprint in file order that matches, as Recog reports one match per database."""
        for position in self.prefilter.candidates(value):
            fingerprint = self.fingerprints[position]
            said = fingerprint.match(value)
            if said is not None:
                return fingerprint, said
        return None


_INTERPOLATION = re.compile(r"\{([\w.]+)\}")  # a param value's {other.param}
_FTP_REPLY_CODE = re.compile(r"^\d{3}[ -]")
_SSH_PREFIX = re.compile(r"^SSH-[\d.]+-")
_X509_SERIAL_NUMBER = re.compile(r"(^|(?<!\\),)2\.5\.4\.5=")


def recog_directory() -> Path:
    return signatures_dir() / "recog"


def ftp_reply_text(banner: str) -> str:
    """Recog's ftp_banners match the greeting text without its 220 reply code (RFC 959 §4.2)."""
    return _FTP_REPLY_CODE.sub("", banner)


def ssh_software_version(banner: str) -> str:
    """Recog's ssh_banners match what follows ``SSH-protoversion-`` (RFC 4253 §4.2)."""
    return _SSH_PREFIX.sub("", banner)


def x509_name(rfc4514: str) -> str:
    """camscan's RFC 4514 name (Python cryptography's form) as Recog's x509 examples spell it:
    the same order and escapes, but serialNumber (2.5.4.5) named SERIALNUMBER."""
    return _X509_SERIAL_NUMBER.sub(r"\1SERIALNUMBER=", rfc4514)


def same(value: str) -> str:
    return value


# camscan observation field → the Recog database that reads it, and the value as Recog expects it.
# tls.subject/issuer: camscan writes RFC 4514 strings (most specific first, comma-separated, ``\,``
# escapes), the form the x509 databases' examples have but for one attribute name (x509_name).
# ssdp.server: a UPnP stack's SSDP SERVER header is the same product token string as its HTTP
# Server header (UPnP Device Architecture 2.0 §1.1.2), which http_servers.xml covers.
FIELD_DATABASES: dict[str, tuple[str, Callable[[str], str]]] = {
    "http.server": ("http_servers", same),
    "ssdp.server": ("http_servers", same),
    "html.title": ("html_title", same),
    "http.www_authenticate": ("http_wwwauth", same),
    "rtsp.www_authenticate": ("http_wwwauth", same),
    "rtsp.server": ("rtsp_servers", same),
    "ftp.banner": ("ftp_banners", ftp_reply_text),
    "ssh.banner": ("ssh_banners", ssh_software_version),
    "telnet.banner": ("telnet_banners", same),
    "tls.subject": ("x509_subjects", x509_name),
    "tls.issuer": ("x509_issuers", x509_name),
    "dhcp.vendor_class": ("dhcp_vendor_class", same),
    "mdns.txt": ("mdns_device-info_txt", same),
    "http.favicon_md5": ("favicons", same),
}

# Recog's hw.device / os.device values → camscan device types (the kinds signatures/*.yaml set).
DEVICE_KINDS = {
    "ip camera": "ip-camera", "web cam": "ip-camera", "camera": "ip-camera", "dvr": "dvr", "nvr": "nvr",
    "video encoder": "video-encoder", "video decoder": "video-decoder", "printer": "printer",
    "multifunction device": "printer", "router": "router", "broadband router": "router",
    "adsl router": "router", "switch": "switch", "wap": "access-point", "firewall": "firewall",
    "nas": "nas", "voip": "phone", "media server": "media-server", "media player": "media-renderer",
    "smart tv": "media-renderer", "media receiver": "media-renderer", "desktop": "computer",
    "laptop": "computer", "hypervisor": "server", "lights out management": "server",
    "access control": "access-control", "print server": "printer", "cloud network video recorder": "nvr",
}


@cache
def default_databases() -> dict[str, Database]:
    """The vendored databases camscan reads, by name."""
    from camscan.datacache import cached

    paths = {name: recog_directory() / f"{name}.xml" for name, _ in FIELD_DATABASES.values()}
    return cached("recog", paths.values(),
                  lambda: {name: Database(load_database(path)) for name, path in sorted(paths.items())})


def recog_evidence(seen: Observation, catalogue: Catalogue) -> Iterator[Evidence]:
    """Evidence from the first fingerprint of the field's Recog database that matches the observation."""
    route = FIELD_DATABASES.get(seen.field)
    if route is None:
        return
    database_name, recog_input = route
    found = default_databases()[database_name].first_match(recog_input(seen.value))
    if found is None:
        return
    fingerprint, said = found
    sets = camscan_claims(said, catalogue)
    if sets:
        yield Evidence(source=seen.source, field=seen.field, value=seen.value, signature=fingerprint.id,
                       weight=fingerprint.weight, port=seen.port, sets=tuple(sorted(sets.items())))


def camscan_claims(said: dict[str, str], catalogue: Catalogue) -> dict[str, str]:
    """What a Recog match says in camscan's terms: vendor key, device type, model.

    The maker comes from ``hw.vendor``, or from ``os.vendor`` when the fingerprint names the OS's
    device kind (an embedded device OS, whose vendor makes the device). ``service.vendor`` never
    names the maker: a web or FTP server product runs on anyone's hardware.
    """
    device = said.get("hw.device") or said.get("os.device")
    kind = DEVICE_KINDS.get(device.lower()) if device else None
    maker_name = said.get("hw.vendor") or (said.get("os.vendor") if said.get("os.device") else None)
    vendor = catalogue.key_for_name(maker_name) if maker_name else None
    maker = catalogue.get(vendor)
    if maker and device and kind not in maker.makes:
        # A kind the catalogued maker does not make: another company of the same name (AVTECH
        # Software's Room Alert monitors are not AVTECH Corporation's recorders), or a product
        # line the catalogue does not know. The kind may still stand; the maker does not.
        vendor = None
    claims: dict[str, str] = {}
    if vendor:
        claims["vendor"] = vendor
        model = said.get("hw.model") or said.get("hw.product")
        if model and any(char.isdigit() for char in model):
            claims["model"] = model
    if kind:
        claims["device_type"] = kind
    return claims
