"""The credentials file: scoped accounts, and the one decision which account a device is offered.

Every account names the addresses it is for (``targets``), and may name the maker it is for
(``maker``, a key of signatures/vendors.yaml). :meth:`Credentials.account_for` is the only
place that decides whether a device is offered an account; a device outside every account's
targets is never offered one, so a rogue device answering anywhere else in the scan never
collects a WS-UsernameToken digest it could crack offline.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from netaddr import AddrFormatError, IPSet

from camscan.errors import UserError
from camscan.protocols.snmpv3 import AUTH_PROTOCOLS, MIN_PASSWORD, PRIV_PROTOCOLS, UsmUser
from camscan.scope import ScopeError, parse_target

SERVICES = ("onvif", "http", "snmp")
PASSWORD_SERVICES = ("onvif", "http")
SNMPV3_KEYS = {"auth_protocol", "auth_password", "priv_protocol", "priv_password"}
ENTRY_KEYS = {"service", "username", "password", "community", "targets", "maker", *SNMPV3_KEYS}
MAX_USM_USER_NAME = 32  # msgUserName OCTET STRING (SIZE(0..32)) (RFC 3414 §2.4)
EXAMPLE = """\
- service: onvif
  username: inventory
  password: ...
  targets: [198.18.20.0/24]
  maker: hikvision        # optional"""


class CredentialsError(UserError, ValueError):
    """The credentials file (or the account options) cannot be accepted."""


@dataclass(frozen=True, eq=False)
class Account:
    """One account and where it may be offered; compared by identity (two entries may be alike)."""

    number: int  # its place in the file, from 1, for messages and the summary
    service: str
    targets: tuple[str, ...]
    addresses: IPSet = field(repr=False)
    maker: str | None = None
    username: str = ""
    password: str = field(default="", repr=False)
    community: str = field(default="", repr=False)
    usm: UsmUser | None = field(default=None, repr=False)  # an SNMPv3 account's user, keys and all

    def covers(self, ip: str) -> bool:
        """Whether ``ip`` lies inside the account's targets."""
        try:
            return ip in self.addresses
        except (AddrFormatError, ValueError, TypeError):
            return False

    def describe(self) -> str:
        """The account for the terminal: service, user, targets and maker, never a secret."""
        who = f" ({self.username}{f', SNMPv3 {self.usm.level}' if self.usm else ''})" if self.username else ""
        maker = f", {self.maker} devices only" if self.maker else ""
        return f"{self.service} account {self.number}{who} for {', '.join(self.targets)}{maker}"


class Credentials:
    """The accounts of one scan, and which devices each was offered to."""

    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self.accounts = list(accounts)
        self._offered: dict[int, set[str]] = {id(account): set() for account in self.accounts}

    def account_for(self, service: str, ip: str, makers: Iterable[str] = ()) -> Account | None:
        """The first account (in file order) for ``service`` whose targets hold ``ip`` and whose
        maker, if it names one, is among ``makers`` (what anonymous evidence identified); else None."""
        known = set(makers)
        for account in self.accounts:
            if account.service == service and account.covers(ip) and (account.maker is None or account.maker in known):
                return account
        return None

    def has(self, service: str) -> bool:
        """Whether any account is for ``service``."""
        return any(account.service == service for account in self.accounts)

    def narrowed_by_maker(self, service: str) -> bool:
        """Whether any account for ``service`` waits for the device's maker to be identified."""
        return any(account.service == service and account.maker for account in self.accounts)

    def note_offer(self, account: Account, ip: str) -> None:
        """Count ``ip`` as a device that was sent ``account``."""
        self._offered[id(account)].add(ip)

    def offers(self) -> list[tuple[Account, int]]:
        """Each account and how many devices it was offered to."""
        return [(account, len(self._offered[id(account)])) for account in self.accounts]


