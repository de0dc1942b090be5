"""Rapid7 Recog's vendored databases through camscan's matcher: every example, the Ruby-regex
translation, the literal prefilter, and the evidence a match gives."""

from __future__ import annotations

import re

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from camscan.fingerprint.identify import Identifier
from camscan.fingerprint.prefilter import LiteralPrefilter, required_literals
from camscan.fingerprint.recog import (
    FIELD_DATABASES,
    Database,
    RecogExample,
    UntranslatableRegex,
    check_recog_example,
    compile_fingerprint,
    default_databases,
    load_database,
    recog_directory,
    recog_evidence,
    translate,
)
from camscan.fingerprint.signatures import default_rules
from camscan.fingerprint.vendors import default_catalogue
from camscan.model import Observation

# Recog fingerprints camscan cannot translate, with the reason: none at the pinned commit.
UNTRANSLATABLE: dict[str, str] = {}
DATABASES = sorted(recog_directory().glob("*.xml"))


def seen(field, value, port=80):
    return Observation(ip="198.18.0.9", source="test", field=field, value=value, port=port)


def test_the_vendored_databases_name_their_upstream_commit_and_licence():
    upstream = (recog_directory() / "UPSTREAM").read_text()
    assert re.search(r"^commit: [0-9a-f]{40}$", upstream, re.M)
    assert "Redistribution and use in source and binary forms" in (recog_directory() / "COPYING").read_text()
    assert {name for name, _ in FIELD_DATABASES.values()} <= {path.stem for path in DATABASES}


@pytest.mark.parametrize("path", DATABASES, ids=lambda path: path.stem)
def test_every_recog_example_matches_its_fingerprint_with_its_params(path):
    fingerprints = load_database(path)
    failures = [problem for fingerprint in fingerprints for example in fingerprint.examples
                if (problem := check_recog_example(fingerprint, example))]
    assert failures == []
    untranslatable = {fingerprint.id: compile_fingerprint(fingerprint.pattern, fingerprint.flags)[1]
                      for fingerprint in fingerprints if fingerprint.regex is None}
    assert untranslatable == {key: why for key, why in UNTRANSLATABLE.items() if key.split(":")[1] == path.stem}


def test_a_failing_example_says_why():
    [fingerprint] = [item for item in load_database(recog_directory() / "rtsp_servers.xml")
                     if item.description == "Dahua IP Camera"]
    assert check_recog_example(fingerprint, RecogExample("Dahua Rtsp Server", {})) is None
    assert "does not match" in check_recog_example(fingerprint, RecogExample("Hikvision", {}))
    assert "expected" in check_recog_example(fingerprint, RecogExample("Dahua Rtsp Server", {"hw.vendor": "Axis"}))


def test_the_databases_hold_thousands_of_examples():
    assert sum(len(fingerprint.examples) for path in DATABASES for fingerprint in load_database(path)) > 5000


@pytest.mark.parametrize(("ruby", "python"), [
    (r"^a\z", r"^a\Z"),
    (r"^a\Z", r"^a(?=\n?\Z)"),
    (r"\h+", r"[0-9a-fA-F]+"),
    (r"[\h:]+", r"[0-9a-fA-F:]+"),
    (r"[[:alpha:]][[:digit:]]", r"[a-zA-Z][0-9]"),
    (r"(?<model>\d+)", r"(?P<model>\d+)"),
    (r"(?m)a.b", r"(?s)a.b"),
    (r"a(?i)b|c", r"a(?i:b|c)"),
    (r"(x(?i)y)z", r"(x(?i:y))z"),
    (r"(?<=a)b(?<!c)", r"(?<=a)b(?<!c)"),
    (r"a*+b", r"a*+b"),
])
def test_ruby_constructs_become_their_python_equivalents(ruby, python):
    assert translate(ruby) == python


@pytest.mark.parametrize("ruby", [r"\Ga", r"a\Kb", r"\p{Alpha}", r"[a-z&&[^aeiou]]", r"a{2}+"])
def test_what_python_lacks_is_refused_with_a_reason(ruby):
    with pytest.raises(UntranslatableRegex):
        translate(ruby)


def test_ruby_semantics_hold_after_translation():
    regex, _ = compile_fingerprint(r"^b\z", None)
    assert regex.search("a\nb") and not regex.search("b\n")  # ^ at any line start; \z at the very end
    regex, _ = compile_fingerprint(r"^b\Z", None)
    assert regex.search("b\n") and not regex.search("b\nc")  # \Z also before a final newline
    regex, _ = compile_fingerprint(r"a.b", "REG_MULTILINE")
    assert regex.search("a\nb")  # Ruby's multiline is dot-matches-newline
    regex, _ = compile_fingerprint(r"^AXIS", "REG_ICASE")
    assert regex.search("axis")
    regex, _ = compile_fingerprint(r"^\d+$", None)
    assert not regex.search("١٢")  # Ruby's \d is ASCII digits only
    assert compile_fingerprint("a", "REG_UNKNOWN")[0] is None


