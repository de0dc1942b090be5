"""nmap results in, camscan identification out: an nmap XML report (``nmap -oX``) as observations.

python-nmap reads the report: hosts, MAC addresses, open ports, services and script output.
What nmap saw becomes the observations camscan's own probes make, so the same signatures
name the device:

* the MAC nmap took from ARP: ``mac.address`` (and so the IEEE registry's maker);
* open TCP ports: ``tcp.open``, and a service per port named as nmap named it;
* the ``http-server-header``, ``http-title`` and ``rtsp-methods`` scripts: ``http.server``,
  ``html.title``, ``rtsp.public``; the ``ssl-cert`` script's subject and issuer tables:
  ``tls.subject``, ``tls.issuer`` (in the RFC 4514 form camscan's TLS parser writes);
* the raw answers nmap keeps in a service fingerprint (``servicefp``, for services its
  probes could not name: often a camera's web server): parsed by camscan's own HTTP and
  RTSP parsers, so Server headers, titles, realms and bodies all count;
* nmap's own verdicts: each service's product (``nmap.product``) and every CPE of its
  services and of an OS match of 95% or more (``nmap.cpe``), with rules of their own.

Evidence sources are ``nmap``; the report is stored as one scan whose parameters say mode
"nmap". Nothing is sent.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.parsers.expat import errors as expat_errors

import nmap

from camscan import correlate
from camscan.errors import UserError
from camscan.fingerprint.identify import Identifier
from camscan.model import Device, Observation, Service, canonical_mac
from camscan.protocols import ProtocolError, http, rtsp
from camscan.protocols.message import parse_response

SOURCE = "nmap"
SCRIPT_FIELDS = {"http-server-header": "http.server", "http-title": "html.title", "rtsp-methods": "rtsp.public"}
# http-title's words when a page has no title of its own.
NO_TITLE = re.compile(r"^(?:Site doesn't have a title|Did not follow redirect to |Requested resource was )")
CERTIFICATE_NAMES = (("commonName", "CN"), ("organizationalUnitName", "OU"), ("organizationName", "O"),
                     ("localityName", "L"), ("stateOrProvinceName", "ST"), ("countryName", "C"))
OS_MATCH_ACCURACY = 95  # an OS guess below this names nothing
FINGERPRINT_RESPONSE = re.compile(r'r\(([A-Za-z0-9]+),[0-9A-Fa-f]+,"((?:[^"\\]|\\.)*)"\)', re.S)
FINGERPRINT_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.S)
ESCAPED = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"0": b"\0"}
MAX_REPORT_BYTES = 512 * 1024 * 1024
# The parser's errors for a document that simply stops; any other error means a malformed one.
CUT_SHORT = {expat_errors.codes[name] for name in (expat_errors.XML_ERROR_NO_ELEMENTS,
                                                    expat_errors.XML_ERROR_UNCLOSED_TOKEN,
                                                    expat_errors.XML_ERROR_PARTIAL_CHAR)}
# What nmap writes last, for a report cut short after a host (python-nmap wants the run statistics).
CLOSING_TAGS = ('<runstats><finished time="0" timestr="" elapsed="0" summary="" exit="error"/>'
                '<hosts up="0" down="0" total="0"/></runstats></nmaprun>')


class NmapReportError(UserError, ValueError):
    """The file is no nmap XML report camscan can read."""


@dataclass
class NmapReport:
    """What an nmap report says, by host address."""

    observations: dict[str, list[Observation]] = field(default_factory=dict)
    services: dict[str, list[Service]] = field(default_factory=dict)
    command: str = ""
    complete: bool = True  # False: the report ended early, and holds only the hosts finished before

    def devices(self, identifier: Identifier) -> list[Device]:
        """One identified device per host that was up, in the report's order."""
        return [
            Device(ip=ip, mac=correlate.device_mac(observations), mac_seen=correlate.mac_from_wire(observations),
                   services=sorted(self.services.get(ip, []), key=lambda service: service.port),
                   observations=observations, identification=identifier.identify(observations))
            for ip, observations in self.observations.items()
        ]