def check_private(path: Path) -> None:
    """Refuse a credentials file anyone but its owner may read or change."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CredentialsError(
            f"credentials file {path} is open to other users (mode {mode:04o}): run `chmod 600 {path}` first"
        )


def load_credentials(path: str | Path, maker_keys: Iterable[str]) -> Credentials:
    """The accounts of a credentials file (see README "Credentials"), checked entry by entry.

    ``maker_keys`` are the vendor keys a ``maker`` may name. Errors name the file and the entry,
    never a secret.
    """
    path = Path(path)
    try:
        check_private(path)
        text = path.read_text()
    except OSError as error:
        raise CredentialsError(f"cannot read credentials file {path}: {error.strerror or error}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        # Only the position: a YAML error's own text may quote the line, password and all.
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise CredentialsError(f"credentials file {path} is not valid YAML{where}") from None
    if isinstance(loaded, dict) and "onvif" in loaded:
        raise CredentialsError(
            f"credentials file {path} has the old unscoped form (onvif: {{username, password}}); camscan now needs "
            f"a list of accounts, each with the targets it may be offered to, e.g.\n{EXAMPLE}"
        )
    if not isinstance(loaded, list) or not loaded:
        raise CredentialsError(f"credentials file {path} must be a YAML list of accounts, e.g.\n{EXAMPLE}")
    known_makers = set(maker_keys)
    return Credentials(_account(path, number, entry, known_makers) for number, entry in enumerate(loaded, start=1))


def _account(path: Path, number: int, entry, known_makers: set[str]) -> Account:
    where = f"credentials file {path}, entry {number}"
    if not isinstance(entry, dict):
        raise CredentialsError(f"{where}: an account is a mapping with service, targets and its secret")
    unknown = sorted(str(key) for key in entry if key not in ENTRY_KEYS)
    if unknown:
        raise CredentialsError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(ENTRY_KEYS))})")
    service = entry.get("service")
    if service not in SERVICES:
        raise CredentialsError(f"{where}: service must be one of {', '.join(SERVICES)}, not {service!r}")
    where = f"{where} ({service})"
    usm = None
    if service in PASSWORD_SERVICES:
        if SNMPV3_KEYS & set(entry):
            raise CredentialsError(f"{where}: {', '.join(sorted(SNMPV3_KEYS & set(entry)))} are for snmp accounts")
        if "community" in entry:
            raise CredentialsError(f"{where}: community is for snmp accounts; {service} takes username and password")
        if not isinstance(entry.get("username"), str) or not entry["username"]:
            raise CredentialsError(f"{where}: needs a username")
        if not isinstance(entry.get("password"), (str, int)) or isinstance(entry.get("password"), bool):
            raise CredentialsError(f"{where}: needs a password (quote it if YAML reads it as something else)")
    elif "username" in entry:
        usm = _usm_user(where, entry)
    else:
        if "password" in entry or SNMPV3_KEYS & set(entry):
            raise CredentialsError(f"{where}: an snmp account takes a community (v2c), or a username with "
                                   "auth_protocol, auth_password, priv_protocol, priv_password (v3)")
        if not isinstance(entry.get("community"), str) or not entry["community"]:
            raise CredentialsError(f"{where}: needs a community (v2c) or a username (v3)")
    targets, addresses = _targets(where, entry.get("targets"))
    maker = entry.get("maker")
    if maker is not None and maker not in known_makers:
        raise CredentialsError(f"{where}: maker {maker!r} is not a vendor key of signatures/vendors.yaml")
    return Account(number=number, service=service, targets=targets, addresses=addresses, maker=maker,
                   username=entry.get("username", ""), password=str(entry.get("password", "")),
                   community=entry.get("community", ""), usm=usm)


def _usm_user(where: str, entry: dict) -> UsmUser:
    """An SNMPv3 account's user: noAuthNoPriv, authNoPriv or authPriv as its keys say (RFC 3414)."""
    if "community" in entry or "password" in entry:
        raise CredentialsError(f"{where}: an SNMPv3 account (username) takes auth_password and priv_password, "
                               "not a community or password")
    name = entry["username"]
    if not isinstance(name, str) or not 0 < len(name.encode("utf-8")) <= MAX_USM_USER_NAME:
        raise CredentialsError(f"{where}: username must be 1 to {MAX_USM_USER_NAME} bytes")
    auth, priv = entry.get("auth_protocol"), entry.get("priv_protocol")
    if auth is not None and auth not in AUTH_PROTOCOLS:
        raise CredentialsError(f"{where}: auth_protocol must be one of {', '.join(AUTH_PROTOCOLS)}, not {auth!r}")
    if priv is not None and priv not in PRIV_PROTOCOLS:
        raise CredentialsError(f"{where}: priv_protocol must be one of {', '.join(PRIV_PROTOCOLS)}, not {priv!r}")
    if priv and not auth:
        raise CredentialsError(f"{where}: priv_protocol needs auth_protocol too (SNMPv3 has no privacy without "
                               "authentication)")
    for protocol, key in ((auth, "auth_password"), (priv, "priv_password")):
        if protocol is None and key in entry:
            raise CredentialsError(f"{where}: {key} without {key.replace('password', 'protocol')}")
        secret = entry.get(key)
        if protocol and not (isinstance(secret, str) and len(secret) >= MIN_PASSWORD):
            raise CredentialsError(f"{where}: {key} must be a string of at least {MIN_PASSWORD} characters "
                                   "(RFC 3414 §11.2; quote it if YAML reads it as something else)")
    return UsmUser(name, auth, entry.get("auth_password", ""), priv, entry.get("priv_password", ""))


def _targets(where: str, targets) -> tuple[tuple[str, ...], IPSet]:
    """The targets as written, and the addresses they hold (the scope's own target syntax)."""
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not targets or not all(isinstance(item, str) for item in targets):
        raise CredentialsError(f"{where}: needs targets, a list of addresses, CIDR blocks or ranges it may be sent to")
    addresses = IPSet()
    for spec in targets:
        try:
            addresses |= parse_target(spec)
        except ScopeError as error:
            raise CredentialsError(f"{where}: {error}") from None
    return tuple(targets), addresses


def account_from_options(number: int, username: str, password: str, targets: str | None) -> Account:
    """The ONVIF account of ``--onvif-user`` (its password from the environment), scoped by ``--onvif-targets``."""
    if not targets:
        raise CredentialsError("--onvif-user needs --onvif-targets ADDRESS/CIDR,...: the devices it may be offered to")
    specs, addresses = _targets("--onvif-targets", [part.strip() for part in targets.split(",") if part.strip()])
    return Account(number=number, service="onvif", targets=specs, addresses=addresses, username=username,
                   password=password)
