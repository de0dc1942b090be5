"""A per-user cache of the data camscan builds from its files at start-up (signature rules, Recog's
databases, the maker catalogue, the IANA registry): built once, then read back in a fraction of
the time each later process would spend parsing YAML and XML and analysing patterns again.

An entry is a pickle, named by a SHA-256 of everything it was built from: the data files' bytes,
the source of the code that builds and defines it, camscan's version and Python's. A changed file
or upgrade makes a new name; the oldest entries of a kind are removed. Unpickling runs
code, so an entry is read only from a directory and a file that this user owns and no one else
may write (the checks OpenSSH makes of a key file); anything else, an unwritable directory or
$CAMSCAN_NO_CACHE set, and the data is built from its files as if there were no cache.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from camscan import __version__

T = TypeVar("T")
NO_CACHE = "CAMSCAN_NO_CACHE"
CACHE_DIR = "CAMSCAN_CACHE_DIR"
# Entries kept of each kind: several checkouts or versions of camscan may share one user's cache.
KEPT_ENTRIES = 4
_FINGERPRINT_CODE = Path(__file__).resolve().parent / "fingerprint"


def cache_dir() -> Path:
    """$CAMSCAN_CACHE_DIR, else camscan's directory under $XDG_CACHE_HOME (default ~/.cache), as
    the XDG Base Directory Specification places a user's non-essential cached data."""
    if override := os.environ.get(CACHE_DIR):
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "camscan"


def _private(status: os.stat_result) -> bool:
    """Owned by this user and writable by no one else."""
    return status.st_uid == os.geteuid() and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def entry_key(name: str, sources: Iterable[Path]) -> str:
    """The SHA-256 an entry is named by: its kind, the sources' names and bytes, the fingerprint
    package's code, camscan's and Python's versions."""
    digest = hashlib.sha256(f"{name}\0{__version__}\0{sys.version}\0".encode())
    for path in [*sorted(sources), *sorted(_FINGERPRINT_CODE.glob("*.py"))]:
        digest.update(f"{path.name}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _read(path: Path) -> object:
    """An entry, if the directory and the file are private to this user; raises OSError otherwise.

    Both are checked on the descriptors then read (neither through a symbolic link), so that
    nothing can be swapped in between the check and the read."""
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if not _private(os.fstat(directory)):
            raise PermissionError(f"{path.parent} may be written by others")
        descriptor = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=directory)
    finally:
        os.close(directory)
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode) or not _private(status):
            raise PermissionError(f"{path} may be written by others")
        return pickle.load(handle)


def _write(directory: Path, name: str, key: str, value: object) -> None:
    """Store an entry (atomically, mode 0600); of its kind, only the KEPT_ENTRIES newest stay."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not stat.S_ISDIR(os.lstat(directory).st_mode) or not _private(os.lstat(directory)):
        return
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, directory / f"{name}-{key}.pickle")
    except BaseException:
        os.unlink(temporary)
        raise
    entries = sorted(directory.glob(f"{name}-*.pickle"), key=lambda entry: entry.stat().st_mtime, reverse=True)
    for stale in entries[KEPT_ENTRIES:]:
        stale.unlink(missing_ok=True)


def cached(name: str, sources: Iterable[Path], build: Callable[[], T]) -> T:
    """``build()``, or what an earlier process built from the same ``sources`` (and code)."""
    if os.environ.get(NO_CACHE):
        return build()
    directory = cache_dir()
    try:
        key = entry_key(name, sources)
    except OSError:
        return build()  # a source cannot be read: let build() say so
    try:
        return _read(directory / f"{name}-{key}.pickle")  # type: ignore[return-value]
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        pass
    value = build()
    try:
        _write(directory, name, key, value)
    except (OSError, pickle.PicklingError):
        pass  # an unwritable cache only costs the next process the build
    return value
