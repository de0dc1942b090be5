"""Measure camscan's identification on the blind set (devices.yaml): load, check, score, report.

The set only measures; see README.md beside this file for why no rule may be written from it.
Shared by tests/unit/test_blind.py (floors) and scripts/blind_report.py (the table for the README).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from camscan.fingerprint.identify import Identifier
from camscan.model import Identification, Observation

DEVICES = Path(__file__).with_name("devices.yaml")

# Observation fields camscan's parsers emit (src/camscan/protocols/*.py; nmap import adds nmap.*).
KNOWN_FIELDS = frozenset(
    {
        "http.server", "http.www_authenticate", "http.location", "http.body", "html.title",
        "rtsp.server", "rtsp.www_authenticate", "rtsp.public", "sdp.session_name", "sdp.tool",
        "tls.subject", "tls.issuer", "tls.san",
        "onvif.manufacturer", "onvif.model", "onvif.firmware", "onvif.serial", "onvif.hardware_id",
        "wsd.types", "wsd.scope", "wsd.xaddr",
        "ssdp.server", "ssdp.st", "ssdp.nt", "ssdp.usn", "ssdp.location",
        "upnp.device_type", "upnp.friendly_name", "upnp.manufacturer", "upnp.model_description",
        "upnp.model_name", "upnp.model_number", "upnp.serial_number",
        "mdns.service_type", "mdns.instance", "mdns.hostname", "mdns.port", "mdns.txt",
        "telnet.banner", "ftp.banner", "ssh.banner",
        "dhcp.vendor_class", "dhcp.host_name",
        "dhip.vendor", "dhip.device_type", "dhip.device_class", "dhip.version", "dhip.serial", "dhip.machine_name",
        "sadp.description", "sadp.device_type", "sadp.software_version", "sadp.serial",
        "mac.address", "nmap.product", "nmap.cpe",
    }
)
# Per-kind fields: ONVIF scope kinds (wsd.py) and identifying TXT keys (mdns.py).
KNOWN_FIELD_PATTERN = re.compile(r"^(?:wsd\.scope\.[a-z_]+|mdns\.txt\.[a-z_]+)$", re.IGNORECASE)

# Recorders and cameras are cameras; so are video doorbells and outdoor door stations, which
# carry a camera and stream it (decided for this set, see README.md).
CAMERA_KINDS = frozenset({"ip-camera", "nvr", "dvr", "video-encoder", "doorbell"})
MAKER_KEY = re.compile(r"^[a-z0-9]+$")
SOURCE = re.compile(r"^(?:https?://\S+|[\w.-]+/[\w.-]+(?:#\d+| \S+@[0-9a-f]{40}))$")

# Sources camscan's rules, catalogue and regression set were written from (every `reference:` in
# signatures/ and every `source:` of tests/unit/realworld_banners.yaml, as of this set's date).
# Whole repositories where a file of theirs is cited; single threads where an issue is cited.
EXCLUDED_REPOSITORIES = frozenset(
    {
        "rapid7/recog", "nmap/nmap", "yaklang/yaklang", "urbanadventurer/whatweb", "zmap/ztag",
        "clivebi/nvtscript", "qweasader/gbn", "mageni/mageni", "greenbone/openvas-scanner",
        "intrigueio/intrigue-ident", "ch-bas/cctv-camera-database", "scottlamb/retina", "rroller/dahua",
        "haicam/haicam", "cameronnewman/hikvision-tooling", "fantasticfiasco/axis-discovery-ssdp-js",
        "dootss/shodan-dorks", "daffainfo/allaboutbugbounty", "julienblitte/universalscanner",
        "hammeraj/onvif", "tchellomello/python-amcrest", "jjjj4j/jue", "macchimne/google-dorking",
        "openipc/camerasrnd", "c0dejump/camcheckr", "bluenviron/gortsplib", "intellsoft/hikvision-to-webpage",
        "niemubarok/sparta-tauri", "camiocam/rtsp", "futomi/node-onvif",
    }
)
EXCLUDED_THREADS = frozenset(
    {
        "alexxit/go2rtc#2232", "jazea/onvif.core#55", "supergiovane/node-red-contrib-hikvision-ultimate#24",
        "ullaakut/cameradar#199", "agsh/onvif#29", "blakeblackshear/frigate#9006", "blakeblackshear/frigate#13218",
        "deepch/rtsptoweb#403", "edgexfoundry/device-onvif-camera#412", "evercam/ex_nvr#272",
        "google/exoplayer#9800", "home-assistant/core#148093", "home-assistant/core#174441",
        "home-assistant/core#46822", "home-assistant/core#84551", "home-assistant/core#92308",
        "home-assistant/home-assistant.io#16165", "koush/scrypted#441", "koush/scrypted#1184",
        "luisiam/homebridge-foscamcamera#6", "mpromonet/webrtc-streamer#138", "mpromonet/webrtc-streamer#698",
        "onvif/specs#350",
    }
)


@dataclass(frozen=True)
class Outcome:
    """One device of the set and what camscan made of it."""

    device: dict
    result: Identification

    @property
    def truth(self) -> dict:
        return self.device["truth"]

    @property
    def acceptable_makers(self) -> set[str]:
        """The brand on the box, and the maker behind it where the source names one."""
        return {maker for maker in (self.truth["maker"], self.truth.get("made_by")) if maker}

    @property
    def maker_right(self) -> bool:
        return bool({self.result.vendor, self.result.manufacturer} & self.acceptable_makers)

    @property
    def maker_wrong(self) -> bool:
        """camscan named a maker, the source names one, and they differ."""
        named = {self.result.vendor, self.result.manufacturer} - {None}
        return bool(named and self.acceptable_makers and not named & self.acceptable_makers)


@dataclass
class Measurement:
    """The figures the README reports and the test holds as floors."""

    outcomes: list[Outcome]
    cameras: list[Outcome] = field(init=False)
    others: list[Outcome] = field(init=False)
    named_cameras: list[Outcome] = field(init=False)

    def __post_init__(self) -> None:
        self.cameras = [o for o in self.outcomes if o.truth["camera"]]
        self.others = [o for o in self.outcomes if not o.truth["camera"]]
        self.named_cameras = [o for o in self.cameras if o.truth["maker_named"] and o.truth["maker"]]

    @property
    def maker_hits(self) -> list[Outcome]:
        return [o for o in self.named_cameras if o.maker_right]

    @property
    def camera_hits(self) -> list[Outcome]:
        return [o for o in self.cameras if o.result.is_camera]

    @property
    def false_cameras(self) -> list[Outcome]:
        return [o for o in self.others if o.result.is_camera]

    @property
    def wrong_makers(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.maker_wrong]

    @property
    def maker_recall(self) -> float:
        return len(self.maker_hits) / len(self.named_cameras)

    @property
    def camera_recall(self) -> float:
        return len(self.camera_hits) / len(self.cameras)

    def with_strings(self) -> Measurement:
        """The same figures over the devices that sent a string: MAC-only entries measure the OUI table."""
        return Measurement([o for o in self.outcomes if has_strings(o.device)])


def has_strings(device: dict) -> bool:
    """Whether the device carries an observation other than its MAC address."""
    return any(seen["field"] != "mac.address" for seen in device["observations"])


def load_devices(path: Path = DEVICES) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def problems(devices: list[dict]) -> list[str]:
    """Everything wrong with the set's shape: each entry must be usable as a measurement."""
    found = []
    ids = Counter(device.get("id") for device in devices)
    found += [f"duplicate id {ident}" for ident, count in ids.items() if count > 1]
    for device in devices:
        ident = device.get("id")
        if set(device) - {"id", "source", "observations", "truth", "note"}:
            found.append(f"{ident}: unknown keys {sorted(set(device) - {'id', 'source', 'observations', 'truth', 'note'})}")
        source = str(device.get("source") or "")
        if not SOURCE.match(source):
            found.append(f"{ident}: source {source!r} is not a URL, owner/repo#issue or owner/repo path@commit")
        repository = source.split("#")[0].split(" ")[0].lower()
        if repository in EXCLUDED_REPOSITORIES or source.lower() in EXCLUDED_THREADS:
            found.append(f"{ident}: source {source} is one camscan's rules were written from")
        observations = device.get("observations") or []
        if not observations:
            found.append(f"{ident}: no observations")
        for seen in observations:
            name, value = seen.get("field"), seen.get("value")
            if name not in KNOWN_FIELDS and not KNOWN_FIELD_PATTERN.match(str(name)):
                found.append(f"{ident}: unknown field {name!r}")
            if not isinstance(value, str) or not value:
                found.append(f"{ident}: {name} value {value!r} is not a non-empty string")
        found += [f"{ident}: {problem}" for problem in _truth_problems(device.get("truth") or {})]
    return found


