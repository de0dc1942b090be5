"""The scope guard: parsing, narrowing, exclusion, and refusing public space."""

import pytest

from camscan.scope import Scope, ScopeError, read_scope_file
from camscan.transport.guard import OutOfScopeError, guard


def test_cidr_range_and_single_targets():
    scope = Scope(["198.18.0.0/30", "198.18.1.5-7", "198.18.2.9"])
    assert list(scope.hosts()) == ["198.18.0.1", "198.18.0.2", "198.18.1.5", "198.18.1.6", "198.18.1.7", "198.18.2.9"]
    assert scope.allowed("198.18.1.6") and not scope.allowed("198.18.1.8")
    assert scope.size == len(list(scope.hosts())) == 6


def test_exclusions_do_not_cost_neighbouring_hosts():
    scope = Scope(["198.18.0.0/24"], exclude=["198.18.0.5"])
    hosts = list(scope.hosts())
    assert len(hosts) == 253 and "198.18.0.8" in hosts and "198.18.0.15" in hosts
    assert "198.18.0.0" not in hosts and "198.18.0.255" not in hosts
    assert Scope(["198.18.0.0/24"], exclude=["198.18.0.0/30"]).size == 254 - 3


def test_scope_file_narrows_and_exclude_removes(tmp_path):
    scope_file = tmp_path / "scope.txt"
    scope_file.write_text("# school A\n198.18.0.0/25  # cameras VLAN\n\n")
    scope = Scope(["198.18.0.0/24"], scope_specs=read_scope_file(scope_file), exclude=["198.18.0.1-10"])
    assert scope.size == 128 - 10 - 1  # .0 is the /24's network address
    assert not scope.allowed("198.18.0.200")
    assert not scope.allowed("198.18.0.5")
    assert scope.allowed("198.18.0.11")


def test_public_addresses_need_opt_in():
    with pytest.raises(ScopeError, match="--allow-public"):
        Scope(["8.8.8.0/30"])
    with pytest.raises(ScopeError, match="public"):
        Scope(["198.18.0.0/8"])  # spills far outside the reserved benchmark block
    assert Scope(["8.8.8.8"], allow_public=True).allowed("8.8.8.8")
    assert Scope(["127.0.0.1", "198.18.0.0/15", "fd00::1"]).size > 0


@pytest.mark.parametrize("bad", ["198.18.0.300", "banana", "198.18.0.9-3", ""])
def test_bad_targets_get_clear_errors(bad):
    with pytest.raises(ScopeError):
        Scope([bad])


def test_guard_refuses_out_of_scope_and_junk():
    scope = Scope(["198.18.0.0/24"])
    guard(scope, "198.18.0.7")
    for address in ("198.18.1.1", "203.0.113.5", "not-an-ip", "::1"):
        with pytest.raises(OutOfScopeError):
            guard(scope, address)


def test_missing_scope_file_is_a_clear_error(tmp_path):
    with pytest.raises(ScopeError, match="cannot read scope file"):
        read_scope_file(tmp_path / "missing.txt")


def test_oversized_scopes_are_refused_before_anything_is_sent():
    with pytest.raises(ScopeError, match="split it"):
        Scope(["fd00::/64"])
    assert Scope(["198.18.0.0/15"]).size == 131070


def test_ipv4_hidden_in_ipv6_is_refused():
    with pytest.raises(ScopeError, match="embeds IPv4"):
        Scope(["::ffff:198.18.0.0/120"], exclude=["198.18.0.5"], allow_public=True)
