"""Benchmark: identification throughput, distinct observations per second through the whole identifier.

Builds N distinct observations (default 50,000) from the examples of camscan's own signatures and
of the vendored Rapid7 Recog databases, each as the wire field camscan records it (an FTP banner
with its 220 code, an SSH banner with its SSH-2.0- prefix), plus variants of them whose digits are
shifted (another firmware version, another serial) so that no two observations are the same. Groups
them by device (a few observations each) and times ``Identifier.identify`` over all of them on one
core, after loading the rules and compiling every regex (what a long scan or passive run has done
early on). No network traffic, no root.
Usage: python bench/identify_throughput.py [--observations N] [--per-device K]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import time
from pathlib import Path
from xml.etree import ElementTree

from camscan.fingerprint.identify import Identifier
from camscan.fingerprint.recog import default_databases
from camscan.fingerprint.signatures import default_rules, signatures_dir
from camscan.model import Observation

DIGITS = "0123456789"

# The camscan field a Recog database's input comes from, and what a device sends before that input.
RECOG_FIELDS = {
    "http_servers": ("http.server", ""),
    "html_title": ("html.title", ""),
    "http_wwwauth": ("http.www_authenticate", ""),
    "rtsp_servers": ("rtsp.server", ""),
    "ftp_banners": ("ftp.banner", "220 "),
    "ssh_banners": ("ssh.banner", "SSH-2.0-"),
    "telnet_banners": ("telnet.banner", ""),
    "x509_subjects": ("tls.subject", ""),
    "x509_issuers": ("tls.issuer", ""),
    "dhcp_vendor_class": ("dhcp.vendor_class", ""),
    "mdns_device-info_txt": ("mdns.txt", ""),
    "favicons": ("http.favicon_md5", ""),
}


def recog_examples(directory: Path) -> list[tuple[str, str]]:
    """(camscan field, value) for every example of the Recog databases camscan reads."""
    found = []
    for name, (field, prefix) in RECOG_FIELDS.items():
        path = directory / f"{name}.xml"
        if not path.exists():
            continue
        for example in ElementTree.parse(path).getroot().iter("example"):
            text = example.text or ""
            if example.get("_encoding") == "base64":
                text = base64.b64decode("".join(text.split())).decode("utf-8", "replace")
            found.append((field, prefix + text))
    return found


def seeds() -> list[tuple[str, str]]:
    own = [(rule.field, example.value) for rule in default_rules() for example in rule.examples]
    return list(dict.fromkeys(own + recog_examples(signatures_dir() / "recog")))


def shifted(value: str, step: int) -> str:
    """The value with every digit moved on by ``step`` (or, with no digit, a numbered suffix)."""
    if not any(char in DIGITS for char in value):
        return f"{value} {step}"
    return "".join(DIGITS[(DIGITS.index(char) + step) % 10] if char in DIGITS else char for char in value)


def distinct_observations(count: int) -> list[Observation]:
    found: dict[tuple[str, str], None] = {}
    base = seeds()
    for step in itertools.count():
        for field, value in base:
            found.setdefault((field, shifted(value, step) if step else value))
            if len(found) == count:
                return [Observation(ip=f"198.18.{i // 250 % 250}.{i % 250 + 1}", source="bench", field=field,
                                    value=value, port=80) for i, (field, value) in enumerate(found)]
        if step > 1000:
            raise SystemExit(f"only {len(found)} distinct observations could be made")
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=50_000)
    parser.add_argument("--per-device", type=int, default=5)
    args = parser.parse_args()
    observations = distinct_observations(args.observations)
    devices = [observations[i:i + args.per_device] for i in range(0, len(observations), args.per_device)]
    identifier = Identifier()
    compiled = sum(fingerprint.regex is not None for database in default_databases().values()
                   for fingerprint in database.fingerprints)
    started = time.process_time()
    identified = sum(1 for device in devices if identifier.identify(device).manufacturer)
    seconds = time.process_time() - started
    print(f"{len(observations)} distinct observations in {len(devices)} devices: {seconds:.2f} s of CPU, "
          f"{len(observations) / seconds:,.0f} observations/s; {identified} devices given a maker "
          f"({compiled} Recog regexes)")


if __name__ == "__main__":
    main()
