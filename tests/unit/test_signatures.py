"""Every signature's own examples, the loader's errors, and the vendor catalogue."""

import pytest

from camscan.fingerprint.signatures import SignatureError, check_example, default_rules, load_rules
from camscan.fingerprint.vendors import Catalogue, default_catalogue, oui_organisation
from camscan.model import CAMERA_DEVICE_TYPES
from importlib.resources import files

RULES = default_rules()


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_rule_examples_match_and_capture(rule):
    assert all(check_example(rule, example) is None for example in rule.examples), [
        check_example(rule, example) for example in rule.examples
    ]


def test_every_rule_names_known_vendors_and_has_a_reference():
    catalogue = default_catalogue()
    for rule in RULES:
        for key in ("vendor", "manufacturer"):
            if key in rule.sets:
                assert rule.sets[key] in catalogue.vendors, f"{rule.id}: unknown vendor {rule.sets[key]}"
        assert rule.reference.strip(), rule.id
        assert rule.field.replace(".", "_") + ".yaml" == rule.source_file, rule.id


def test_catalogue_ieee_names_exist_in_the_registry():
    registered = set()
    with open(files("netaddr.eui").joinpath("oui.txt"), encoding="utf-8", errors="replace") as registry:
        for line in registry:
            if "(hex)" in line:
                registered.add(line.split("(hex)", 1)[1].strip())
    catalogue = default_catalogue()
    missing = [(v.key, name) for v in catalogue.vendors.values() for name in v.ieee_names if name not in registered]
    assert not missing


def test_catalogue_covers_the_required_camera_makers():
    catalogue = default_catalogue()
    required = ["hikvision", "ezviz", "dahua", "amcrest", "lorex", "axis", "hanwha", "uniview", "bosch", "vivotek",
                "panasonic", "sony", "mobotix", "avigilon", "pelco", "geovision", "foscam", "reolink", "xiongmai",
                "tplink", "ubiquiti", "tiandy", "honeywell", "hipcam", "hisilicon"]
    assert not [key for key in required if key not in catalogue.vendors]
    assert catalogue.manufacturer_of("amcrest") == "dahua" and catalogue.manufacturer_of("ezviz") == "hikvision"
    assert catalogue.get("hikvision").ndaa_889 and catalogue.get("dahua").ndaa_889
    assert not catalogue.get("axis").ndaa_889


def test_only_makers_on_one_side_of_the_camera_line_imply_a_kind_from_their_mac():
    catalogue = default_catalogue()
    for key in ("tplink", "ubiquiti", "sony", "panasonic", "samsung", "bosch", "honeywell", "hikvision", "dahua", "axis"):
        vendor = catalogue.get(key)
        assert vendor is None or vendor.default_device_type is None, key
    assert catalogue.get("hanwha").default_device_type in CAMERA_DEVICE_TYPES
    for vendor in catalogue.vendors.values():
        if vendor.default_device_type:
            camera_side = vendor.default_device_type in CAMERA_DEVICE_TYPES
            assert all((kind in CAMERA_DEVICE_TYPES) == camera_side for kind in vendor.makes), vendor.key


def test_a_default_kind_for_a_maker_of_cameras_and_intercoms_is_refused(tmp_path):
    catalogue = tmp_path / "vendors.yaml"
    catalogue.write_text(
        "acme:\n  name: Acme\n  makes: [ip-camera]\n  default_device_type: ip-camera\n  reference: test\n"
        "  models:\n    - family: door-station\n      prefix: AC-D\n      pattern: AC-D\\d+\n"
        "      kind: intercom\n      examples: [AC-D1]\n      reference: test\n"
    )
    with pytest.raises(SignatureError, match="acme makes ip-camera, intercom"):
        Catalogue.load(catalogue)


def test_oui_lookup_uses_the_packaged_registry():
    assert default_catalogue().vendor_for_org(oui_organisation("44:19:b6:01:02:03")) == "hikvision"
    assert default_catalogue().vendor_for_org(oui_organisation("00:40:8c:aa:bb:cc")) == "axis"
    assert oui_organisation("02:00:5e:00:00:01") is None  # locally administered
    assert oui_organisation("not a mac") is None


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("- {id: a, field: http.server, pattern: '(', set: {}, weight: 0.5, examples: [x], reference: r}", "bad pattern"),
        ("- {id: a, field: http.server, pattern: 'x', set: {}, weight: 0.5, examples: [x]}", "missing reference"),
        ("- {id: a, field: http.server, pattern: 'x', set: {colour: red}, weight: 0.5, examples: [x], reference: r}", "cannot set"),
        ("- {id: a, field: http.server, pattern: 'x', set: {}, weight: 1.5, examples: [x], reference: r}", "weight"),
        ("- {id: a, field: http.server, pattern: 'x', set: {}, weight: 0.5, examples: [], reference: r}", "example"),
        ("- {id: a, field: http.server, pattern: '(?P<colour>x)', set: {}, weight: 0.5, examples: [x], reference: r}", "named groups"),
        ("{not: a list}", "list of rules"),
        ("- [unclosed", "not valid YAML"),
    ],
)
def test_broken_signature_files_get_clear_errors(tmp_path, text, complaint):
    (tmp_path / "http_server.yaml").write_text(text)
    with pytest.raises(SignatureError, match=complaint) as raised:
        load_rules(tmp_path)
    assert "http_server.yaml" in str(raised.value)


def test_duplicate_ids_across_files_are_refused(tmp_path):
    rule = "- {id: same, field: %s, pattern: 'x', set: {}, weight: 0.5, examples: [x], reference: r}"
    (tmp_path / "http_server.yaml").write_text(rule % "http.server")
    (tmp_path / "rtsp_server.yaml").write_text(rule % "rtsp.server")
    with pytest.raises(SignatureError, match="already used"):
        load_rules(tmp_path)