def _truth_problems(truth: dict) -> list[str]:
    found = []
    if set(truth) - {"maker", "made_by", "maker_named", "kind", "camera"}:
        found.append(f"unknown truth keys {sorted(set(truth) - {'maker', 'made_by', 'maker_named', 'kind', 'camera'})}")
    for key in ("maker", "made_by"):
        if truth.get(key) is not None and not MAKER_KEY.match(str(truth[key])):
            found.append(f"truth {key} {truth[key]!r} is not a lowercase vendor key")
    if not isinstance(truth.get("maker_named"), bool) or not isinstance(truth.get("camera"), bool):
        found.append("truth maker_named and camera must be true or false")
    if truth.get("maker_named") and not truth.get("maker"):
        found.append("maker_named is true but no maker is given")
    if not isinstance(truth.get("kind"), str) or not re.fullmatch(r"[a-z][a-z-]*", truth.get("kind") or ""):
        found.append(f"truth kind {truth.get('kind')!r} is not a lowercase kind")
    elif (truth["kind"] in CAMERA_KINDS) != truth.get("camera"):
        found.append(f"kind {truth['kind']} disagrees with camera={truth.get('camera')}")
    return found


def measure(devices: list[dict], identifier: Identifier | None = None) -> Measurement:
    """Identify each device from its observations alone, as a scan of it would."""
    identifier = identifier or Identifier()
    outcomes = []
    for device in devices:
        observations = [
            Observation(ip="198.18.0.2", source="blind", field=seen["field"], value=seen["value"])
            for seen in device["observations"]
        ]
        outcomes.append(Outcome(device, identifier.identify(observations)))
    return Measurement(outcomes)


