"""Combining the evidence of every matching signature into one identification."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future

from camscan.fingerprint.attribution import attribute
from camscan.fingerprint.enterprises import enterprise_organisation, registry
from camscan.fingerprint.prefilter import LiteralPrefilter
from camscan.fingerprint.recog import default_databases, recog_evidence
from camscan.fingerprint.resolvers import catalogue_evidence, default_resolvers
from camscan.fingerprint.signatures import Rule, default_rules
from camscan.fingerprint.vendors import Catalogue, default_catalogue, oui_organisation, oui_registry
from camscan.model import CAMERA_DEVICE_TYPES, SECURITY_DEVICE_TYPES, Evidence, Identification, Observation

OUI_WEIGHT = 0.6
# A sysObjectID is the maker's own choice of OID (RFC 3418), a firmware detail rather than a
# label: it says more than a MAC prefix, less than a discovery reply naming the model.
ENTERPRISE_WEIGHT = 0.75
DEFAULT_TYPE_WEIGHT = 0.3
# A recorder reports a channel's camera in the camera's own words (ISAPI sourceInputPortDescriptor
# model/firmwareVersion, Dahua RemoteDevice Vendor/DeviceType/Version): they are read with the
# rules of the ONVIF device information fields that carry the same facts.
READ_AS = {"channel.manufacturer": "onvif.manufacturer", "channel.model": "onvif.model",
           "channel.firmware": "onvif.firmware"}
MAC_FIELDS = ("mac.address", "channel.mac")
# An SSDP NT (NOTIFY) or ST (answer to camscan's ssdp:all search) names each device type a host
# has, as urn:schemas-upnp-org:device:<type>:<v> (UPnP Device Architecture 2.0 §1.2.2, §1.3.3):
# where no rule of its own matches, it is read with the rules of the description's <deviceType>.
ALSO_READ_AS = {"ssdp.nt": "upnp.device_type", "ssdp.st": "upnp.device_type"}


def load_identification_data() -> None:
    """Everything identification reads: the rules, Recog's databases, the catalogue and its
    resolvers, the IANA and IEEE registries (each from the per-user cache once built)."""
    default_rules()
    default_databases()
    default_catalogue()
    default_resolvers()
    registry()
    oui_registry()


_loading: Future[None] | None = None


def start_loading() -> Future[None]:
    """:func:`load_identification_data` in a thread of its own, once per process: a scan starts
    sweeping meanwhile (its first identification waits for the future). The thread is not a
    daemon, so a scan that ends first still leaves the cache written, not half-written."""
    global _loading
    if _loading is None:
        loading = _loading = Future()

        def load() -> None:
            try:
                load_identification_data()
            except BaseException as error:  # handed to whoever waits
                loading.set_exception(error)
            else:
                loading.set_result(None)

        threading.Thread(target=load, name="camscan-identification-data").start()
    return _loading


def noisy_or(weights: Iterable[float]) -> float:
    """The chance at least one of several independent signs is right."""
    doubt = 1.0
    for weight in weights:
        doubt *= 1.0 - weight
    return 1.0 - doubt


class Identifier:
    """Matches observations against the rules and weighs what they say."""

    def __init__(self, rules: Sequence[Rule] | None = None, catalogue: Catalogue | None = None,
                 recog: bool = True) -> None:
        """``rules`` (default: signatures/), ``catalogue`` (default: signatures/vendors.yaml) and
        ``recog`` (Recog's databases) are the layers; tests leave some out to measure the others."""
        self.catalogue = catalogue if catalogue is not None else default_catalogue()
        self.recog = recog
        self._rules: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules if rules is not None else default_rules():
            self._rules[rule.field].append(rule)
        self._prefilters = {
            field: LiteralPrefilter([rule.pattern for rule in field_rules])
            for field, field_rules in self._rules.items()
        }

    def match(self, field: str, value: str) -> list[tuple[Rule, dict[str, str]]]:
        """Every rule that matches a value of a field, with what each says."""
        field = READ_AS.get(field, field)
        found = self._match_rules(field, value)
        if not found and field in ALSO_READ_AS:
            found = self._match_rules(ALSO_READ_AS[field], value)
        return found

    def _match_rules(self, field: str, value: str) -> list[tuple[Rule, dict[str, str]]]:
        found = []
        prefilter = self._prefilters.get(field)
        for position in prefilter.candidates(value) if prefilter else ():
            rule = self._rules[field][position]
            said = rule.match(value)
            if said is not None:
                found.append((rule, said))
        return found

    def evidence(self, observations: Iterable[Observation]) -> list[Evidence]:
        """Evidence from every matching rule, the organisations the IEEE (a MAC's OUI) and IANA (an
        SNMP sysObjectID's enterprise number) registries name, Recog's databases, and the catalogue."""
        observations = list(observations)
        collected: dict[tuple[str, str, str], Evidence] = {}
        for seen in observations:
            if seen.field in MAC_FIELDS:
                self._oui_evidence(seen, collected)
                continue
            if seen.field == "snmp.sys_object_id":
                self._enterprise_evidence(seen, collected)
            own = list(self._rule_evidence(seen))
            # Recog's databases speak where camscan's own, more specific rules are silent.
            _keep(collected, own or (recog_evidence(seen, self.catalogue) if self.recog else ()))
        _keep(collected, catalogue_evidence(observations, list(collected.values()), self.catalogue))
        return list(collected.values())

    def _rule_evidence(self, seen: Observation) -> Iterator[Evidence]:
        for rule, said in self.match(seen.field, seen.value):
            yield Evidence(
                source=seen.source, field=seen.field, value=seen.value, signature=rule.id,
                weight=rule.weight, port=seen.port, sets=tuple(sorted(said.items())),
            )

    def _oui_evidence(self, seen: Observation, collected: dict) -> None:
        org = oui_organisation(seen.value)
        if org and (vendor := self.catalogue.vendor_for_org(org)):
            collected[("oui", "mac.oui_org", org)] = Evidence(
                source="oui", field="mac.oui_org", value=org, signature=f"ieee-oui:{vendor}",
                weight=OUI_WEIGHT, sets=(("vendor", vendor),),
            )

    def _enterprise_evidence(self, seen: Observation, collected: dict) -> None:
        registered = enterprise_organisation(seen.value)
        if registered and (vendor := self.catalogue.vendor_for_org(registered[1])):
            value = f"{registered[0]} {registered[1]}"
            collected[("iana-pen", "snmp.enterprise", value)] = Evidence(
                source=seen.source, field="snmp.enterprise", value=value, signature=f"iana-pen:{vendor}",
                weight=ENTERPRISE_WEIGHT, port=seen.port, sets=(("vendor", vendor),),
            )

    def identify(self, observations: Iterable[Observation]) -> Identification:
        """The most likely vendor, maker, model, firmware and device type, with confidence and s.889 attribution."""
        observations = list(observations)
        evidence = self.evidence(observations)
        claims = [(item, dict(item.sets)) for item in evidence]

        by_maker: dict[str, list[float]] = defaultdict(list)
        for item, said in claims:
            maker = said.get("manufacturer") or (self.catalogue.manufacturer_of(said["vendor"]) if "vendor" in said else None)
            if maker:
                by_maker[maker].append(item.weight)
        scores = {maker: noisy_or(weights) for maker, weights in by_maker.items()}
        manufacturer = max(scores, key=lambda maker: (scores[maker], len(by_maker[maker]), maker), default=None)

        def agrees(said: dict[str, str]) -> bool:
            maker = said.get("manufacturer") or (self.catalogue.manufacturer_of(said["vendor"]) if "vendor" in said else None)
            return maker is None or maker == manufacturer

        supporting = [(item, said) for item, said in claims if agrees(said)]
        vendor = self._brand(manufacturer, supporting)
        device_type = self._device_type(manufacturer, vendor, supporting, observations)
        owners = {parent.key for parent in self.catalogue.parents(manufacturer)} if manufacturer else set()
        rebadger = self._camera_brand_from_oui(claims, manufacturer, owners) if device_type in CAMERA_DEVICE_TYPES else None
        if rebadger:
            vendor = rebadger
        if manufacturer:
            # A rebadging brand's MAC agrees with the maker's firmware: it is no conflict.
            # Nor is the MAC of the maker's parent company.
            total = sum(score for maker, score in scores.items() if maker != rebadger and maker not in owners)
            confidence = scores[manufacturer] * scores[manufacturer] / total
        else:
            confidence = noisy_or(item.weight for item, said in supporting if said.get("device_type") == device_type) if device_type else 0.0
        # Strongest first; ties in a fixed order, so a replay or re-identification reads the same.
        evidence = sorted(evidence, key=lambda item: (-item.weight, item.field, item.value, item.signature))
        attribution = attribute(vendor, manufacturer, evidence, self.catalogue)
        return Identification(
            vendor=vendor,
            manufacturer=manufacturer,
            model=self._best(supporting, "model"),
            firmware=self._best(supporting, "firmware"),
            device_type=device_type,
            confidence=round(confidence, 2),
            evidence=evidence,
            ndaa_889=attribution.ndaa_889,
            ndaa_basis=attribution.basis,
        )

    def _brand(self, manufacturer: str | None, supporting) -> str | None:
        """The brand on the box: a rebadging brand when evidence names one, else the maker."""
        brands: dict[str, float] = defaultdict(float)
        for item, said in supporting:
            if "vendor" in said and said["vendor"] != manufacturer:
                brands[said["vendor"]] = max(brands[said["vendor"]], item.weight)
        return max(brands, key=brands.__getitem__) if brands else manufacturer

    def _camera_brand_from_oui(self, claims, manufacturer: str | None, owners: set[str]) -> str | None:
        """A brand whose registered MAC sits on another maker's camera firmware: a rebadged unit.

        Only a brand documented as that maker's reseller, or a diversified company that sells
        cameras among other things, counts; the MAC of a maker that makes nothing but its own
        security gear on someone else's firmware is a conflict instead,
        and the MAC of the maker's own parent company (Motorola Solutions holds Avigilon's
        block) leaves the brand the device states.
        """
        for item, said in claims:
            brand = self.catalogue.get(said.get("vendor")) if item.source == "oui" else None
            if not brand or brand.key == manufacturer or not CAMERA_DEVICE_TYPES & set(brand.makes):
                continue
            if brand.key in owners:
                continue  # the maker's parent company holds its MAC block: the device's own brand stands
            if brand.manufactured_by == manufacturer or not set(brand.makes) <= SECURITY_DEVICE_TYPES:
                return brand.key
        return None

    def _device_type(self, manufacturer: str | None, brand: str | None, supporting,
                     observations: list[Observation]) -> str | None:
        """The kind the evidence votes for; the brand's default kind (else its maker's) where the
        catalogue gives one: a Lorex brand says camera-side although its maker Dahua does not."""
        votes: dict[str, list[float]] = defaultdict(list)
        for item, said in supporting:
            if "device_type" in said:
                votes[said["device_type"]].append(item.weight)
        maker = self.catalogue.get(manufacturer)
        default_device_type = next((vendor.default_device_type for vendor in (self.catalogue.get(brand), maker)
                                    if vendor and vendor.default_device_type), None)
        if default_device_type:
            votes[default_device_type].append(DEFAULT_TYPE_WEIGHT)
        elif maker and "ip-camera" in maker.makes and any(_serves_video(seen.field) for seen in observations):
            # A video stream or video discovery answer from a maker that sells cameras among other things.
            votes["ip-camera"].append(DEFAULT_TYPE_WEIGHT)
        if not votes:
            return None
        return max(votes, key=lambda kind: (noisy_or(votes[kind]), kind))

    @staticmethod
    def _best(supporting, key: str) -> str | None:
        values = [(item.weight, said[key]) for item, said in supporting if said.get(key)]
        return max(values)[1] if values else None


def _serves_video(field: str) -> bool:
    """An RTSP answer or session description, or an ONVIF device or WS-Discovery ONVIF scope
    (ONVIF Core 7.3.2.2): video gear."""
    return field.startswith(("rtsp.", "sdp.", "onvif.", "wsd.scope."))


def _keep(collected: dict[tuple[str, str, str], Evidence], found: Iterable[Evidence]) -> None:
    """Add evidence; the same thing said on several ports is one piece of evidence, from the
    lowest port: the same whichever conversation finished first."""
    for item in found:
        key = (item.signature, item.field, item.value)
        if key not in collected or _port_rank(item.port) < _port_rank(collected[key].port):
            collected[key] = item


def _port_rank(port: int | None) -> int:
    return -1 if port is None else port
