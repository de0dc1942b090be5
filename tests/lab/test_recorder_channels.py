"""Cameras behind recorders (issue 15): every emulated recorder's channels inventoried exactly.

A namespace lab (prefix ``r15``, 198.18.72.0/24, no route out) holds six recorders
(:mod:`camscan_lab.recorders`: a Hikvision PoE NVR, a Dahua XVR, an ONVIF-only NVR, a
Dahua-made Lorex NVR, a DVR that refuses every account and an NVR that offers ONVIF Media2
alone), three multi-sensor cameras whose video sources are their channels (a Dahua dual-sensor
PTZ whose DHIP reply counts them, an Axis four-sensor panoramic camera that only ONVIF Media2
describes, a Hikvision bi-spectrum dome that only ISAPI describes), and the two single-source
LAN cameras the ``ip-lan`` channels point at. It is scanned through the real CLI twice, with a
credentials file (which also offers the single-source Hikvision camera a web account) and without one, and each export is held against the lab's truth in
the form ``camscan export --format json`` gives channels: one object per channel with
``attached_to`` (the recorder's address), ``channel``, ``connection``, ``video``,
``reported_ip``, maker and model where the recorder says them, and ``is_camera``; on the
recorder, ``channels`` (enumerated | credentials-needed | not-asked) and ``channel_count``.

A capture of the credentialed scan must show no packet to a camera behind a recorder's
PoE port and none outside the lab network; no credential (username, password, Digest
response) may be in the database, the export, the report, the recording or the output.
The report, opened in headless Chromium, must list cameras per recorder.
"""

from __future__ import annotations

import html
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from camscan.channels import MAX_SOURCE_QUESTION_REQUESTS
from camscan_lab import LabHost, NamespaceLab
from camscan_lab.recorders import SCAN_ACCOUNT, internal_addresses, lab_credentials, recorder_lab
from capture import start_capture, stop_capture
from labs import torn_down_lab

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tcpdump") is None,
    reason="namespace labs need root, iproute2 and tcpdump",
)

