"""A literal prefilter for many regexes: only the patterns whose required literal occurs in a
value are run on it, found in one Aho-Corasick pass (pyahocorasick) over the case-folded value
(case folding maps every character that a case-insensitive regex treats as equal to one form).

The literal reader understands the syntax Ruby (Recog) and Python (camscan's rules) share:
literals and escapes, classes, groups and alternatives, quantifiers, inline options. Anything
else gives no literal, and such a pattern simply runs on every value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import ahocorasick

# A literal shorter than this occurs in too many values to be worth a prefilter entry.
MIN_LITERAL = 3
LITERAL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}


_QUANTIFIER = re.compile(r"(?:[?*+]|\{(\d*)(,?)(\d*)\})[?+]?")
_CLASS = re.compile(r"\[\^?\]?(?:\\.|\[:\^?\w+:\]|[^\]\\])*\]")
_GROUP_PREFIX = re.compile(r"\((?:\?(?:[:>]|P?<\w+>|'\w+'|[aiLmsux]*-?[imsx]*:))?(?!\?)")
_ZERO_WIDTH_GROUP = re.compile(r"\(\?(?:=|!|<=|<!)")
_OPTIONS = re.compile(r"\(\?[aiLmsux]*-?[imsx]*\)")

# A parsed item: what it is ("literal", "group" or "other"), the literal character or the
# group's alternatives, and whether it occurs at least once and at most once.
Item = tuple[str, "str | list[list[Item]] | None", bool, bool]


def required_literals(pattern: str) -> tuple[str, ...]:
    """Literals (case-folded) one of which every match of a pattern contains: the prefilter key.

    A pattern is read as alternatives of sequences; in a sequence, a run of plain characters that
    each occur once, or a required group whose every alternative has such a run, is a candidate,
    and the most selective one (longest shortest literal) is taken. Empty when the pattern has no
    such literal of MIN_LITERAL characters (those fingerprints always run), or uses extended mode.
    """
    if re.search(r"\(\?[aiLmsux]*x", pattern):
        return ()
    try:
        alternatives, end = _alternatives(pattern, 0)
    except (IndexError, ValueError):
        return ()
    if end != len(pattern):
        return ()
    found = _union(alternatives)
    return found if found and min(map(len, found)) >= MIN_LITERAL else ()


def _alternatives(pattern: str, index: int) -> tuple[list[list[Item]], int]:
    """The alternatives from ``index`` up to the ``)`` that closes them (or the end), and its index."""
    alternatives: list[list[Item]] = [[]]
    while index < len(pattern) and pattern[index] != ")":
        if pattern[index] == "|":
            alternatives.append([])
            index += 1
            continue
        item, index = _item(pattern, index)
        quantifier = _QUANTIFIER.match(pattern, index)
        at_least_once, at_most_once = True, True
        if quantifier:
            text = quantifier.group()
            low, comma, high = quantifier.groups()
            at_least_once = text[0] == "+" or (text[0] == "{" and int(low or 0) >= 1)
            at_most_once = text[0] == "{" and int(low or 0) <= 1 and not comma and (high or "") == ""
            index = quantifier.end()
        if item is not None:
            alternatives[-1].append((item[0], item[1], at_least_once, at_most_once))
    return alternatives, index


def _item(pattern: str, index: int) -> tuple[tuple[str, str | list[list[Item]] | None] | None, int]:
    """The item at ``index`` (None for one that neither matches nor separates) and the index after it."""
    char = pattern[index]
    if char == "\\":
        letter = pattern[index + 1]
        if letter in "pPk" and pattern[index + 2 : index + 3] in ("{", "<"):
            return ("other", None), pattern.index("}" if pattern[index + 2] == "{" else ">", index) + 1
        if letter in "xu" or letter.isdigit():  # \xHH, \uHHHH, backreferences and octal escapes
            escaped = pattern[index + 2 : index + (4 if letter == "x" else 6)]
            digits = re.split(r"[^0-9a-fA-F]", escaped, maxsplit=1)[0]
            return ("other", None), index + 2 + len(digits)
        if letter.isalnum():
            literal = LITERAL_ESCAPES.get(letter)
            return ("literal", literal) if literal else ("other", None), index + 2
        return ("literal", letter), index + 2
    if char == "[":
        whole = _CLASS.match(pattern, index)
        if not whole:
            raise ValueError("unterminated character class")
        return ("other", None), whole.end()
    if char == "(":
        if pattern.startswith("(?#", index):
            return None, pattern.index(")", index) + 1
        if options := _OPTIONS.match(pattern, index):
            return None, options.end()
        zero_width = _ZERO_WIDTH_GROUP.match(pattern, index)
        prefix = zero_width or _GROUP_PREFIX.match(pattern, index)
        if prefix is None:
            raise ValueError(f"unknown group {pattern[index:index + 4]!r}")
        alternatives, end = _alternatives(pattern, prefix.end())
        if pattern[end] != ")":
            raise ValueError("unbalanced group")
        return (("other", None) if zero_width else ("group", alternatives)), end + 1
    if char in ".^$":
        return ("other", None), index + 1
    return ("literal", char), index + 1


def _union(alternatives: list[list[Item]]) -> tuple[str, ...]:
    """Literals one of which every alternative needs: each alternative's best, or () if one has none."""
    found: list[str] = []
    for sequence in alternatives:
        best = _best(sequence)
        if not best:
            return ()
        found += best
    return tuple(dict.fromkeys(literal.casefold() for literal in found))


def _best(sequence: list[Item]) -> tuple[str, ...]:
    """The most selective candidate of a sequence: a run of literals, or a required group's union."""
    candidates: list[tuple[str, ...]] = []
    run = ""
    for _kind, value, at_least_once, at_most_once in sequence:
        if isinstance(value, str) and at_least_once and at_most_once:  # a literal
            run += value
            continue
        if isinstance(value, str) and at_least_once:  # repeated: the run ends at its first copy, the next at its last
            candidates.append((run + value,))
            run = value
            continue
        if run:
            candidates.append((run,))
        run = ""
        if isinstance(value, list) and at_least_once and (found := _union(value)):  # a group
            candidates.append(found)
    if run:
        candidates.append((run,))
    return max(candidates, key=lambda found: (min(map(len, found)), -len(found)), default=())


class LiteralPrefilter:
    """Which of a list of patterns can match a value: those one of whose required literals occurs
    in the value (both case-folded), plus those without any, in list order."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.always: list[int] = []
        self._automaton = ahocorasick.Automaton()
        by_literal: dict[str, list[int]] = {}
        for position, pattern in enumerate(patterns):
            literals = required_literals(pattern)
            for literal in literals:
                by_literal.setdefault(literal, []).append(position)
            if not literals:
                self.always.append(position)
        for literal, positions in by_literal.items():
            self._automaton.add_word(literal, tuple(positions))
        self._searchable = bool(by_literal)
        if self._searchable:
            self._automaton.make_automaton()

    def candidates(self, value: str) -> Sequence[int]:
        """The positions of the patterns that can match ``value``, in list order."""
        if not self._searchable:
            return self.always
        hits = [positions for _end, positions in self._automaton.iter(value.casefold())]
        if not hits:
            return self.always
        if len(hits) == 1 and not self.always:
            return hits[0]  # one literal's patterns, already in list order
        return sorted(set(self.always).union(*hits))