@pytest.mark.parametrize(("pattern", "literals"), [
    (r"^Apache(?:/([\d.]+))?$", ("apache",)),
    (r"^(?:Hikvision|DNVRS|DVRDVS)-Webs$", ("-webs",)),
    (r"^(?:4297c114f263c206ed12aaff4b0c7a50|e5af3b68e837498a85b25ef2c36a0825)$",
     ("4297c114f263c206ed12aaff4b0c7a50", "e5af3b68e837498a85b25ef2c36a0825")),
    (r"^AXIS (\S+) .* Camera", (" camera",)),
    (r"abcd?efgh", ("efgh",)),  # the optional d breaks the run: abc, then efgh
    (r"x{2}yzw", ("xyzw",)),
    (r"ab+cde", ("bcde",)),  # a repeated b ends a run after its first copy and starts the next
    (r"\x41BCD", ("bcd",)),
    (r"foo|\d+", ()),  # an alternative with no literal: none for the whole
    (r"^\d+$", ()),
    (r"(?x) a b c d", ()),
    (r"(?P=name)abc", ()),
])
def test_required_literals(pattern, literals):
    assert required_literals(pattern) == literals


def brute_force(patterns, flags, value):
    return [index for index, pattern in enumerate(patterns) if re.search(pattern, value, flags)]


def test_the_prefilter_keeps_every_match_of_camscans_rules_and_recogs_fingerprints():
    rules = default_rules()
    values = [example.value for rule in rules for example in rule.examples]
    own = LiteralPrefilter([rule.regex.pattern for rule in rules])
    missed = [
        (rules[index].id, value) for value in values for index in range(len(rules))
        if rules[index].regex.search(value) and index not in own.candidates(value)
    ]
    for database in default_databases().values():
        examples = [example.value for fingerprint in database.fingerprints for example in fingerprint.examples]
        for value in examples:
            candidates = set(database.prefilter.candidates(value))
            missed += [
                (fingerprint.id, value) for index, fingerprint in enumerate(database.fingerprints)
                if fingerprint.regex.search(value) and index not in candidates
            ]
    assert missed == []


def test_the_prefilter_runs_few_patterns_on_a_value():
    database = default_databases()["http_servers"]
    assert len(database.prefilter.candidates("Apache/2.4.41 (Ubuntu)")) < 10
    assert len(database.prefilter.always) < 10


def test_first_match_in_file_order_as_recog_reports():
    fingerprints = load_database(recog_directory() / "http_servers.xml")
    database = Database(fingerprints)
    value = "Apache"
    first = next(fingerprint for fingerprint in fingerprints if fingerprint.match(value) is not None)
    assert database.first_match(value)[0] is first


def test_params_interpolate_and_drop_temporaries():
    [fingerprint] = [item for item in load_database(recog_directory() / "html_title.xml")
                     if item.description == "AVTECH RoomAlert"]
    said = fingerprint.match("AVTECH Software, Inc. - Room Alert 32E/W - Advanced Computer Room Monitoring")
    assert said["hw.product"] == "Room Alert 32E/W"
    assert not any(name.startswith("_tmp.") for name in said)


def evidence_of(field, value, port=80):
    return list(recog_evidence(seen(field, value, port), default_catalogue()))


def test_a_camera_banner_only_recog_knows_names_maker_and_kind():
    [item] = evidence_of("ftp.banner", "220 AXIS 216FD Network Fixed Dome Camera 4.47 (Mar 13 2008) ready.", 21)
    assert item.signature.startswith("recog:ftp_banners:")
    assert dict(item.sets) == {"vendor": "axis", "device_type": "ip-camera", "model": "216FD"}
    assert 0 < item.weight <= 0.5 and item.port == 21


def test_a_generic_web_server_names_no_maker():
    assert evidence_of("http.server", "lighttpd/1.4.35") == []
    assert evidence_of("http.server", "Apache/2.4.41 (Ubuntu)") == []


def test_a_namesake_company_is_not_the_catalogued_maker():
    # AVTECH Software's Room Alert monitors are not AVTECH Corporation's recorders.
    found = evidence_of("html.title", "AVTECH Software, Inc. - Room Alert 32E/W - Advanced Computer Room Monitoring")
    assert all("vendor" not in dict(item.sets) for item in found)


def test_certainty_scales_the_weight(tmp_path):
    path = tmp_path / "http_servers.xml"
    path.write_text(
        '<fingerprints matches="http_header.server">'
        '<fingerprint pattern="^Cam(\\d+)$"><description>a</description><example>Cam1</example>'
        '<param pos="0" name="hw.device" value="IP Camera"/>'
        '<param pos="0" name="hw.certainty" value="0.5"/></fingerprint>'
        '<fingerprint pattern="^Cam$"><description>b</description><example>Cam</example>'
        '<param pos="0" name="hw.device" value="IP Camera"/></fingerprint></fingerprints>'
    )
    halved, whole = load_database(path)
    assert (halved.weight, whole.weight) == (0.25, 0.5)