def read_report_file(path: str | os.PathLike) -> NmapReport:
    """:func:`read_report` of a file, refused before reading if it is larger than any report."""
    size = os.path.getsize(path)
    if size > MAX_REPORT_BYTES:
        raise NmapReportError(f"{size} bytes is over the {MAX_REPORT_BYTES}-byte limit for an nmap report")
    with open(path, "rb") as handle:
        return read_report(handle.read())


def read_report(data: bytes) -> NmapReport:
    """Read an nmap XML report; :class:`NmapReportError` if it is none.

    A report that ends early (nmap was interrupted, or the file was cut) keeps every host
    nmap had finished writing, and says it is not ``complete``.
    """
    text = data.decode("utf-8", "replace")
    complete = True
    try:
        tree = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        finished = text.rfind("</host>")
        if "<nmaprun" not in text or error.code not in CUT_SHORT:
            raise NmapReportError(f"not an nmap XML report ({error})") from None
        if finished < 0:
            raise NmapReportError(f"the report ends ({error}) before nmap finished any host") from None
        text, complete = text[: finished + len("</host>")] + CLOSING_TAGS, False
        try:
            tree = ElementTree.fromstring(text)
        except ElementTree.ParseError as cut_error:  # the last "</host>" was inside a comment, say
            raise NmapReportError(f"a cut-short report that cannot be read up to its last host ({cut_error})") from None
    if tree.tag != "nmaprun":
        raise NmapReportError(f"not an nmap XML report (its root element is <{tree.tag}>)")
    try:
        return _report(tree, nmap.PortScanner().analyse_nmap_xml_scan(nmap_xml_output=text), complete)
    except (nmap.PortScannerError, AttributeError, KeyError, TypeError, ValueError) as error:
        raise NmapReportError(f"an nmap report camscan cannot read ({type(error).__name__}: "
                              f"{str(error).strip()[:120]})") from None


def _report(tree: ElementTree.Element, parsed: Mapping[str, Any], complete: bool) -> NmapReport:
    """The observations and services of every host that was up (hosts whose address is none are skipped)."""
    extras = _from_tree(tree)
    report = NmapReport(command=parsed.get("nmap", {}).get("command_line", ""), complete=complete)
    now = time.time()
    for ip, host in parsed.get("scan", {}).items():
        if host.get("status", {}).get("state") != "up" or not _is_address(ip):
            continue
        found, services = _host(ip, host, now)
        found += [Observation(ip=ip, source=SOURCE, field="nmap.cpe", value=cpe, observed_at=now)
                  for cpe in _os_cpes(host)]
        found += [_at(seen, ip, now) for seen in extras.get(ip, [])]
        report.observations[ip] = _unique(found)
        report.services[ip] = services
    return report


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host(ip: str, host: dict, now: float) -> tuple[list[Observation], list[Service]]:
    """What nmap's summary of one host says: its MAC, open ports, services and script output."""

    def seen(name: str, value: str, port: int | None = None, transport: str = "tcp") -> Observation:
        return Observation(ip=ip, source=SOURCE, field=name, value=value, port=port, transport=transport,
                           observed_at=now)

    found: list[Observation] = []
    if mac := canonical_mac(host.get("addresses", {}).get("mac")):
        found.append(seen("mac.address", mac, transport="arp"))
    services = []
    for port, service in sorted(host.get("tcp", {}).items()):
        if service.get("state") != "open" or not 0 < port < 65536:
            continue
        found.append(seen("tcp.open", str(port), port))
        if service.get("product"):
            found.append(seen("nmap.product", service["product"], port))
        if service.get("cpe"):
            found.append(seen("nmap.cpe", service["cpe"], port))
        for script, output in (service.get("script") or {}).items():
            name, text = SCRIPT_FIELDS.get(script), (output or "").strip()
            first = text.splitlines()[0].strip() if text else ""
            if name and first and not (name == "html.title" and NO_TITLE.match(first)):
                found.append(seen(name, first, port))
        summary = " ".join(part for part in (service.get("product"), service.get("version")) if part)
        services.append(Service(ip=ip, port=port, protocol=service.get("name") or None, banner=summary))
    return found, services


