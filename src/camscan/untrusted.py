"""What a device says, made harmless where people read it: on a terminal and in a spreadsheet.

Every model, firmware, banner or title camscan stores came from a device, a capture or a
report someone else wrote; these two functions are the only way such text reaches a
terminal (``terminal_text``) or a CSV cell (``spreadsheet_cell``).
"""

from __future__ import annotations

import re
import unicodedata

# Characters a terminal acts on or draws as something else: C0/C1 controls (ESC starts the
# ANSI/OSC sequences that set a window title, make a hyperlink or clear the screen; U+009B
# is a one-character CSI), format characters (bidi overrides, zero-width joiners), line and
# paragraph separators, and lone surrogates (unprintable).
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Tabs and line breaks, each shown as one space (CR LF first, so that it makes one).
SPACED = ("\r\n", "\n", "\r", "\t", "\v", "\f", "\x85", "\u2028", "\u2029")

# OWASP, "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection): a cell
# beginning with = + - @ tab or carriage return is read as a formula; prefix it with a single
# quote. OWASP ASVS 5.0 requirement 1.2.10 adds the null character. OWASP also warns that a
# field separator or quote inside a value can start a new cell when a spreadsheet splits on
# another separator (';' in many locales), so a trigger after one of those, or after leading
# spaces, is treated the same way.
FORMULA_TRIGGERS = "=+-@\t\r\0"
FORMULA_START = re.compile(r"(?:^|[,;|\"'\n])[ \u00a0]*[" + re.escape(FORMULA_TRIGGERS) + "]")


def terminal_text(value: object) -> str:
    """``value`` as one line of plain text a terminal shows literally (print it, or give it to
    rich as ``Text``, never as markup).

    Tabs and line breaks become a space: they would break a tab-separated row or a table
    cell, and no field camscan shows is meant to span lines. Every other control, format or
    separator character is dropped, so what is left of an escape sequence prints as the
    ordinary text it is.
    """
    text = "" if value is None else str(value)
    for spaced in SPACED:
        text = text.replace(spaced, " ")
    return "".join(character for character in text if unicodedata.category(character) not in UNSAFE_CATEGORIES)


def spreadsheet_cell(value: object) -> object:
    """``value`` as a CSV cell no spreadsheet evaluates: text that could start a formula gets a
    leading single quote. Numbers (ints, floats, booleans camscan itself wrote) pass unchanged,
    so they stay numbers in the sheet."""
    if value is None or isinstance(value, (int, float)):
        return value
    text = str(value)
    return "'" + text if FORMULA_START.search(text) else text