NETWORK = "198.18.72.0/24"
CAMSCAN = [sys.executable, "-m", "camscan"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MAX_ATTEMPTS_ON_REFUSAL = 3
BEHIND_RECORDERS = ipaddress.ip_network("198.19.0.0/16")  # the recorders' own camera ports (recorder_profiles.yaml)


def inventoried(hosts: list[LabHost]) -> list[LabHost]:
    """The hosts whose channels a scan asks for: recorders and multi-sensor cameras."""
    return [host for host in hosts if "channels" in host.truth]


def recorders(hosts: list[LabHost]) -> list[LabHost]:
    return [host for host in inventoried(hosts) if host.truth["device_type"] != "ip-camera"]


def cameras_in_truth(hosts: list[LabHost]) -> list[LabHost]:
    """The lab's cameras that list their own video sources in truth.channels."""
    return [host for host in inventoried(hosts) if host.truth["device_type"] == "ip-camera"]


def multi_sensor_cameras(hosts: list[LabHost]) -> list[LabHost]:
    return [host for host in cameras_in_truth(hosts) if len(host.truth["channels"]) >= 2]


def single_source_cameras(hosts: list[LabHost]) -> list[LabHost]:
    """The LAN cameras recorders point at (no truth.channels) and the one-source camera."""
    return [host for host in hosts if "channels" not in host.truth or host in cameras_in_truth(hosts)
            and len(host.truth["channels"]) == 1]


def web_accounts(hosts: list[LabHost]) -> list[dict]:
    """Credentials entries for the single-source Hikvision cameras' web API (the account their ONVIF
    service knows, which their ISAPI refuses), each offered to its camera alone. No ONVIF account:
    one would change what discovery reads of them, and with it the LAN channels that are them."""
    return [{"service": "http", "username": host.discovery["onvif"]["username"],
             "password": host.discovery["onvif"]["password"], "targets": [host.ip]}
            for host in single_source_cameras(hosts) if host.truth["vendor"] == "hikvision"]


def local_cli(*args: str) -> subprocess.CompletedProcess:
    """A camscan command that only reads the database (no network)."""
    assert args[0] in ("export", "report"), args
    return subprocess.run([*CAMSCAN, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def export(db: Path) -> list[dict]:
    result = local_cli("export", "--db", str(db), "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def scan(lab: NamespaceLab, db: Path, *options: str) -> subprocess.CompletedProcess:
    result = lab.run([*CAMSCAN, "scan", NETWORK, "--db", str(db), "--yes", "--json", *options],
                     capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def lab():
    with torn_down_lab(recorder_lab(NETWORK), prefix="r15", network=NETWORK) as running:
        yield running


@pytest.fixture(scope="module")
def credentials_file(lab, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("r15-credentials") / "credentials.yaml"
    path.write_text(yaml.safe_dump(lab_credentials(lab.hosts) + web_accounts(lab.hosts), sort_keys=False))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def with_credentials(lab, credentials_file, tmp_path_factory):
    """The credentialed scan: its database, recording, tcpdump capture, process result and export."""
    work = tmp_path_factory.mktemp("r15-with")
    db, recording, pcap = work / "with.db", work / "scan.pcapng", work / "capture.pcap"
    for host in lab.hosts:
        host.extra.clear()
    capture = start_capture(lab, pcap)
    try:
        result = scan(lab, db, "--credentials", str(credentials_file), "--record", str(recording))
    finally:
        tcpdump_said = stop_capture(capture)
    attempts = {host.profile: host.extra.get("digest_attempts", 0) for host in lab.hosts}
    responses = {r for host in lab.hosts for r in host.extra.get("digest_responses", []) if r}
    return {"db": db, "recording": recording, "pcap": pcap, "tcpdump": tcpdump_said, "result": result,
            "exported": export(db), "attempts": attempts, "responses": responses}


@pytest.fixture(scope="module")
def without_credentials(lab, tmp_path_factory):
    db = tmp_path_factory.mktemp("r15-without") / "without.db"
    scan(lab, db)
    return export(db)


# --------------------------------------------------------------------------- the inventory


def expected_channels(host: LabHost) -> dict[int, dict]:
    """What the export must say of each of the recorder's channels, by channel number."""
    return {c["number"]: {"connection": c["connection"], "video": c["video"],
                          "reported_ip": c.get("address") if c["connection"] in ("ip-poe", "ip-lan") else None,
                          "maker": c["maker"], "model": c["model"], "is_camera": c["connection"] != "sensor"}
            for c in host.truth["channels"]}


def observed_channels(exported: list[dict], host: LabHost) -> dict[int, dict]:
    """The export's channel objects attached to *host*, in the form of :func:`expected_channels`."""
    truth = {c["number"]: c for c in host.truth["channels"]}
    found: dict[int, dict] = {}
    for item in exported:
        if item.get("attached_to") != host.ip:
            continue
        number = item.get("channel")
        assert number not in found, f"{host.profile}: channel {number} exported twice"
        named = {item.get("vendor"), item.get("manufacturer")} - {None}
        wanted = truth.get(number, {}).get("maker")
        found[number] = {"connection": item.get("connection"), "video": item.get("video"),
                         "reported_ip": item.get("reported_ip"),
                         "maker": wanted if wanted in named else (sorted(named)[0] if named else None),
                         "model": item.get("model"), "is_camera": item.get("is_camera")}
    return found


def assert_inventory(exported: list[dict], hosts: list[LabHost], state_key: str) -> None:
    by_ip = {item.get("ip"): item for item in exported if item.get("ip")}
    for host in inventoried(hosts):
        state = host.truth[state_key]
        device = by_ip.get(host.ip)
        assert device is not None, f"{host.profile} ({host.ip}) is not in the export"
        assert device.get("channels") == state, f"{host.profile}: channels {device.get('channels')!r}, truth {state!r}"
        if state == "enumerated":
            assert device.get("channel_count") == len(host.truth["channels"]), host.profile
            assert observed_channels(exported, host) == expected_channels(host), host.profile
        else:
            assert observed_channels(exported, host) == {}, f"{host.profile} lists channels it never gave out"


def test_every_recorders_channels_are_inventoried_exactly_with_credentials(lab, with_credentials):
    assert_inventory(with_credentials["exported"], lab.hosts, "channels_with_credentials")


def test_without_credentials_only_the_open_recorder_is_enumerated(lab, without_credentials):
    assert_inventory(without_credentials, lab.hosts, "channels_without_credentials")
    assert not [item for item in without_credentials if item.get("attached_to")
                and item["attached_to"] not in {h.ip for h in inventoried(lab.hosts)
                                                if h.truth["channels_without_credentials"] == "enumerated"}]


def test_a_multi_sensor_camera_is_one_camera_with_its_sensors_as_channels(lab, with_credentials):
    cameras = multi_sensor_cameras(lab.hosts)
    assert sorted(len(camera.truth["channels"]) for camera in cameras) == [2, 2, 4]
    exported = with_credentials["exported"]
    for camera in cameras:
        [device] = [item for item in exported if item.get("ip") == camera.ip]
        assert (device["is_camera"], device["device_type"], device["channels"], device["channel_count"]) == (
            True, "ip-camera", "enumerated", len(camera.truth["channels"])), camera.profile
        sensors = [item for item in exported if item.get("attached_to") == camera.ip]
        assert [(s["connection"], s["is_camera"], s["ip"]) for s in sensors] == [
            ("sensor", False, None)] * len(camera.truth["channels"]), camera.profile


# What a camera's question about its video sources sends (ONVIF GetServices and the media
# question, ISAPI's video inputs), and what only a recorder's inventory sends (not GetProfiles:
# the ONVIF exposure check asks every camera for it).
SOURCE_QUESTION = (b"GetServices", b"GetVideoSources", b"GetVideoSourceConfigurations", b"/ISAPI/System/Video/inputs")
RECORDER_ONLY = (b"/ISAPI/ContentMgmt/InputProxy", b"devVideoInput.cgi", b"RemoteDevice")


def channel_requests(pcap: Path, ip: str) -> list[bytes]:
    """The HTTP requests the scanner sent to ``ip`` that ask for channels or video sources and that
    ``ip`` answered, each whole (its TCP segments joined, per connection, split where a request line
    starts). A request the transport wrote on a reused connection the device had already closed got
    no answer (the transport sends it again on a fresh one): it is not counted twice."""
    from scapy.layers.inet import IP, TCP
    from scapy.packet import Raw
    from scapy.utils import rdpcap

    sent: dict[int, bytes] = {}
    answers: dict[int, bytes] = {}
    for packet in rdpcap(str(pcap)):
        if IP in packet and TCP in packet and Raw in packet:
            if packet[IP].dst == ip:
                sent[packet[TCP].sport] = sent.get(packet[TCP].sport, b"") + bytes(packet[Raw].load)
            elif packet[IP].src == ip:
                answers[packet[TCP].dport] = answers.get(packet[TCP].dport, b"") + bytes(packet[Raw].load)
    answered = []
    for port, stream in sent.items():
        requests = [request for request in re.split(rb"(?=(?:GET|POST) /\S* HTTP/1\.1\r\n)", stream) if request]
        answered += requests[:len(re.findall(rb"HTTP/1\.[01] \d{3} ", answers.get(port, b"")))]
    return [request for request in answered if any(marker in request for marker in SOURCE_QUESTION + RECORDER_ONLY)]


def test_a_single_source_camera_costs_at_most_two_requests_and_stores_nothing(lab, with_credentials,
                                                                               without_credentials):
    single = single_source_cameras(lab.hosts)
    assert sorted(host.profile for host in single) == ["axis-p3245", "hikvision-ds2cd", "rec-onvif-single-sensor-cam"]
    for exported in (with_credentials["exported"], without_credentials):
        for host in single:
            [device] = [item for item in exported if item.get("ip") == host.ip]
            assert device["is_camera"] and device["channels"] is None and device["channel_count"] is None
            assert not [item for item in exported if item.get("attached_to") == host.ip]
    # The Axis camera refused an anonymous ONVIF caller and has no account: not asked at all. The
    # Hikvision camera's ISAPI answers 401, then refuses the web account it is offered: asked twice.
    # The open ONVIF camera answers GetServices and GetVideoSources (one source): asked twice.
    expected = {"axis-p3245": 0, "hikvision-ds2cd": MAX_SOURCE_QUESTION_REQUESTS,
                "rec-onvif-single-sensor-cam": MAX_SOURCE_QUESTION_REQUESTS}
    for host in single:
        asked = channel_requests(with_credentials["pcap"], host.ip)
        assert not [payload[:80] for payload in asked if any(marker in payload for marker in RECORDER_ONLY)]
        assert len(asked) == expected[host.profile], (host.profile, [payload[:80] for payload in asked])


def test_a_camera_asked_about_its_sources_gets_one_question_only(lab, with_credentials):
    for host in multi_sensor_cameras(lab.hosts):
        if "dhip" in host.discovery:  # inventoried as a recorder is, within the recorder budget
            continue
        asked = channel_requests(with_credentials["pcap"], host.ip)
        assert 1 <= len(asked) <= MAX_SOURCE_QUESTION_REQUESTS, (host.profile, [payload[:80] for payload in asked])
        assert not [payload[:80] for payload in asked if any(marker in payload for marker in RECORDER_ONLY)]


def test_a_lan_camera_behind_a_recorder_is_one_device(lab, with_credentials):
    exported = with_credentials["exported"]
    hosts_by_ip = {host.ip: host for host in lab.hosts}
    peers = [(host, c) for host in recorders(lab.hosts) for c in host.truth["channels"]
             if c["connection"] == "ip-lan" and c.get("address") in hosts_by_ip]
    assert len(peers) == 2, "the lab must hold LAN cameras behind recorders"
    for recorder, channel in peers:
        same = [item for item in exported if item.get("ip") == channel["address"]]
        assert len(same) == 1, f"{channel['address']} exported {len(same)} times"
        [camera] = same
        assert (camera.get("attached_to"), camera.get("channel")) == (recorder.ip, channel["number"])
        assert camera.get("mac") in (None, hosts_by_ip[channel["address"]].mac)


def test_the_refusing_recorder_is_asked_a_bounded_number_of_times(lab, with_credentials):
    refusing = [h for h in recorders(lab.hosts) if h.truth["channels_with_credentials"] == "credentials-needed"]
    assert refusing
    for host in refusing:
        assert 1 <= with_credentials["attempts"][host.profile] <= MAX_ATTEMPTS_ON_REFUSAL, with_credentials["attempts"]


# --------------------------------------------------------------------------- what went on the wire


def test_no_packet_to_a_camera_behind_a_recorder_nor_out_of_scope(lab, with_credentials):
    from scapy.layers.inet import IP
    from scapy.layers.l2 import ARP
    from scapy.utils import rdpcap

    scope = ipaddress.ip_network(NETWORK)
    internal = internal_addresses(lab.hosts)
    assert internal and all(ipaddress.ip_address(a) in BEHIND_RECORDERS for a in internal)
    packets = rdpcap(str(with_credentials["pcap"]))
    assert packets, f"empty capture: {with_credentials['tcpdump']}"
    sent = [p for p in packets if IP in p and p[IP].src == lab.scanner_ip]
    assert sent, "the capture shows no scan traffic"

    def allowed(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        return ip in scope or ip.is_multicast or address == "255.255.255.255"

    stray = sorted({p[IP].dst for p in sent if not allowed(p[IP].dst)})
    assert not stray, f"scanner sent packets out of scope to {stray}"
    destinations = {p[IP].dst for p in packets if IP in p} | {p[ARP].pdst for p in packets if ARP in p}
    behind = sorted(d for d in destinations if ipaddress.ip_address(d) in BEHIND_RECORDERS)
    assert not behind, f"packets to cameras behind recorders: {behind}"
    reached = {(p[IP].dst, p[IP].dport) for p in sent if p.haslayer("TCP")}
    for host in inventoried(lab.hosts):
        assert (host.ip, 80) in reached, f"{host.profile} was never asked"


def scan_output_without_account_summary(result: subprocess.CompletedProcess) -> str:
    """The scan's stdout and stderr less its closing ``credentials: <service> account N (<user>) ...``
    lines, which name the account's user by design (README "Credentials"); its secret never."""
    kept = [line for line in result.stderr.splitlines() if not line.startswith("credentials: ")]
    return result.stdout + "\n".join(kept)


def test_no_credential_anywhere(lab, credentials_file, with_credentials, tmp_path):
    entries = yaml.safe_load(credentials_file.read_text())
    secrets = {SCAN_ACCOUNT} | {entry["password"] for entry in entries} | with_credentials["responses"]
    assert len(with_credentials["responses"]) >= 3, "the scan sent no Digest answers to check"
    report = tmp_path / "report.html"
    rendered = local_cli("report", "--db", str(with_credentials["db"]), "-o", str(report))
    assert rendered.returncode == 0, rendered.stderr
    db = with_credentials["db"]
    places = {
        "database": b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*")),
        "export": local_cli("export", "--db", str(db), "--format", "json").stdout.encode(),
        "report": report.read_bytes(),
        "recording": with_credentials["recording"].read_bytes(),
        "scan output": scan_output_without_account_summary(with_credentials["result"]).encode(),
        "report output": (rendered.stdout + rendered.stderr).encode(),
    }
    full_output = (with_credentials["result"].stdout + with_credentials["result"].stderr).encode()
    leaks = [(where, secret) for where, data in [*places.items(), ("account summary", full_output)]
             for secret in (secrets - {SCAN_ACCOUNT} if where == "account summary" else secrets)
             if secret.encode() in data or secret.encode("utf-16-le") in data]
    assert not leaks, f"credentials found in: {sorted({where for where, _ in leaks})}"


# --------------------------------------------------------------------------- the report


def section_text(document: str, heading: str) -> str:
    """The markup from the heading that names *heading* up to the next heading (the list directly
    under it; a sub-heading such as the per-channel table starts another)."""
    match = re.search(rf"<(h[1-4])[^>]*>[^<]*{re.escape(heading)}", document, re.IGNORECASE)
    assert match, f"no {heading!r} section in the report"
    end = re.search(r"<h[1-6][\s>]", document[match.end():])
    return document[match.start(): match.end() + end.start() if end else len(document)]


def rows(markup: str) -> list[str]:
    """Each table row or list item of *markup* as plain text."""
    return [html.unescape(re.sub(r"<[^>]+>", " ", chunk)) for chunk in re.split(r"<(?:tr|li)\b", markup)[1:]]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package `chromium`)")
def test_report_in_chromium_shows_cameras_per_recorder(lab, with_credentials, tmp_path):
    report = tmp_path / "report.html"
    rendered = local_cli("report", "--db", str(with_credentials["db"]), "-o", str(report))
    assert rendered.returncode == 0, rendered.stderr
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync", "--disable-extensions",
            f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", report.as_uri()]
    dom = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    listed = rows(section_text(dom.stdout, "cameras per recorder"))
    for host in recorders(lab.hosts):
        [row] = [text for text in listed if re.search(rf"(?<![\d.]){re.escape(host.ip)}(?![\d.])", text)] or [None]
        assert row is not None, f"{host.profile} ({host.ip}) is not listed under cameras per recorder"
        if host.truth["channels_with_credentials"] == "enumerated":
            assert str(len(host.truth["channels"])) in row.split(), f"{host.profile}: {row!r}"
    for camera in multi_sensor_cameras(lab.hosts):  # one camera, not a recorder with cameras behind it
        assert not [text for text in listed if re.search(rf"(?<![\d.]){re.escape(camera.ip)}(?![\d.])", text)]
    behind = sum(len(host.truth["channels"]) for host in recorders(lab.hosts)
                 if host.truth["channels_with_credentials"] == "enumerated")
    sentence = re.search(r"(\d+) recorders?, (\d+) cameras? behind them", html.unescape(dom.stdout))
    assert sentence and sentence.groups() == (str(len(recorders(lab.hosts))), str(behind)), sentence
