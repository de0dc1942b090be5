"""--shard I/N: the shards of a scan cover its address × port space exactly once, in balanced shares."""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest

from camscan.scope import Scope
from camscan.shard import Shard, ShardError, is_prime, next_prime, parse_shard

PORTS = (80, 443, 554, 8000, 37777, 9100)


@pytest.mark.parametrize("addresses, ports, count", [
    (1, (80,), 1), (1, (80,), 3), (5, (80, 443, 554), 3), (254, PORTS, 2), (254, PORTS, 6), (1022, PORTS, 7),
    (37, tuple(range(1, 25)), 24), (3, (80, 443), 16),
])
def test_every_address_port_pair_is_in_exactly_one_shard(addresses, ports, count):
    covered: Counter[tuple[int, int]] = Counter()
    sizes = []
    for index in range(1, count + 1):
        shard = Shard(index, count, addresses, ports)
        share = [(address, port) for address in range(addresses) for port in shard.ports_of(address)]
        covered.update(share)
        sizes.append(len(share))
    assert covered == Counter({(address, port): 1 for address in range(addresses) for port in ports})
    # Balanced: the shards differ by no more than the elements the prime modulus adds to the space.
    assert max(sizes) - min(sizes) <= next_prime(addresses * len(ports)) - addresses * len(ports) + 1


def test_a_shard_takes_every_port_somewhere_when_the_shard_count_divides_the_port_count():
    """Modulo the space's own size a shard would be a fixed set of ports; the prime modulus mixes them."""
    for index in (1, 2, 3):
        shard = Shard(index, 3, 254, PORTS)
        assert {port for address in range(254) for port in shard.ports_of(address)} == set(PORTS)
        assert any(len(shard.ports_of(address)) != 2 for address in range(254))


@pytest.mark.parametrize("text, expected", [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3 / 3 ", (3, 3))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "1", "a/b", "1/0", "-1/2", "1/2/3"])
def test_parse_shard_refuses_what_is_not_i_of_n(text):
    with pytest.raises(ShardError):
        parse_shard(text)


def test_is_prime_agrees_with_trial_division():
    def by_division(n: int) -> bool:
        return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))

    assert [n for n in range(2000) if is_prime(n)] == [n for n in range(2000) if by_division(n)]
    assert is_prime(68719476767) and not is_prime(68719476767 * 3)  # the prime past 2^36; a composite
    assert not is_prime(3215031751)  # a strong pseudoprime to bases 2, 3, 5 and 7


def test_scope_position_is_the_index_in_the_host_order():
    scope = Scope(["198.18.0.0/28", "198.18.1.5-9", "2001:2::10-2001:2::13", "198.18.0.200"],
                  exclude=["198.18.0.7"])
    hosts = list(scope.hosts())
    assert [scope.position(ip) for ip in hosts] == list(range(len(hosts)))
    assert scope.position("198.18.0.7") is None
    assert scope.position("not an address") is None
    assert len(hosts) == scope.size and ipaddress.ip_address(hosts[-1]).version == 6
