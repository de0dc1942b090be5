"""The errors a user can act on, and what camscan says about every other one.

A :class:`UserError` (bad input, an unusable or unreadable file, a target refused by the
scope, missing privileges) is shown as its one-line message. Any other exception that
reaches the command line is a bug in camscan: it is shown with its traceback and a request
to report it.
"""

from __future__ import annotations

import string
from importlib.metadata import PackageNotFoundError, metadata

# The labels packaging's "Well-known Project URLs in Metadata" (PEP 753) gives the issue
# tracker, after its label normalisation (punctuation and whitespace removed, lower case).
ISSUE_TRACKER_LABELS = ("issues", "bugs", "issue", "tracker", "issuetracker", "bugtracker")
BUG_EXIT_STATUS = 70  # EX_SOFTWARE in sysexits.h: "an internal software error has been detected"


class UserError(Exception):
    """Something the user can put right; the message says what failed and what to do."""


class InputError(UserError, ValueError):
    """An option or argument camscan cannot use; the message says what it accepts."""


def _normalise_label(label: str) -> str:
    return label.translate(str.maketrans("", "", string.punctuation + string.whitespace)).lower()


def issue_tracker_url(distribution: str = "camscan") -> str | None:
    """The issue tracker's address from the package metadata (pyproject's ``[project.urls]``), if it names one."""
    try:
        project_urls = metadata(distribution).get_all("Project-URL") or []
    except PackageNotFoundError:
        return None
    for entry in project_urls:
        label, _, url = entry.partition(",")
        if _normalise_label(label) in ISSUE_TRACKER_LABELS and url.strip():
            return url.strip()
    return None


def bug_report_request(version: str, tracker: str | None) -> str:
    """The line printed under the traceback of an unexpected error."""
    where = f"at {tracker}" if tracker else "to camscan's maintainers"
    return (f"camscan {version} stopped on an unexpected error: this is a bug in camscan, not in how it was used. "
            f"Please report it {where}, with the command you ran and the traceback above.")
