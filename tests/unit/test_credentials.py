"""The credentials file, the one account decision, and how the command line takes accounts."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from camscan.cli import main
from camscan.credentials import CredentialsError, account_from_options, load_credentials

MAKERS = {"hikvision", "dahua", "axis"}
FILE = """\
- service: onvif
  username: inventory
  password: onvif-secret
  targets: [198.18.20.0/24]
  maker: hikvision
- service: onvif
  username: fallback
  password: other-secret
  targets: [198.18.20.0/25, 198.18.21.7]
- service: http
  username: nvr
  password: "1234"
  targets: 198.18.30.1-20
- service: snmp
  community: s3cr3t-community
  targets: [198.18.40.0/24]
"""


def write(tmp_path, text: str, mode: int = 0o600):
    path = tmp_path / "credentials.yaml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_each_account_goes_only_to_devices_inside_its_targets_and_of_its_maker(tmp_path):
    credentials = load_credentials(write(tmp_path, FILE), MAKERS)
    inventory, fallback, nvr, snmp = credentials.accounts
    assert credentials.account_for("onvif", "198.18.20.9", {"hikvision"}) is inventory
    # Not identified as a Hikvision: the maker-narrowed account is not offered, the broader one is.
    assert credentials.account_for("onvif", "198.18.20.9") is fallback
    assert credentials.account_for("onvif", "198.18.20.9", {"dahua"}) is fallback
    assert credentials.account_for("onvif", "198.18.20.200", {"dahua"}) is None
    assert credentials.account_for("onvif", "198.18.20.200", {"hikvision"}) is inventory
    assert credentials.account_for("onvif", "198.18.21.7") is fallback
    assert credentials.account_for("onvif", "198.18.21.8") is None
    assert credentials.account_for("onvif", "198.18.99.1", {"hikvision"}) is None
    assert credentials.account_for("http", "198.18.30.20") is nvr
    assert credentials.account_for("http", "198.18.30.21") is None
    assert credentials.account_for("snmp", "198.18.40.3") is snmp and snmp.community == "s3cr3t-community"
    assert credentials.account_for("onvif", "198.18.40.3") is None, "an account serves its own service only"
    assert credentials.account_for("onvif", "not an address") is None
    assert nvr.password == "1234"
    assert credentials.narrowed_by_maker("onvif") and not credentials.narrowed_by_maker("http")


def test_offers_are_counted_per_account_and_described_without_secrets(tmp_path):
    credentials = load_credentials(write(tmp_path, FILE), MAKERS)
    inventory = credentials.accounts[0]
    for ip in ("198.18.20.1", "198.18.20.2", "198.18.20.1"):
        credentials.note_offer(inventory, ip)
    offers = credentials.offers()
    assert [count for _, count in offers] == [2, 0, 0, 0]
    text = " ".join(account.describe() for account, _ in offers)
    assert "198.18.20.0/24" in text and "hikvision" in text and "snmp account 4" in text
    assert not {"onvif-secret", "other-secret", "1234", "s3cr3t-community"} & set(text.replace(",", " ").split())
    assert "onvif-secret" not in repr(inventory) and "s3cr3t-community" not in repr(credentials.accounts[3])


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_file_others_may_read_or_change_is_refused(tmp_path, mode):
    path = write(tmp_path, FILE, mode)
    with pytest.raises(CredentialsError, match="chmod 600") as refused:
        load_credentials(path, MAKERS)
    assert str(path) in str(refused.value)


def test_the_old_unscoped_form_is_refused_with_the_new_one_shown(tmp_path):
    path = write(tmp_path, "onvif:\n  username: admin\n  password: hunter2\n")
    with pytest.raises(CredentialsError) as refused:
        load_credentials(path, MAKERS)
    message = str(refused.value)
    assert "old unscoped form" in message and "targets:" in message and "hunter2" not in message


@pytest.mark.parametrize("entry, complaint", [
    ("- service: onvif\n  username: a\n  password: b\n", "needs targets"),
    ("- service: onvif\n  username: a\n  password: b\n  targets: []\n", "needs targets"),
    ("- service: onvif\n  username: a\n  password: b\n  targets: [198.18.0.0/33]\n", "is not an IP address"),
    ("- service: ftp\n  username: a\n  password: b\n  targets: [198.18.0.1]\n",
     "service must be one of onvif, http, snmp"),
    ("- service: onvif\n  password: b\n  targets: [198.18.0.1]\n", "needs a username"),
    ("- service: onvif\n  username: a\n  targets: [198.18.0.1]\n", "needs a password"),
    ("- service: onvif\n  username: a\n  password: b\n  community: c\n  targets: [198.18.0.1]\n",
     "community is for snmp"),
    ("- service: snmp\n  username: a\n  password: b\n  targets: [198.18.0.1]\n", "not a community or password"),
    ("- service: snmp\n  targets: [198.18.0.1]\n", "needs a community (v2c) or a username (v3)"),
    ("- service: snmp\n  community: c\n  auth_protocol: sha\n  targets: [198.18.0.1]\n", "or a username with"),
    ("- service: snmp\n  username: a\n  community: c\n  targets: [198.18.0.1]\n", "not a community"),
    ("- service: snmp\n  username: a\n  auth_protocol: sha1\n  auth_password: 12345678\n  targets: [198.18.0.1]\n",
     "auth_protocol must be one of md5, sha, sha224, sha256, sha384, sha512"),
    ("- service: snmp\n  username: a\n  auth_protocol: sha\n  auth_password: short\n  targets: [198.18.0.1]\n",
     "at least 8 characters"),
    ("- service: snmp\n  username: a\n  auth_password: longenough\n  targets: [198.18.0.1]\n",
     "auth_password without auth_protocol"),
    ("- service: snmp\n  username: a\n  priv_protocol: aes\n  priv_password: longenough\n  targets: [198.18.0.1]\n",
     "priv_protocol needs auth_protocol"),
    ("- service: snmp\n  username: a\n  auth_protocol: sha\n  auth_password: longenough\n  priv_protocol: aes256\n"
     "  priv_password: longenough\n  targets: [198.18.0.1]\n", "priv_protocol must be one of aes, des"),
    ("- service: snmp\n  username: " + "u" * 33 + "\n  targets: [198.18.0.1]\n", "1 to 32 bytes"),
    ("- service: onvif\n  username: a\n  password: b\n  auth_protocol: sha\n  targets: [198.18.0.1]\n",
     "auth_protocol are for snmp accounts"),
    ("- service: onvif\n  username: a\n  password: b\n  targets: [198.18.0.1]\n  maker: acme\n",
     "'acme' is not a vendor key"),
    ("- service: onvif\n  username: a\n  password: b\n  targets: [198.18.0.1]\n  target: [198.18.0.2]\n",
     "unknown key(s) target"),
    ("- just a string\n", "an account is a mapping"),
    ("[]\n", "must be a YAML list of accounts"),
])
def test_each_mistake_is_named_with_the_file_and_the_entry(tmp_path, entry, complaint):
    good = "- service: http\n  username: x\n  password: y\n  targets: [198.18.0.9]\n"
    path = write(tmp_path, entry if entry.startswith("[") else good + entry)
    with pytest.raises(CredentialsError) as refused:
        load_credentials(path, MAKERS)
    message = str(refused.value)
    assert complaint in message and str(path) in message
    if entry.startswith("- service"):
        assert "entry 2" in message


def test_a_yaml_error_says_where_but_never_quotes_the_file(tmp_path):
    path = write(tmp_path, "- service: onvif\n  password: 'never-shown\n  targets: [198.18.0.1\n")
    with pytest.raises(CredentialsError) as refused:
        load_credentials(path, MAKERS)
    assert "not valid YAML at line" in str(refused.value) and "never-shown" not in str(refused.value)


def test_the_option_account_needs_its_targets():
    with pytest.raises(CredentialsError, match="--onvif-targets"):
        account_from_options(1, "admin", "pw", None)
    account = account_from_options(1, "admin", "pw", "198.18.5.0/24, 198.18.6.1")
    assert account.covers("198.18.6.1") and not account.covers("198.18.6.2") and account.service == "onvif"


def invoke(tmp_path, *args: str, env: dict | None = None):
    # Every case is refused before the scan starts: nothing is sent.
    return CliRunner().invoke(main, ["scan", "127.0.0.1", "--db", str(tmp_path / "x.db"), "--yes", *args], env=env)


def test_no_password_on_the_command_line(tmp_path):
    result = invoke(tmp_path, "--onvif-user", "admin", "--onvif-password", "hunter2")
    # click words it "No such option: --x" or "No such option '--x'" depending on its version.
    assert result.exit_code == 2 and "No such option" in result.output and "--onvif-password" in result.output


def test_the_environment_password_needs_onvif_targets(tmp_path):
    result = invoke(tmp_path, "--onvif-user", "admin", env={"CAMSCAN_ONVIF_PASSWORD": "hunter2"})
    assert result.exit_code == 1 and "--onvif-user needs --onvif-targets" in result.output
    assert "hunter2" not in result.output and not (tmp_path / "x.db").exists()


def test_the_command_refuses_a_readable_credentials_file_before_scanning(tmp_path):
    path = write(tmp_path, FILE, 0o644)
    result = invoke(tmp_path, "--credentials", str(path))
    assert result.exit_code == 1 and f"chmod 600 {path}" in result.output and not (tmp_path / "x.db").exists()


def test_record_credentials_goes_with_record(tmp_path):
    result = invoke(tmp_path, "--record-credentials")
    assert result.exit_code == 2 and "--record-credentials goes with --record" in result.output


@pytest.mark.parametrize("entry, level", [
    ("  username: watcher\n", "noAuthNoPriv"),
    ("  username: watcher\n  auth_protocol: sha256\n  auth_password: 'auth-s3cret'\n", "authNoPriv"),
    ("  username: watcher\n  auth_protocol: md5\n  auth_password: 'auth-s3cret'\n  priv_protocol: aes\n"
     "  priv_password: 'priv-s3cret'\n", "authPriv"),
])
def test_an_snmpv3_account_holds_its_user_and_never_shows_its_passwords(tmp_path, entry, level):
    path = write(tmp_path, f"- service: snmp\n{entry}  targets: [198.18.0.0/24]\n")
    [account] = load_credentials(path, MAKERS).accounts
    assert (account.usm.name, account.usm.level, account.community) == ("watcher", level, "")
    shown = f"{account!r} {account.usm!r} {account.describe()}"
    assert "s3cret" not in shown and f"(watcher, SNMPv3 {level})" in account.describe()