def report(measurement: Measurement) -> str:
    """The figures, the breakdowns by maker and by field, and every miss, as Markdown."""
    m, s = measurement, measurement.with_strings()
    lines = [
        f"Devices: {len(m.outcomes)} ({len(m.cameras)} cameras/recorders, {len(m.others)} non-cameras), "
        f"from {len({o.device['source'] for o in m.outcomes})} sources; {len(s.outcomes)} devices "
        f"({len(s.cameras)} cameras/recorders) carry a string other than their MAC address",
        "",
        "| measure | all devices | devices with strings |",
        "| --- | --- | --- |",
        f"| maker recall (cameras whose strings name the maker) | {_share(m.maker_hits, m.named_cameras)} "
        f"| {_share(s.maker_hits, s.named_cameras)} |",
        f"| camera recall (cameras called cameras) | {_share(m.camera_hits, m.cameras)} | {_share(s.camera_hits, s.cameras)} |",
        f"| false cameras (non-cameras called cameras) | {len(m.false_cameras)}/{len(m.others)} "
        f"| {len(s.false_cameras)}/{len(s.others)} |",
        f"| wrong makers (a maker named, not the source's) | {len(m.wrong_makers)}/{len(m.outcomes)} "
        f"| {len(s.wrong_makers)}/{len(s.outcomes)} |",
        "",
        "By maker (devices; cameras; named cameras with the maker found; cameras called cameras):",
        "",
        "| maker | devices | cameras | maker found | called camera |",
        "| --- | --- | --- | --- | --- |",
    ]
    by_maker: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in m.outcomes:
        by_maker[outcome.truth["maker"] or "(unknown)"].append(outcome)
    for maker, group in sorted(by_maker.items(), key=lambda item: (-len(item[1]), item[0])):
        cameras = [o for o in group if o.truth["camera"]]
        named = [o for o in cameras if o.truth["maker_named"] and o.truth["maker"]]
        lines.append(
            f"| {maker} | {len(group)} | {len(cameras)} | {sum(o.maker_right for o in named)}/{len(named)} "
            f"| {sum(o.result.is_camera for o in cameras)}/{len(cameras)} |"
        )
    fields = Counter(name for o in m.outcomes for name in {seen["field"] for seen in o.device["observations"]})
    lines += ["", "By field (devices that carry it):", "", "| field | devices |", "| --- | --- |"]
    lines += [f"| {name} | {count} |" for name, count in sorted(fields.items(), key=lambda item: (-item[1], item[0]))]
    lines += ["", "Misses:", ""]
    lines += [_miss("maker not found", o) for o in m.named_cameras if not o.maker_right]
    lines += [_miss("camera not called a camera", o) for o in m.cameras if not o.result.is_camera]
    lines += [_miss("non-camera called a camera", o) for o in m.false_cameras]
    lines += [_miss("wrong maker", o) for o in m.wrong_makers]
    return "\n".join(lines)


def _share(hits: list[Outcome], of: list[Outcome]) -> str:
    return f"{len(hits)}/{len(of)} = {len(hits) / len(of):.1%}" if of else "0/0"


def _miss(what: str, outcome: Outcome) -> str:
    truth, result = outcome.truth, outcome.result
    # The raw scope URIs repeat what their wsd.scope.<kind> observations say.
    telling = [seen for seen in outcome.device["observations"] if seen["field"] != "wsd.scope"]
    shown = "; ".join(f"{seen['field']}={seen['value'][:60]}" for seen in telling[:4])
    return (
        f"- {what}: `{outcome.device['id']}` (truth {truth['maker']}/{truth['kind']}; got "
        f"{result.vendor}/{result.manufacturer}/{result.device_type}) {shown}"
    )

