"""The per-user cache of compiled signature data (camscan.datacache): identification from the
cache is identification from the files, and a cache others could write is never read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from camscan import datacache
from camscan.fingerprint import enterprises, recog, resolvers, signatures, vendors
from camscan.fingerprint.identify import Identifier
from camscan.model import Observation

BANNERS = yaml.safe_load((Path(__file__).with_name("realworld_banners.yaml")).read_text())
LOADERS = (signatures.default_rules, recog.default_databases, vendors.default_catalogue, enterprises.registry,
           resolvers.default_resolvers, vendors.oui_registry)


def forget_loaded_data() -> None:
    for loader in LOADERS:
        loader.cache_clear()


def regression_set() -> list[Observation]:
    """The real-world banners, every rule's examples, every Recog example of the fields camscan reads,
    an SNMP sysObjectID of each of a sample of enterprises and a MAC of each of a sample of OUIs."""
    seen = [(entry["field"], entry["value"]) for entry in BANNERS]
    seen += [(rule.field, example.value) for rule in signatures.default_rules() for example in rule.examples]
    databases = recog.default_databases()
    seen += [(field, example.value) for field, (name, _) in recog.FIELD_DATABASES.items()
             for fingerprint in databases[name].fingerprints for example in fingerprint.examples]
    seen += [("snmp.sys_object_id", f"1.3.6.1.4.1.{number}.1") for number in list(enterprises.registry())[::500]]
    seen += [("mac.address", ":".join(f"{oui:06x}"[i:i + 2] for i in (0, 2, 4)) + ":00:00:01")
             for oui in sorted(vendors.oui_registry())[::50]]
    return [Observation(ip="198.18.0.2", source="test", field=field, value=value) for field, value in seen]


def identifications() -> list:
    identifier = Identifier()
    return [identifier.identify([seen]) for seen in regression_set()]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(datacache.CACHE_DIR, str(directory))
    monkeypatch.delenv(datacache.NO_CACHE, raising=False)
    forget_loaded_data()
    yield directory
    forget_loaded_data()


def test_identification_from_the_cache_is_identification_from_the_files(cache_dir, monkeypatch):
    monkeypatch.setenv(datacache.NO_CACHE, "1")
    from_files = identifications()
    assert not cache_dir.exists()
    monkeypatch.delenv(datacache.NO_CACHE)
    forget_loaded_data()
    for loader in LOADERS:
        loader()  # builds and writes the entries
    assert {entry.name.split("-")[0] for entry in cache_dir.iterdir()} == {"rules", "recog", "catalogue",
                                                                           "enterprises", "oui"}
    forget_loaded_data()

    def refuse(*args, **kwargs):
        raise AssertionError("built from the files although cached")

    for module, name in ((signatures, "load_rules"), (recog, "load_database"), (enterprises, "read_registry"),
                         (vendors, "_read_oui_registry")):
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(vendors.Catalogue, "load", refuse)
    from_cache = identifications()
    assert len(from_cache) > 5000
    assert from_cache == from_files


class Builds:
    """A builder that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict:
        self.calls += 1
        return {"built": self.calls}


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "data.yaml"
    path.write_text("a: 1\n")
    return path


def test_an_entry_is_read_back_until_its_source_changes(cache_dir, source):
    build = Builds()
    assert datacache.cached("thing", [source], build) == {"built": 1}
    assert datacache.cached("thing", [source], build) == {"built": 1} and build.calls == 1
    [entry] = cache_dir.iterdir()
    assert entry.stat().st_mode & 0o777 == 0o600 and cache_dir.stat().st_mode & 0o777 == 0o700
    source.write_text("a: 2\n")
    assert datacache.cached("thing", [source], build) == {"built": 2}


@pytest.mark.parametrize("loosen", ["file", "directory"])
def test_an_entry_others_may_write_is_never_read(cache_dir, source, loosen):
    build = Builds()
    datacache.cached("thing", [source], build)
    [entry] = cache_dir.iterdir()
    (entry if loosen == "file" else cache_dir).chmod(0o666 if loosen == "file" else 0o777)
    assert datacache.cached("thing", [source], build) == {"built": 2}


def test_an_entry_through_a_symbolic_link_is_never_read(cache_dir, source, tmp_path):
    build = Builds()
    datacache.cached("thing", [source], build)
    [entry] = cache_dir.iterdir()
    elsewhere = tmp_path / "elsewhere.pickle"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere)
    assert datacache.cached("thing", [source], build) == {"built": 2}


def test_a_cache_directory_reached_through_a_symbolic_link_is_never_read(cache_dir, source, tmp_path, monkeypatch):
    build = Builds()
    datacache.cached("thing", [source], build)
    linked = tmp_path / "linked-cache"
    linked.symlink_to(cache_dir)
    monkeypatch.setenv(datacache.CACHE_DIR, str(linked))
    assert datacache.cached("thing", [source], build) == {"built": 2}


def test_a_damaged_entry_is_built_again(cache_dir, source):
    build = Builds()
    datacache.cached("thing", [source], build)
    [entry] = cache_dir.iterdir()
    entry.write_bytes(b"\x80\x05not a pickle")
    assert datacache.cached("thing", [source], build) == {"built": 2}
    assert datacache.cached("thing", [source], build) == {"built": 2}  # and stored again


def test_an_unwritable_cache_only_costs_the_build(tmp_path, monkeypatch, source):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(datacache.CACHE_DIR, str(blocker / "cache"))
    build = Builds()
    assert datacache.cached("thing", [source], build) == {"built": 1}
    assert datacache.cached("thing", [source], build) == {"built": 2}


def test_no_cache_builds_every_time_and_writes_nothing(cache_dir, source, monkeypatch):
    monkeypatch.setenv(datacache.NO_CACHE, "1")
    build = Builds()
    datacache.cached("thing", [source], build)
    datacache.cached("thing", [source], build)
    assert build.calls == 2 and not cache_dir.exists()


def test_only_the_newest_entries_of_a_kind_are_kept(cache_dir, source):
    for version in range(datacache.KEPT_ENTRIES + 2):
        source.write_text(f"a: {version}\n")
        datacache.cached("thing", [source], Builds())
        for entry in cache_dir.iterdir():  # older than the next one
            os.utime(entry, (entry.stat().st_atime - 10, entry.stat().st_mtime - 10))
    assert len(list(cache_dir.iterdir())) == datacache.KEPT_ENTRIES
