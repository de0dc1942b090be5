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

from camscan.fingerprint.prefilter import LiteralPrefilter
from camscan.fingerprint.signatures import SignatureError, load_yaml, signatures_dir
from camscan.fingerprint.vendors import SHORT_TOKEN, Catalogue, ModelFamily, default_catalogue
from camscan.model import CAMERA_DEVICE_TYPES, Evidence, Observation
from camscan.registry import discovery_name_fields, discovery_text_fields, video_only_prefixes

NAME_WEIGHT = 0.8  # a field whose whole value is the maker's name
TOKEN_WEIGHT = 0.6  # the brand's name inside free text
CONTEXT_TOKEN_WEIGHT = 0.5  # a short or common-word brand name, beside a word for video gear
BODY_TOKEN_WEIGHT = 0.5  # the only brand a whole page names
MODEL_WEIGHT = 0.55  # a model number of a known product family
VIDEO_TRACK_WEIGHT = 0.5  # an RTSP session description with a video stream

# Fields whose whole value names a company: ONVIF GetDeviceInformation Manufacturer (ONVIF
# Device Management Service Specification 8.4.1), the discovery protocols' (camscan.registry),
# and the certificate subject's and issuer's O= attribute (RFC 4514).
NAME_FIELDS = frozenset({
    "onvif.manufacturer",
    "channel.manufacturer",  # what a recorder reports of the camera on a channel (ISAPI, Dahua RemoteDevice)
    *discovery_name_fields(),
})
CERTIFICATE_FIELDS = frozenset({"tls.subject", "tls.issuer"})
# mDNS TXT keys that carry a maker (Bonjour Printing Specification 1.2.1 usb_MFG; DNS-SD
# TXT records of cameras and hubs: manufacturer=, vendor=, mf=).
TXT_NAME_KEYS = frozenset({"manufacturer", "mfg", "usb_mfg", "vendor", "mf", "brand", "make"})
# Free text a device writes about itself; the resolvers read brand names and model numbers here.
TEXT_FIELDS = frozenset({
    "http.server", "html.title", "http.www_authenticate", "rtsp.server", "rtsp.www_authenticate",
    "sdp.session_name", "sdp.tool", "ftp.banner", "telnet.banner", "ssh.banner", "smtp.banner",
    "dhcp.vendor_class", "dhcp.host_name", "nmap.product", "nmap.cpe", "onvif.model", "onvif.hardware_id",
    "tls.san", "channel.model", *discovery_text_fields(), *NAME_FIELDS, *CERTIFICATE_FIELDS,
})
BODY_FIELDS = frozenset({"http.body"})
# Discovery and streaming fields: a device answering them serves video, so a short or
# common-word brand name there needs no further context.
VIDEO_FIELDS_PREFIXES = ("onvif.", "rtsp.", "sdp.", "channel.", *video_only_prefixes())
# The patterns below and those of kinds.yaml read lowercased text: case-insensitive matching
# costs several times more.
VIDEO_CONTEXT = re.compile(
    r"(?<![a-z])(?:(?:ip|net|web|home|dome|ptz|bullet)?cam(?:era)?s?|ipc|nvr|dvr|xvr|hvr|cctv|video|"
    r"surveillance|doorbell|recorder|onvif|rtsp|webcam)(?![a-z])"
)
_WORD = re.compile(r"[A-Za-z0-9]+")
_LOWER_WORD = re.compile(r"[a-z0-9]+")
_CAMEL_CASE = re.compile(r"(?<=[a-z])(?=[A-Z])")
# Words that, right after a brand's name, say the device is that brand's: "Sony Network Camera".
KIND_LEAD_WORDS = frozenset({
    "network", "ip", "ipcam", "camera", "cam", "video", "nvr", "dvr", "dome", "ptz", "webcam", "security",
    "surveillance", "cctv", "rtsp", "onvif",
})
_RDN_ORG = re.compile(r"(?:^|[,/;+]\s*)O\s*=\s*((?:\\.|[^,/;+\\])+)")
_TXT_PAIR = re.compile(r"^\s*([\w.-]+)\s*=\s*(.+?)\s*$")
MEDIA_SERVER = "media-server"


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
    """``kinds.yaml``: each entry's examples must match and its counter-examples must not. A
    pattern reads lowercased text, so one with a capital letter fails its own examples."""
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
            str(entry["kind"]), re.compile(str(entry["pattern"])), float(entry["weight"]),
            tuple(map(str, entry["examples"])), tuple(map(str, entry.get("not") or ())), str(entry["reference"]),
        )
        wrong = [text for text in word.examples if not word.regex.search(text.lower())]
        wrong += [text for text in word.counter_examples if word.regex.search(text.lower())]
        if wrong:
            raise SignatureError(f"{path}: {word.kind} pattern is wrong about {wrong}")
        words.append(word)
    return words


