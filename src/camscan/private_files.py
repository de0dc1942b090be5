"""Files that list open streams (inventories, exports, recordings): created readable by their owner only.

Under sudo, a file camscan creates is handed to the user who ran sudo (``SUDO_UID``,
``SUDO_GID``), not left to root: it is theirs to read, move and delete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

PRIVATE_MODE = 0o600


def _give_to_invoking_user(fd: int) -> None:
    """Under sudo, make the file open at ``fd`` the invoking user's."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() == 0 and uid and gid and uid.isdigit() and gid.isdigit():
        os.fchown(fd, int(uid), int(gid))


def _open_fd(path: str | Path, flags: int) -> int:
    """An fd on ``path`` opened with ``flags``; a file it creates is 0600 (and, under sudo, the invoking user's)."""
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return os.open(path, flags)  # an existing file keeps its owner and mode
    try:
        os.fchmod(fd, PRIVATE_MODE)  # whatever the umask
        _give_to_invoking_user(fd)
    except OSError:
        os.close(fd)
        raise
    return fd


def create_private(path: str | Path) -> None:
    """Create ``path`` empty (0600, the invoking user's) unless it exists."""
    os.close(_open_fd(path, os.O_WRONLY))


def open_private(path: str | Path, mode: str = "w") -> IO:
    """Open ``path`` for writing from the start (``"w"`` or ``"wb"``); a new file is 0600 and the invoking user's."""
    fd = _open_fd(path, os.O_WRONLY | os.O_TRUNC)
    return os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")
