"""Sharding a scan: shard I of N probes its share of the address × port space, so that N
sensors given the same targets and ports probe each (address, port) exactly once between them.

As zmap and masscan do, the space is put in a pseudo-random order and shard I takes every N-th
element of that order, starting at the I-th (zmap: Adrian et al., "Zippier ZMap", USENIX WOOT
2014, section 3, shards as interleaved subsequences of one permutation; masscan: ``--shard x/y``,
its README "Sharding"). As in zmap the order is taken modulo a prime: p is the smallest prime
no smaller than the space's size M, position j holds element (a·j) mod p, a the integer nearest
p/φ (Knuth, TAOCP vol. 3, 6.4, Fibonacci hashing: consecutive positions land far apart), and the
positions holding an element ≥ M are skipped. A prime modulus keeps a shard's share mixed: modulo
an M that N divides, an element's shard would follow from its port alone. Shards differ in size
by at most p - M + 1 elements (a few hundred at most for spaces of up to 2^36 elements).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

# 1/φ: the multiplier whose multiples modulo 1 are spread most evenly (Knuth, TAOCP 6.4).
INVERSE_GOLDEN_RATIO = (math.sqrt(5) - 1) / 2
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """A ``--shard`` that is not I/N with 1 <= I <= N."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` as (2, 4): shard 2 of 4, counted from 1 as masscan counts."""
    match = _SHARD.match(text)
    if not match:
        raise ShardError(f"--shard {text!r}: expected I/N, e.g. 1/4 for the first of four shards")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise ShardError(f"--shard {text!r}: I must lie between 1 and N")
    return index, count


# Bases that make the Miller-Rabin test exact below 3.3e24 (Sorenson and Webster, "Strong
# pseudoprimes to twelve prime bases", Math. Comp. 86 (2017)), far above any scan's space.
_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


def is_prime(number: int) -> bool:
    """Whether ``number`` is prime (Miller-Rabin with fixed bases: exact below 3.3e24)."""
    if number < 2:
        return False
    for witness in _WITNESSES:
        if number % witness == 0:
            return number == witness
    odd, twos = number - 1, 0
    while odd % 2 == 0:
        odd, twos = odd // 2, twos + 1
    for witness in _WITNESSES:
        x = pow(witness, odd, number)
        if x in (1, number - 1):
            continue
        for _ in range(twos - 1):
            x = x * x % number
            if x == number - 1:
                break
        else:
            return False
    return True


def next_prime(number: int) -> int:
    """The smallest prime no smaller than ``number``."""
    while not is_prime(number):
        number += 1
    return number


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count`` over ``addresses`` × ``ports`` (addresses counted
    by their position in the scope's order, ``Scope.position``)."""

    index: int
    count: int
    addresses: int
    ports: tuple[int, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ShardError(f"shard {self.index}/{self.count}: I must lie between 1 and N")

    @cached_property
    def _modulus(self) -> int:
        return next_prime(self.addresses * len(self.ports))

    @cached_property
    def _inverse_multiplier(self) -> int:
        return pow(round(self._modulus * INVERSE_GOLDEN_RATIO) or 1, -1, self._modulus)

    def position(self, address: int, port_index: int) -> int:
        """Where element (address, port) stands in the order: the inverse of j -> a·j mod p."""
        return (address * len(self.ports) + port_index) * self._inverse_multiplier % self._modulus

    def ports_of(self, address: int) -> list[int]:
        """The ports this shard probes at the address at ``address`` in the scope's order."""
        return [port for offset, port in enumerate(self.ports)
                if self.position(address, offset) % self.count == self.index - 1]
