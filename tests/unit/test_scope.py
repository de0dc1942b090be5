"""The scope guard: parsing, narrowing, exclusion, and refusing public space."""

import ipaddress

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


def test_ipv6_public_addresses_need_the_same_opt_in_and_the_benchmarking_block_is_not_public():
    with pytest.raises(ScopeError, match="--allow-public"):
        Scope(["2001:2::/47"])  # spills past RFC 5180's 2001:2::/48
    assert Scope(["2001:2::/120", "2001:2:0:ffff::1"]).allowed("2001:2::10")


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
    with pytest.raises(ScopeError, match="embed IPv4"):
        Scope(["::ffff:198.18.0.0/120"], exclude=["198.18.0.5"], allow_public=True)


@pytest.mark.parametrize("target", [
    "0.0.0.0", "0.0.0.1", "0.255.255.255", "0.0.0.0/8", "0.0.0.0/24",
    "224.0.0.0", "224.0.0.251", "239.255.255.250", "239.255.255.255",
    "240.0.0.0", "240.0.0.1", "250.1.2.3/30", "255.255.255.254", "255.255.255.255",
    "::", "ff02::1", "ff05::c", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
])
def test_addresses_that_are_never_hosts_are_refused_as_targets(target):
    with pytest.raises(ScopeError, match="never a target"):
        Scope([target], allow_public=True)


@pytest.mark.parametrize("target", ["1.0.0.0", "223.255.255.255", "::2", "fe00::1", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])
def test_the_hosts_beside_the_never_targets_are_accepted(target):
    assert Scope([target], allow_public=True).allowed(target)


@pytest.mark.parametrize("target, never", [
    ("0.0.0.0/0", "0.0.0.1"),  # the whole Internet starts with 0/8
    ("223.255.255.254-224.0.0.1", "224.0.0.0-224.0.0.1"),
    ("239.255.255.255-240.0.0.0", "239.255.255.255 is multicast"),
])
def test_a_range_that_reaches_a_never_target_is_refused_by_name(target, never):
    with pytest.raises(ScopeError, match=f"^{never}"):
        Scope([target], allow_public=True)


def test_an_excluded_never_target_is_no_longer_in_the_way():
    scope = Scope(["223.255.255.254-224.0.0.1"], exclude=["224.0.0.0/4"], allow_public=True)
    assert list(scope.hosts()) == ["223.255.255.254", "223.255.255.255"]


@pytest.mark.parametrize("targets", [["127.0.0.1"], ["127.0.0.0/24"], ["127.0.0.5-127.0.0.9"], ["::1"],
                                     ["127.0.0.1", "198.18.0.0/24"]])
def test_loopback_named_on_its_own_is_a_target(targets):
    scope = Scope(targets)
    assert scope.allowed(next(scope.hosts()))


@pytest.mark.parametrize("target", ["126.255.255.255-127.0.0.1", "127.255.255.255-128.0.0.1", "::1-::2"])
def test_loopback_reached_through_a_wider_target_is_refused(target):
    with pytest.raises(ScopeError, match="loopback"):
        Scope([target], allow_public=True)


def test_loopback_in_a_wider_target_may_be_excluded_or_named_too():
    assert not Scope(["126.255.255.255-127.0.0.1"], exclude=["127.0.0.0/8"], allow_public=True).allowed("127.0.0.1")
    both = Scope(["126.255.255.255-127.0.0.1", "127.0.0.0-127.0.0.1"], allow_public=True)
    assert both.allowed("127.0.0.1") and both.allowed("126.255.255.255")


def test_range_edges_are_inside_and_their_neighbours_outside():
    scope = Scope(["198.18.0.10-198.18.0.20", "198.18.0.40-198.18.0.50", "2001:2::10-2001:2::20"], allow_public=True)
    for inside in ("198.18.0.10", "198.18.0.20", "198.18.0.40", "198.18.0.50", "2001:2::10", "2001:2::20"):
        assert scope.allowed(inside), inside
    for outside in ("198.18.0.9", "198.18.0.21", "198.18.0.39", "198.18.0.51", "2001:2::f", "2001:2::21", "0.0.0.0",
                    "198.18.0.30", "::", "255.255.255.255"):
        assert not scope.allowed(outside), outside


def test_an_address_of_the_other_family_with_the_same_number_is_outside():
    scope = Scope(["198.18.0.10"])
    assert not scope.allowed(f"::{int(ipaddress.ip_address('198.18.0.10')):x}")
    assert not Scope(["2001:2::1"], allow_public=True).allowed("0.0.0.1")


def test_a_block_loses_its_network_and_broadcast_addresses_only_up_to_a_30():
    assert list(Scope(["198.18.0.4/30"]).hosts()) == ["198.18.0.5", "198.18.0.6"]
    assert list(Scope(["198.18.0.4/31"]).hosts()) == ["198.18.0.4", "198.18.0.5"]
    assert not Scope(["198.18.0.0/24"]).allowed("198.18.0.255")


@pytest.mark.parametrize("address", ["198.18.0.7", "198.18.1.1", "not-an-ip", "", "::1"])
def test_repeated_checks_give_the_first_answer(address):
    scope = Scope(["198.18.0.0/24"])
    first = scope.allowed(address)
    assert [scope.allowed(address) for _ in range(3)] == [first] * 3
    assert first == (address == "198.18.0.7")


def test_checks_stay_right_when_the_remembered_verdicts_start_over(monkeypatch):
    from camscan import scope as scope_module

    monkeypatch.setattr(scope_module, "MAX_REMEMBERED_VERDICTS", 4)
    scope = Scope(["198.18.0.0/30"])
    asked = [f"198.18.0.{last}" for last in range(10)] * 2
    assert [scope.allowed(ip) for ip in asked] == [ip in ("198.18.0.1", "198.18.0.2") for ip in asked]