class Resolvers:
    """The catalogue compiled for speed: brand names and their word-by-word beginnings as sets,
    model-family prefixes by how their first word starts, and the kind words behind a literal prefilter.
    Free text is split into words once; each word costs a few set lookups."""

    def __init__(self, catalogue: Catalogue, kind_words: Sequence[KindWord]) -> None:
        self.catalogue = catalogue
        self.kind_words = tuple(kind_words)
        self._kind_prefilter = LiteralPrefilter([word.regex.pattern for word in self.kind_words])
        self._brand_by_form: dict[str, str] = {}
        self._brand_beginnings: set[str] = set()  # a brand's first words run together: "tp" of "tp link"
        self._needs_context: set[str] = set()
        self._discovery_only: set[str] = set()
        for vendor in catalogue.vendors.values():
            if vendor.free_text == "never":
                continue
            for name in vendor.brand_names:
                words = _words(re.sub(r"\(.*?\)", " ", name))
                form = "".join(words)
                if not form or form in self._brand_by_form:
                    continue
                self._brand_by_form[form] = vendor.key
                self._brand_beginnings.update("".join(words[:count]) for count in range(1, len(words)))
                if vendor.free_text == "context" or len(form) < SHORT_TOKEN:
                    self._needs_context.add(form)
                if vendor.free_text == "discovery":
                    self._discovery_only.add(form)
        self._brand_starts = set(self._brand_by_form) | self._brand_beginnings
        self._video_makers = {key for key, vendor in catalogue.vendors.items() if CAMERA_DEVICE_TYPES & set(vendor.makes)}
        self._families: dict[str, list[ModelFamily]] = {}
        for vendor in catalogue.vendors.values():
            for family in vendor.models:
                for prefix in family.prefixes:
                    self._families.setdefault(prefix.lower(), []).append(family)
        self._prefixes_by_start: dict[str, list[str]] = {}  # first two characters -> prefixes, longest first
        for prefix in sorted(self._families, key=len, reverse=True):
            self._prefixes_by_start.setdefault(prefix[:2], []).append(prefix)
        # What the first word of a model number starts with: three letters of its prefix, or a
        # two-letter prefix word ("DS" of "DS-2CD", "FD" of "FD8136") then a digit or nothing.
        runs = {word.group(0) for prefix in self._families if (word := _WORD.match(prefix))}
        self._word_starts3 = {run[:3] for run in runs if len(run) >= 3}
        self._word_starts2 = {run for run in runs if len(run) == 2}

    # ------------------------------------------------------------------ the resolvers
    def name_in(self, field: str, value: str) -> str | None:
        """The catalogue key a company-name field names, if the whole name is a catalogued one."""
        if field in NAME_FIELDS:
            return self.catalogue.key_for_name(value)
        if field in CERTIFICATE_FIELDS:
            return next(filter(None, (self.catalogue.key_for_name(org) for org in _RDN_ORG.findall(value))), None)
        if field == "mdns.txt" and (pair := _TXT_PAIR.match(value)) and pair.group(1).casefold() in TXT_NAME_KEYS:
            return self.catalogue.key_for_name(pair.group(2))
        return None

    def brands_in(self, field: str, value: str, words: list[str] | None = None) -> dict[str, float]:
        """The brands free text names at word boundaries ("TP-LINK", "TP Link" and "TPLINK" alike),
        longest name first, each with the weight of how it was named."""
        words = _words(value) if words is None else words
        context: bool | None = None
        found: dict[str, float] = {}
        resume = 0
        for position, word in enumerate(words):
            if position < resume or word not in self._brand_starts:
                continue
            form, longest = "", None
            for end in range(position, len(words)):
                form += words[end]
                if form in self._brand_by_form:
                    longest, resume = form, end + 1
                if form not in self._brand_beginnings:
                    break
            if longest is None:
                continue
            key = self._brand_by_form[longest]
            if (longest in self._discovery_only and not field.startswith(VIDEO_FIELDS_PREFIXES)
                    and (resume >= len(words) or words[resume] not in KIND_LEAD_WORDS)):
                continue  # a component maker named outside a device's own reply, and not as its maker
            if longest not in self._needs_context:
                found[key] = TOKEN_WEIGHT
                continue
            if context is None:
                context = field.startswith(VIDEO_FIELDS_PREFIXES) or VIDEO_CONTEXT.search(value.lower()) is not None
            if context:
                found.setdefault(key, CONTEXT_TOKEN_WEIGHT)
        return found

    def models_in(self, value: str, words: list[str] | None = None) -> list[tuple[ModelFamily, str]]:
        """Every model number of a catalogued family in ``value``, with its family. Only a value
        with a word that starts like a family prefix is searched for where that word stands."""
        words = _words(value) if words is None else words
        if not self._has_model_start(words):
            return []
        lowered = value.lower()
        if len(lowered) != len(value):  # a letter whose lowercase is longer: compare in place instead
            lowered = "".join(char.lower()[:1] for char in value)
        found = []
        for match in _LOWER_WORD.finditer(lowered):
            start = match.start()
            prefixes = self._prefixes_by_start.get(lowered[start : start + 2])
            if not prefixes:
                continue
            families = [family for prefix in prefixes if lowered.startswith(prefix, start) for family in self._families[prefix]]
            for family in dict.fromkeys(families):
                model = family.pattern.match(value, start)
                end = model.end() if model else 0
                if model and (end == len(value) or not value[end].isalnum()):
                    found.append((family, model.group(0)))
        return found

    def _has_model_start(self, words: list[str]) -> bool:
        """Whether any word may start a model number: three letters of a prefix, or a two-letter
        prefix word then a digit or nothing. This runs on every value, so it is one plain loop."""
        starts3, starts2 = self._word_starts3, self._word_starts2
        for word in words:
            if word[:3] in starts3 or (word[:2] in starts2 and (len(word) == 2 or word[2].isdigit())):
                return True
        return False

    def kinds_in(self, value: str, lowered: str | None = None) -> list[KindWord]:
        """The kind words ``value`` uses."""
        lowered = value.lower() if lowered is None else lowered
        words = self.kind_words
        return [words[position] for position in self._kind_prefilter.candidates(lowered)
                if words[position].regex.search(lowered)]

    # ------------------------------------------------------------------ evidence
    def evidence(self, observations: Sequence[Observation], rule_evidence: Iterable[Evidence]) -> list[Evidence]:
        """Catalogue evidence for ``observations``. ``rule_evidence`` is what the rules found: a
        brand a rule already names needs no second word from the catalogue (the rule says more,
        and may name another maker for it), nor an observation's kind a rule already gives, and a
        media server's own marker rules out reading a video track as a camera. A MAC registrant
        is no such rule: the brand a device states is evidence beside it."""
        rules = [item for item in rule_evidence if item.source != "oui"]
        said = [dict(item.sets) for item in rules]
        named = {said_one[key] for said_one in said for key in ("vendor", "manufacturer") if key in said_one}
        media_server = any(said_one.get("device_type") == MEDIA_SERVER for said_one in said)
        # What a rule says about an observation's kind (and model), the catalogue need not say again.
        typed = {(item.field, item.value): "model" in said_one for item, said_one in zip(rules, said)
                 if "device_type" in said_one}
        found: list[Evidence] = []
        for seen in observations:
            if seen.field in TEXT_FIELDS:
                found += self._text_evidence(seen, named, typed.get((seen.field, seen.value)))
            elif seen.field in BODY_FIELDS:
                found += self._body_evidence(seen, named)
        media_server = media_server or any(("device_type", MEDIA_SERVER) in item.sets for item in found)
        found += [
            _evidence(seen, "catalogue:kind:sdp-video", VIDEO_TRACK_WEIGHT, device_type="ip-camera")
            for seen in observations
            if seen.field == "sdp.media" and "video" in seen.value.split() and not media_server
        ]
        return found

    def _text_evidence(self, seen: Observation, named: set[str], modelled: bool | None) -> list[Evidence]:
        """``modelled`` is None when no rule gave this observation's kind, else whether one also
        gave its model."""
        found = []
        words = _words(seen.value)
        if key := self.name_in(seen.field, seen.value):
            if key not in named:
                found.append(_evidence(seen, f"catalogue:name:{key}", NAME_WEIGHT, vendor=key))
        else:
            for key, weight in self.brands_in(seen.field, seen.value, words).items():
                if key not in named:
                    found.append(_evidence(seen, f"catalogue:token:{key}", weight, vendor=key))
        for family, model in () if modelled and named else self.models_in(seen.value, words):
            # A family whose brand a rule already names adds the model and kind, not the brand:
            # the rule may know another maker for that brand's line.
            brand = {} if family.vendor in named else {"vendor": family.vendor}
            found.append(_evidence(
                seen, f"catalogue:model:{family.vendor}:{family.family}", MODEL_WEIGHT,
                model=model, device_type=family.kind, **brand,
            ))
        for word in () if modelled is not None else self.kinds_in(seen.value):
            found.append(_evidence(seen, f"catalogue:kind:{word.kind}", word.weight, device_type=word.kind))
        return found

    def _body_evidence(self, seen: Observation, named: set[str]) -> list[Evidence]:
        """A page that names exactly one maker of video gear, in its text, scripts or file names
        ("lorex_webplugin.exe"), names its maker; a page naming several (a recorder's list of
        supported cameras, a shop) names none of them, and the browser, plug-in or web font a
        camera's page asks for (Microsoft, Apple, Google) is not its maker."""
        brands = {key: weight for key, weight in self.brands_in(seen.field, seen.value).items() if key in self._video_makers}
        if len(brands) != 1:
            return []
        key = next(iter(brands))
        if key in named:
            return []
        return [_evidence(seen, f"catalogue:token:{key}", min(brands[key], BODY_TOKEN_WEIGHT), vendor=key)]


def _words(text: str) -> list[str]:
    """Text as lowercase alphanumeric words, as brand names and model prefixes are compared;
    a capital after a small letter starts a word ("AvigilonOnvifNvt", "DahuaRtsp")."""
    return _LOWER_WORD.findall(_CAMEL_CASE.sub(" ", text).lower())


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
