"""Generic identification through the maker catalogue: no vendor is named in this code.

Three resolvers read every observation (DESIGN.md, "Identification in layers", layer 2):
a field that *is* a company name resolves through ``Catalogue.key_for_name``; free text is
scanned for the catalogue's brand names at word boundaries; model numbers resolve through
the catalogue's model families. A fourth reads what a device says it is (``kinds.yaml``)
when no maker does, and a video track in an RTSP session description marks a camera unless
a media server's own marker says otherwise. Each result is evidence with its own weight;
the rules in ``signatures/*.yaml`` still win where they say more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from camscan.fingerprint.signatures import SignatureError, load_yaml, signatures_dir
from camscan.fingerprint.vendors import SHORT_TOKEN, Catalogue, ModelFamily, default_catalogue, name_words
from camscan.model import Evidence, Observation

NAME_WEIGHT = 0.8  # a field whose whole value is the maker's name
TOKEN_WEIGHT = 0.6  # the brand's name inside free text
CONTEXT_TOKEN_WEIGHT = 0.5  # a short or common-word brand name, beside a word for video gear
BODY_TOKEN_WEIGHT = 0.5  # the only brand a whole page names
MODEL_WEIGHT = 0.55  # a model number of a known product family
VIDEO_TRACK_WEIGHT = 0.5  # an RTSP session description with a video stream

# Fields whose whole value names a company: ONVIF GetDeviceInformation Manufacturer (ONVIF
# Device Management Service Specification 8.4.1), WS-Discovery ONVIF scopes (ONVIF Core 7.3.2.2),
# UPnP Device Architecture 2.0 <manufacturer>, Dahua DHIP "Vendor", and the certificate subject's
# and issuer's O= attribute (RFC 4514).
NAME_FIELDS = frozenset({
    "onvif.manufacturer", "wsd.scope.manufacturer", "wsd.scope.name", "upnp.manufacturer", "dhip.vendor",
})
CERTIFICATE_FIELDS = frozenset({"tls.subject", "tls.issuer"})
# mDNS TXT keys that carry a maker (Bonjour Printing Specification 1.2.1 usb_MFG; DNS-SD
# TXT records of cameras and hubs: manufacturer=, vendor=, mf=).
TXT_NAME_KEYS = frozenset({"manufacturer", "mfg", "usb_mfg", "vendor", "mf", "brand", "make"})
# Free text a device writes about itself; the resolvers read brand names and model numbers here.
TEXT_FIELDS = frozenset({
    "http.server", "html.title", "http.www_authenticate", "rtsp.server", "rtsp.www_authenticate",
    "sdp.session_name", "sdp.tool", "ftp.banner", "telnet.banner", "ssh.banner", "smtp.banner",
    "upnp.friendly_name", "upnp.model_name", "upnp.model_description", "upnp.model_number",
    "ssdp.server", "mdns.instance", "mdns.txt", "dhcp.vendor_class", "dhcp.host_name",
    "nmap.product", "nmap.cpe", "sadp.description", "sadp.device_type", "dhip.device_type",
    "dhip.device_class", "dhip.machine_name", "onvif.model", "onvif.hardware_id",
    "wsd.scope.hardware", "wsd.scope.type", "wsd.scope.extension", "tls.san",
    *NAME_FIELDS, *CERTIFICATE_FIELDS,
})
BODY_FIELDS = frozenset({"http.body"})
# Discovery and streaming fields: a device answering them serves video, so a short or
# common-word brand name there needs no further context.
VIDEO_FIELDS_PREFIXES = ("onvif.", "wsd.", "rtsp.", "sdp.", "sadp.", "dhip.")
VIDEO_CONTEXT = re.compile(
    r"(?<![a-z])(?:(?:ip|net|web|home|dome|ptz|bullet)?cam(?:era)?s?|ipc|nvr|dvr|xvr|hvr|cctv|video|"
    r"surveillance|doorbell|recorder|onvif|rtsp|webcam)(?![a-z])",
    re.IGNORECASE,
)
_RDN_ORG = re.compile(r"(?:^|[,/;+]\s*)O\s*=\s*((?:\\.|[^,/;+\\])+)")
_TXT_PAIR = re.compile(r"^\s*([\w.-]+)\s*=\s*(.+?)\s*$")
MEDIA_SERVER = "media-server"


def _trie_pattern(words: Iterable[str], separator: str = "") -> str:
    """One regular expression matching any of ``words`` (lowercase), factored by common prefix so
    that a search costs about one character test per position however many words there are.
    ``separator`` may stand between two characters where a word had a space or hyphen ("\\x00")."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict) -> str:
        branches = [
            (separator if char == "\x00" else re.escape(char)) + render(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return "(?:" + body + ")?" if "" in node else body

    return render(trie)


@dataclass(frozen=True)
class KindWord:
    """Words by which a device says what it is, with how much that alone says."""

    kind: str
    regex: re.Pattern[str]
    weight: float
    examples: tuple[str, ...]
    counter_examples: tuple[str, ...]
    reference: str


def load_kind_words(path: Path) -> list[KindWord]:
    """``kinds.yaml``: each entry's examples must match and its counter-examples must not."""
    try:
        entries = load_yaml(path.read_text()) or []
    except (OSError, yaml.YAMLError) as error:
        raise SignatureError(f"{path}: cannot read the kind words: {error}") from None
    words = []
    for entry in entries:
        missing = [key for key in ("kind", "pattern", "weight", "examples", "reference") if not entry.get(key)]
        if missing:
            raise SignatureError(f"{path}: {entry.get('kind')!r} needs {', '.join(missing)}")
        word = KindWord(
            str(entry["kind"]), re.compile(str(entry["pattern"]), re.IGNORECASE), float(entry["weight"]),
            tuple(map(str, entry["examples"])), tuple(map(str, entry.get("not") or ())), str(entry["reference"]),
        )
        wrong = [text for text in word.examples if not word.regex.search(text)]
        wrong += [text for text in word.counter_examples if word.regex.search(text)]
        if wrong:
            raise SignatureError(f"{path}: {word.kind} pattern is wrong about {wrong}")
        words.append(word)
    return words


class Resolvers:
    """The catalogue compiled for speed: a trie of brand names, a dict of names, a trie of
    model-family prefixes, and the kind words."""

    def __init__(self, catalogue: Catalogue, kind_words: Sequence[KindWord]) -> None:
        self.catalogue = catalogue
        self.kind_words = tuple(kind_words)
        self._brand_by_form: dict[str, str] = {}
        self._needs_context: set[str] = set()
        for vendor in catalogue.vendors.values():
            if vendor.free_text == "never":
                continue
            for name in vendor.brand_names:
                words = name_words(re.sub(r"\(.*?\)", " ", name))
                form = "".join(words)
                if not form or form in self._brand_by_form:
                    continue
                self._brand_by_form[form] = vendor.key
                if vendor.free_text == "context" or len(form) < SHORT_TOKEN:
                    self._needs_context.add(form)
        spelled = {"\x00".join(name_words(re.sub(r"\(.*?\)", " ", name)))
                   for vendor in catalogue.vendors.values() if vendor.free_text != "never"
                   for name in vendor.brand_names}
        self._brands = re.compile(
            r"(?<![a-z0-9])(?:" + _trie_pattern(sorted(w for w in spelled if w), r"[\s._-]?") + r")(?![a-z0-9])",
            re.IGNORECASE,
        )
        self._families: dict[str, list[ModelFamily]] = {}
        for vendor in catalogue.vendors.values():
            for family in vendor.models:
                for prefix in family.prefixes:
                    self._families.setdefault(prefix.casefold(), []).append(family)
        self._prefix_lengths = sorted({len(prefix) for prefix in self._families}, reverse=True)
        self._prefixes = re.compile(
            r"(?<![a-z0-9])(?:" + _trie_pattern(sorted(self._families)) + ")", re.IGNORECASE
        ) if self._families else None

    # ------------------------------------------------------------------ the three resolvers
    def name_in(self, field: str, value: str) -> str | None:
        """The catalogue key a company-name field names, if the whole name is a catalogued one."""
        if field in NAME_FIELDS:
            return self.catalogue.key_for_name(value)
        if field in CERTIFICATE_FIELDS:
            return next(filter(None, (self.catalogue.key_for_name(org) for org in _RDN_ORG.findall(value))), None)
        if field == "mdns.txt" and (pair := _TXT_PAIR.match(value)) and pair.group(1).casefold() in TXT_NAME_KEYS:
            return self.catalogue.key_for_name(pair.group(2))
        return None

    def brands_in(self, field: str, value: str) -> dict[str, float]:
        """The brands free text names, each with the weight of how it was named."""
        context = field.startswith(VIDEO_FIELDS_PREFIXES) or VIDEO_CONTEXT.search(value) is not None
        found: dict[str, float] = {}
        for match in self._brands.finditer(value):
            form = "".join(name_words(match.group(0)))
            key = self._brand_by_form.get(form)
            if key is None:
                continue
            if form in self._needs_context:
                if context:
                    found.setdefault(key, CONTEXT_TOKEN_WEIGHT)
            else:
                found[key] = TOKEN_WEIGHT
        return found

    def models_in(self, value: str) -> list[tuple[ModelFamily, str]]:
        """Every model number of a catalogued family in ``value``, with its family."""
        found = []
        if self._prefixes is None:
            return found
        for match in self._prefixes.finditer(value):
            # The longest prefix matched; a shorter one that starts the same text has families too.
            start, matched = match.start(), match.group(0).casefold()
            families = [family for length in self._prefix_lengths if length <= len(matched)
                        for family in self._families.get(matched[:length], ())]
            for family in dict.fromkeys(families):
                model = family.pattern.match(value, start)
                end = model.end() if model else 0
                if model and (end == len(value) or not value[end].isalnum()):
                    found.append((family, model.group(0)))
        return found

    def kinds_in(self, value: str) -> list[KindWord]:
        return [word for word in self.kind_words if word.regex.search(value)]

    # ------------------------------------------------------------------ evidence
    def evidence(self, observations: Sequence[Observation], rule_evidence: Iterable[Evidence]) -> list[Evidence]:
        """Catalogue evidence for ``observations``. ``rule_evidence`` is what the rules found: a
        brand a rule already names needs no second word from the catalogue (the rule says more,
        and may name another maker for it), and a media server's own marker rules out reading
        a video track as a camera. A MAC registrant is no such rule: the brand a device states
        is evidence beside it."""
        said = [dict(item.sets) for item in rule_evidence if item.source != "oui"]
        named = {said_one[key] for said_one in said for key in ("vendor", "manufacturer") if key in said_one}
        media_server = any(said_one.get("device_type") == MEDIA_SERVER for said_one in said)
        found: list[Evidence] = []
        for seen in observations:
            if seen.field in TEXT_FIELDS:
                found += self._text_evidence(seen, named)
            elif seen.field in BODY_FIELDS:
                found += self._body_evidence(seen, named)
            elif seen.field == "sdp.media" and "video" in seen.value.split() and not media_server:
                found.append(_evidence(seen, "catalogue:kind:sdp-video", VIDEO_TRACK_WEIGHT, device_type="ip-camera"))
        return found

    def _text_evidence(self, seen: Observation, named: set[str]) -> list[Evidence]:
        found = []
        if key := self.name_in(seen.field, seen.value):
            if key not in named:
                found.append(_evidence(seen, f"catalogue:name:{key}", NAME_WEIGHT, vendor=key))
        else:
            for key, weight in self.brands_in(seen.field, seen.value).items():
                if key not in named:
                    found.append(_evidence(seen, f"catalogue:token:{key}", weight, vendor=key))
        for family, model in self.models_in(seen.value):
            # A family whose brand a rule already names adds the model and kind, not the brand:
            # the rule may know another maker for that brand's line.
            brand = {} if family.vendor in named else {"vendor": family.vendor}
            found.append(_evidence(
                seen, f"catalogue:model:{family.vendor}:{family.family}", MODEL_WEIGHT,
                model=model, device_type=family.kind, **brand,
            ))
        for word in self.kinds_in(seen.value):
            found.append(_evidence(seen, f"catalogue:kind:{word.kind}", word.weight, device_type=word.kind))
        return found

    def _body_evidence(self, seen: Observation, named: set[str]) -> list[Evidence]:
        """A page whose visible text names exactly one catalogued brand names its maker; a page
        naming several (a recorder's list of supported cameras, a shop) names none of them, and
        the addresses of links and scripts (fonts, analytics) name nobody."""
        brands = self.brands_in(seen.field, _visible_text(seen.value))
        if len(brands) != 1:
            return []
        key = next(iter(brands))
        if key in named:
            return []
        return [_evidence(seen, f"catalogue:token:{key}", min(brands[key], BODY_TOKEN_WEIGHT), vendor=key)]


_INVISIBLE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>|\b(?:https?:)?//\S+", re.IGNORECASE | re.DOTALL)


def _visible_text(html: str) -> str:
    """A page's text as a person reads it: without scripts, styles, comments, tags and URLs."""
    return _INVISIBLE.sub(" ", html)


def _evidence(seen: Observation, signature: str, weight: float, **sets: str) -> Evidence:
    return Evidence(
        source=seen.source, field=seen.field, value=seen.value, signature=signature, weight=weight,
        port=seen.port, sets=tuple(sorted(sets.items())),
    )


@cache
def default_resolvers() -> Resolvers:
    return Resolvers(default_catalogue(), load_kind_words(signatures_dir() / "kinds.yaml"))


def catalogue_evidence(
    observations: Sequence[Observation], rule_evidence: Iterable[Evidence], catalogue: Catalogue
) -> list[Evidence]:
    """The generic resolvers' evidence for one device (the identifier's single entry point)."""
    resolvers = default_resolvers()
    if resolvers.catalogue is not catalogue:
        resolvers = _resolvers_for(catalogue)
    return resolvers.evidence(observations, rule_evidence)


@cache
def _resolvers_for(catalogue: Catalogue) -> Resolvers:
    return Resolvers(catalogue, default_resolvers().kind_words)