def test_junk_is_outside_however_often_asked():
    scope = Scope(["198.18.0.0/24"])
    for junk in (None, b"198.18.0.10", "198.18.0.10 ", "198.18.0.10/32", "198.18.0.10:80"):
        assert not scope.allowed(junk) and not scope.allowed(junk), junk


def test_describe_names_every_range_and_an_empty_scope():
    scope = Scope(["198.18.0.9-11", "198.18.0.16-18", "198.18.0.30", "198.18.0.40", "2001:2::1-2001:2::2"],
                  allow_public=True)
    assert scope.describe() == ("198.18.0.9-198.18.0.11, 198.18.0.16-198.18.0.18, 198.18.0.30, 198.18.0.40, "
                                "2001:2::1-2001:2::2")
    assert Scope(["198.18.0.5"], exclude=["198.18.0.5"]).describe() == "(empty)"


def test_blocks_are_the_smallest_cidr_around_each_range():
    assert Scope(["198.18.0.9-11", "198.18.0.16-18", "198.18.0.30"]).blocks() == [
        "198.18.0.8/30", "198.18.0.16/30", "198.18.0.30/32"]


def test_an_error_names_three_ranges_at_most():
    with pytest.raises(ScopeError, match=r"^0\.0\.0\.1, 0\.0\.0\.3-0\.0\.0\.4, 0\.0\.0\.7 is 'this network'"):
        Scope(["0.0.0.1", "0.0.0.3-4", "0.0.0.7"])
    with pytest.raises(ScopeError, match=r"^0\.0\.0\.1, 0\.0\.0\.3, 0\.0\.0\.5 \.\.\. is 'this network'"):
        Scope(["0.0.0.1", "0.0.0.3", "0.0.0.5", "0.0.0.7"])
    with pytest.raises(ScopeError, match=r"^2001:2:1::-2001:2:1:ffff:ffff:ffff:ffff:ffff are public"):
        Scope(["2001:2::/47"])  # RFC 5180's 2001:2::/48 and the public /48 after it
    with pytest.raises(ScopeError, match=r"^::ffff:198.18.0.1-::ffff:198.18.0.2, 64:ff9b::c612:1 embed IPv4"):
        Scope(["::ffff:198.18.0.1-::ffff:198.18.0.2", "64:ff9b::198.18.0.1"])


def test_a_scope_may_hold_exactly_the_most_addresses_a_scan_sweeps():
    assert Scope(["2001:2::/108"], allow_public=True).size == 1 << 20
    with pytest.raises(ScopeError, match="split it"):
        Scope(["2001:2::/108", "2001:2:0:1::1"], allow_public=True)


def test_an_ipv6_block_keeps_its_first_and_last_addresses():
    # A unique-local /16 (never sent to): only a block of /30 or wider shows whether IPv6 keeps its ends.
    scope = Scope(["fd00::/16"], scope_specs=["fd00::/120", "fd00:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"])
    assert scope.allowed("fd00::") and scope.allowed("fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff")


def test_excluded_loopback_leaves_the_rest_of_a_named_loopback_range():
    scope = Scope(["127.0.0.1-3"], exclude=["127.0.0.2"])
    assert list(scope.hosts()) == ["127.0.0.1", "127.0.0.3"]
    assert Scope(["127.0.0.1"], exclude=["127.0.0.1"]).size == 0


@pytest.mark.parametrize("scope_targets, network, covered", [
    (["198.18.0.1-254"], "198.18.0.0/24", True),
    (["198.18.0.2-254"], "198.18.0.0/24", False),  # the first host is missing
    (["198.18.0.1-253"], "198.18.0.0/24", False),  # the last host is missing
    (["198.18.0.0/31"], "198.18.0.0/31", True),  # a /31 has two hosts and no network or broadcast address
    (["198.18.0.0"], "198.18.0.0/31", False),
    (["198.18.0.5"], "198.18.0.5/32", True),
    (["198.18.0.5"], "198.18.0.6/32", False),
    (["198.18.0.5"], "not a network", False),
])
def test_covers_network_needs_every_host_of_the_network(scope_targets, network, covered):
    assert Scope(scope_targets).covers_network(network) is covered


def test_verdicts_are_remembered_for_65536_addresses_then_start_over(monkeypatch):
    scope = Scope(["198.18.0.0/15"])
    decided: list[str] = []
    decide = scope._decide
    monkeypatch.setattr(scope, "_decide", lambda ip: decided.append(ip) or decide(ip))
    first = [str(ipaddress.ip_address("198.18.0.1") + offset) for offset in range(1 << 16)]
    for ip in first:
        scope.allowed(ip)
    assert scope.allowed(first[0]) and scope.allowed(first[-1]) and len(decided) == 1 << 16
    assert scope.allowed("198.19.0.1") and len(decided) == (1 << 16) + 1  # the 65,537th: the cache starts over
    assert scope.allowed(first[0]) and len(decided) == (1 << 16) + 2


def test_an_address_position_is_its_place_in_the_scope_order_and_none_outside():
    """The shard split (camscan.shard) numbers the scope by position: it must be exactly the
    order hosts() yields, across ranges and versions, and None for an address outside."""
    scope = Scope(["198.18.0.8/30", "198.18.1.1-198.18.1.3", "198.18.2.7", "2001:2::10-2001:2::12"],
                  exclude=["198.18.1.2"])
    order = list(scope.hosts())
    assert [scope.position(ip) for ip in order] == list(range(len(order))) and len(order) == 8
    for outside in ("198.18.0.8", "198.18.1.2", "198.18.1.4", "198.18.2.6", "2001:2::13", "not an address"):
        assert scope.position(outside) is None, outside