def test_recog_speaks_only_where_camscans_rules_are_silent():
    identifier = Identifier()
    [item] = identifier.evidence([seen("http.server", "DNVRS-Webs")])
    assert item.signature == "hikvision-dnvrs-webs"  # Recog would add a DVR claim here
    result = identifier.identify([seen("http.www_authenticate", 'Basic realm="DCS-2530L"')])
    assert (result.vendor, result.device_type, result.model) == ("dlink", "ip-camera", "DCS-2530L")
    assert [item.signature for item in result.evidence] == ["recog:http_wwwauth:18"]


def test_recog_evidence_from_several_ports_is_kept_once_from_the_lowest():
    identifier = Identifier()
    realm = 'Basic realm="DCS-2530L"'
    high_first = [seen("http.www_authenticate", realm, 8080), seen("http.www_authenticate", realm, 80)]
    for observations in (high_first, high_first[::-1]):
        assert [item.port for item in identifier.evidence(observations)] == [80]


def test_x509_names_reach_recog_in_its_form():
    name = x509.Name([  # in certificate order; RFC 4514 writes the last first
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cisco Systems Inc."),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "CTG"),
        x509.NameAttribute(NameOID.COMMON_NAME, "CP-8851-SEPB07D47D33A1C"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, "PID:CP-8851 SN:FCH1924AHCA"),
    ])
    # camscan's tls.subject is cryptography's RFC 4514 string (camscan.protocols.tls); Recog's example:
    # SERIALNUMBER=PID:CP-8851 SN:FCH1924AHCA,CN=CP-8851-SEPB07D47D33A1C,OU=CTG,O=Cisco Systems Inc.
    assert name.rfc4514_string().startswith("2.5.4.5=PID:CP-8851")
    [item] = evidence_of("tls.subject", name.rfc4514_string(), 443)
    assert dict(item.sets)["vendor"] == "cisco"


def test_banner_prefixes_are_removed_as_recog_expects():
    [ssh] = evidence_of("ssh.banner", "SSH-2.0-OpenSSH_2.3.0_Mikrotik_v2.9", 22)
    assert dict(ssh.sets) == {"vendor": "mikrotik", "device_type": "router"}
    assert evidence_of("ssh.banner", "SSH-1.99-DraySSH_2.0", 22)[0].sets == (("vendor", "draytek"),)
    greeting = "AXIS 216FD Network Fixed Dome Camera 4.47 (Mar 13 2008) ready."
    [ftp] = evidence_of("ftp.banner", f"220 {greeting}", 21)
    assert evidence_of("ftp.banner", f"220-{greeting}", 21)[0].sets == ftp.sets


def test_camscan_rules_that_recog_reads_otherwise_say_why():
    """Where a camscan rule's own example gets another maker or kind from Recog, its reference says why."""
    catalogue = default_catalogue()
    unexplained = []
    for rule in default_rules():
        if rule.field not in FIELD_DATABASES:
            continue
        database_name, recog_input = FIELD_DATABASES[rule.field]
        for example in rule.examples:
            found = recog_evidence(seen(rule.field, example.value), catalogue)
            recog = {key: value for item in found for key, value in item.sets}
            own = rule.match(example.value)
            own_maker = own.get("manufacturer") or (catalogue.manufacturer_of(own["vendor"]) if "vendor" in own else None)
            recog_maker = catalogue.manufacturer_of(recog["vendor"]) if "vendor" in recog else None
            differs = (own_maker and recog_maker and own_maker != recog_maker) or (
                recog.get("device_type") and own.get("device_type") != recog["device_type"])
            if differs and f"Recog {database_name} differs" not in rule.reference:
                unexplained.append((rule.id, example.value, recog))
    assert unexplained == []


def test_favicon_hashes_identify_through_recogs_md5_table_and_the_mmh3_rules():
    identifier = Identifier()
    by_md5 = identifier.identify([seen("http.favicon_md5", "842c79ab11f38323fc554afbea5c990a")])
    assert (by_md5.vendor, by_md5.device_type) == ("dlink", "ip-camera")
    assert [item.signature.split(":")[:2] for item in by_md5.evidence] == [["recog", "favicons"]]
    by_mmh3 = identifier.identify([seen("http.favicon_mmh3", "-1616143106")])
    assert by_mmh3.vendor == "axis"
    assert [item.signature for item in by_mmh3.evidence] == ["favicon-mmh3-axis"]


def test_the_cli_runs_recogs_examples_and_shows_its_matches():
    from click.testing import CliRunner

    from camscan.cli import main

    tested = CliRunner().invoke(main, ["signatures", "test"])
    assert tested.exit_code == 0 and "Recog fingerprints" in tested.output and "0 failed" in tested.output
    matched = CliRunner().invoke(main, ["signatures", "match", "http.www_authenticate", 'Basic realm="DCS-2530L"'])
    assert matched.exit_code == 0 and "recog:http_wwwauth:" in matched.output and "vendor=dlink" in matched.output