def _os_cpes(host: dict) -> list[str]:
    return [cpe for match in host.get("osmatch", []) if _accuracy(match) >= OS_MATCH_ACCURACY
            for osclass in match.get("osclass", []) for cpe in osclass.get("cpe", []) if cpe]


def _accuracy(match: dict) -> int:
    try:
        return int(match.get("accuracy", 0))
    except (TypeError, ValueError):
        return 0


def _from_tree(tree: ElementTree.Element) -> dict[str, list[Observation]]:
    """What python-nmap leaves out, by address: the raw answers of service fingerprints and
    the ssl-cert script's subject and issuer."""
    found: dict[str, list[Observation]] = {}
    for host in tree.iter("host"):
        address = next((item.get("addr") for item in host.iter("address") if item.get("addrtype") in ("ipv4", "ipv6")),
                       None)
        for port in host.iter("port"):
            portid = port.get("portid") or ""
            if not address or port.get("protocol") != "tcp" or not portid.isdigit():
                continue
            number = int(portid)
            observations = found.setdefault(address, [])
            service = port.find("service")
            if service is not None and (fingerprint := service.get("servicefp")):
                observations += _fingerprint_observations(fingerprint, address, number)
            for script in port.iter("script"):
                if script.get("id") == "ssl-cert":
                    observations += _certificate_names(script, address, number)
    return found


def _fingerprint_observations(fingerprint: str, ip: str, port: int) -> list[Observation]:
    """HTTP and RTSP answers nmap kept in a service fingerprint, read by camscan's parsers."""
    found: list[Observation] = []
    for probe, escaped in FINGERPRINT_RESPONSE.findall(fingerprint.replace("\nSF:", "")):
        answer = unescape_fingerprint(escaped)
        if not answer.startswith((b"HTTP/", b"RTSP/")):
            continue
        try:
            response = parse_response(answer)
        except ProtocolError:
            continue
        if response.protocol == "RTSP":
            found += rtsp.observations(response, ip, port, "OPTIONS")
        elif probe == "GetRequest":  # GET / : what a browser sees (other probes ask odd paths)
            found += http.observations(response, ip, port, "/")
    return found


def unescape_fingerprint(escaped: str) -> bytes:
    """The bytes of a response as nmap escapes them in a service fingerprint (``\\x20``, ``\\r``, ``\\.``)."""
    def byte(match: re.Match) -> bytes:
        code = match.group(1)
        if code[:1] == b"x" and len(code) == 3:
            return bytes([int(code[1:], 16)])
        return ESCAPED.get(code, code)

    return FINGERPRINT_ESCAPE.sub(byte, escaped.encode("utf-8", "replace"))


def _certificate_names(script: ElementTree.Element, ip: str, port: int) -> list[Observation]:
    """The ssl-cert script's subject and issuer tables in the form camscan's TLS parser writes."""
    found = []
    for table in script.findall("table"):
        field_name = {"subject": "tls.subject", "issuer": "tls.issuer"}.get(table.get("key") or "")
        values = {element.get("key"): element.text or "" for element in table.findall("elem")}
        name = ",".join(f"{short}={_rfc4514_escape(values[long])}" for long, short in CERTIFICATE_NAMES if long in values)
        if field_name and name:
            found.append(Observation(ip=ip, source=SOURCE, field=field_name, value=name, port=port))
    return found


def _rfc4514_escape(value: str) -> str:
    escaped = re.sub(r'([\\,+"<>;])', r"\\\1", value)
    return "\\" + escaped if escaped[:1] in ("#", " ") else escaped


def _at(seen: Observation, ip: str, now: float) -> Observation:
    return Observation(ip=ip, source=SOURCE, field=seen.field, value=seen.value, port=seen.port,
                       transport=seen.transport, observed_at=now)


def _unique(found: Iterable[Observation]) -> list[Observation]:
    """Each fact once (nmap's script and its fingerprint often say the same)."""
    kept: dict[tuple, Observation] = {}
    for seen in found:
        kept.setdefault((seen.field, seen.value, seen.port), seen)
    return list(kept.values())
