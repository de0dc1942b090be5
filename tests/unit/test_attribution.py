"""NDAA s.889 attribution: coverage follows the real maker, with the evidence and references that decided it."""

from __future__ import annotations

from pathlib import Path

import pytest

from camscan.fingerprint.attribution import attribute
from camscan.fingerprint.identify import Identifier
from camscan.fingerprint.signatures import SignatureError
from camscan.fingerprint.vendors import Catalogue, default_catalogue
from camscan.model import Evidence, Observation

IDENTIFIER = Identifier()
CATALOGUE = default_catalogue()
IP = "198.18.0.10"


def seen(field: str, value: str, port: int | None = None) -> Observation:
    return Observation(IP, field.split(".")[0], field, value, port)


def identify(*observations: Observation):
    return IDENTIFIER.identify(observations)


@pytest.mark.parametrize("covered", ["huawei", "zte", "hytera", "hikvision", "dahua"])
def test_the_named_companies_are_covered_with_a_reason(covered):
    vendor = CATALOGUE.get(covered)
    assert vendor.ndaa_889 is True
    assert "s.889(f)(3)" in vendor.ndaa_889_reference


@pytest.mark.parametrize("subsidiary, owner", [("ezviz", "hikvision"), ("hilook", "hikvision"),
                                               ("hisilicon", "huawei"), ("huaray", "dahua"), ("imou", "dahua")])
def test_subsidiaries_are_covered_through_their_parent(subsidiary, owner):
    assert CATALOGUE.covering_parent(subsidiary) == owner
    assert CATALOGUE.get(subsidiary).ndaa_889 is True


@pytest.mark.parametrize("brand, maker", [("amcrest", "dahua"), ("lorex", "dahua"), ("cpplus", "dahua"),
                                          ("lts", "hikvision"), ("annke", "hikvision"), ("ezviz", "hikvision")])
def test_oem_brands_are_made_by_their_maker_and_each_relation_has_a_reference(brand, maker):
    assert CATALOGUE.manufacturer_of(brand) == maker
    relation = CATALOGUE.oem_relation(maker, brand)
    assert relation is not None and relation.lines is None and relation.reference


def test_a_partial_oem_relation_does_not_make_the_whole_brand():
    assert CATALOGUE.manufacturer_of("honeywell") == "honeywell"
    assert CATALOGUE.oem_relation("dahua", "honeywell").lines
    assert CATALOGUE.get("honeywell").ndaa_889 is False


def test_every_oem_relation_points_at_a_catalogued_brand_with_a_reference():
    for (maker, brand), relation in CATALOGUE.oem.items():
        assert maker in CATALOGUE.vendors and brand in CATALOGUE.vendors
        assert relation.reference.strip(), (maker, brand)


def test_rebadged_dahua_is_covered_through_its_maker():
    result = identify(seen("rtsp.server", "Dahua Rtsp Server", 554), seen("mac.address", "00:1f:54:01:02:03"))
    assert (result.vendor, result.manufacturer, result.ndaa_889) == ("lorex", "dahua", True)
    assert result.ndaa_basis.startswith("manufacturer dahua (rtsp.server 'Dahua Rtsp Server' via signature ")
    assert "Lorex is a Dahua OEM brand: " in result.ndaa_basis and "ipvm.com/reports/dahua-oem" in result.ndaa_basis
    assert "s.889(f)(3)(B)" in result.ndaa_basis


def test_rebadged_hikvision_from_the_resellers_mac_is_covered():
    result = identify(seen("http.server", "App-webs/", 80), seen("mac.address", "14:2f:fd:01:02:03"))
    assert (result.vendor, result.manufacturer, result.ndaa_889) == ("lts", "hikvision", True)
    assert "LTS (LT Security) is a Hikvision OEM brand" in result.ndaa_basis


def test_honeywell_branded_dahua_firmware_names_the_relabelled_line():
    result = identify(seen("rtsp.server", "Dahua Rtsp Server", 554), seen("mac.address", "00:1f:55:01:02:03"))
    assert (result.vendor, result.manufacturer, result.ndaa_889) == ("honeywell", "dahua", True)
    assert "Performance Series" in result.ndaa_basis


def test_a_subsidiarys_own_device_names_the_parent():
    result = identify(seen("http.server", "Cross Web Server", 80))
    assert (result.manufacturer, result.ndaa_889) == ("hisilicon", True)
    assert "Huawei subsidiary" in result.ndaa_basis


def test_an_uncovered_maker_says_why_not():
    result = identify(seen("tls.subject", "CN=AXIS P3245-V,O=Axis Communications AB", 443),
                      seen("mac.address", "ac:cc:8e:01:02:03"))
    assert (result.manufacturer, result.ndaa_889) == ("axis", False)
    assert "is not Huawei, ZTE, Hytera, Hikvision, Dahua" in result.ndaa_basis


def test_unknown_maker_is_null_not_false():
    result = identify(seen("tcp.open", "554", 554), seen("rtsp.status", "401 DESCRIBE", 554))
    assert result.manufacturer is None and result.ndaa_889 is None
    assert result.ndaa_basis.startswith("maker unknown")


def test_a_maker_missing_from_the_catalogue_is_unknown():
    assert attribute("acme", "acme", [], CATALOGUE).ndaa_889 is None


def test_long_and_hostile_evidence_values_are_shortened_on_one_line():
    hostile = Evidence("http", "http.server", "App-webs/\n" + "x" * 500, "hikvision-app-webs", 0.8, 80,
                       (("manufacturer", "hikvision"),))
    basis = attribute("hikvision", "hikvision", [hostile], CATALOGUE).basis
    assert "\n" not in basis and "x" * 100 not in basis


def write_catalogue(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vendors.yaml"
    path.write_text(text)
    return path


MAKER = "maker:\n  name: Maker\n  ndaa_889: true\n  ndaa_889_reference: named\n"


@pytest.mark.parametrize("text, message", [
    (MAKER + "  oem_brands:\n    - brand: ghost\n      reference: r\n", "unknown vendor 'ghost'"),
    (MAKER + "  oem_brands:\n    - brand: b\nb:\n  name: B\n", "without a reference"),
    (MAKER + "  oem_brands: [{brand: b, reference: r}]\nother:\n  name: O\n  oem_brands: [{brand: b, reference: r}]\n"
     "b:\n  name: B\n", "wholly made by both"),
    (MAKER + "child:\n  name: C\n  parent: maker\n  ndaa_889: false\n", "owned by covered maker"),
    ("x:\n  name: X\n  ndaa_889: true\n", "without an ndaa_889_reference"),
    ("x:\n  name: X\n  manufactured_by: y\n", "unknown field"),
])
def test_inconsistent_catalogues_are_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(SignatureError, match=message):
        Catalogue.load(write_catalogue(tmp_path, text))


def test_a_vendor_with_an_empty_name_is_named_by_its_key(tmp_path):
    """``name:`` left empty in the catalogue is no name (YAML reads it as null), not a None display name."""
    catalogue = Catalogue.load(write_catalogue(tmp_path, "acme:\n  name:\n"))
    assert catalogue.vendors["acme"].name == "acme"
