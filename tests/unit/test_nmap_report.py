"""nmap XML reports in, camscan identification out: a real report of nmap 7.93 run against the lab.

tests/unit/nmap_lab.xml is what this wrote, in the scanner namespace of a 12-host lab
(python -m camscan_lab up --hosts 12 --seed 3 --network 198.18.60.0/24):
nmap -sV --version-light -Pn -n -p 80,443,554,8000,8080,37777,22,23
     --script http-title,http-server-header,ssl-cert,rtsp-methods -oX nmap_lab.xml 198.18.60.2-13
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from camscan.cli import main
from camscan.fingerprint.identify import Identifier
from camscan.nmap_report import NmapReportError, read_report, unescape_fingerprint
from camscan.store import Store

REPORT = Path(__file__).with_name("nmap_lab.xml")


@pytest.fixture(scope="module")
def devices():
    return {device.ip: device for device in read_report(REPORT.read_bytes()).devices(Identifier())}


def fields(device) -> set[tuple[str, str]]:
    return {(seen.field, seen.value) for seen in device.observations}


def test_every_host_with_its_mac_ports_and_services(devices):
    assert len(devices) == 12
    hikvision = devices["198.18.60.7"]
    assert hikvision.mac == "4c:bd:8f:25:ae:a1"
    assert [(service.port, service.protocol) for service in hikvision.services] == [(80, "http"), (554, "rtsp"), (8000, "http-alt")]
    assert {("tcp.open", "80"), ("http.server", "App-webs/"), ("nmap.product", "App-webs/")} <= fields(hikvision)
    assert (hikvision.identification.vendor, hikvision.identification.device_type) == ("hikvision", "ip-camera")


def test_a_service_fingerprint_gives_camscan_the_raw_answer(devices):
    """nmap could not name the Dahua NVR's web server; its fingerprint kept the page, whose
    JSON-RPC login names Dahua."""
    nvr = devices["198.18.60.2"]
    assert not any(field == "nmap.product" and seen_port == 80 for field, seen_port in
                   ((seen.field, seen.port) for seen in nvr.observations))
    assert ("html.title", "WEB SERVICE") in fields(nvr)
    assert "dahua-rpc2-login-body" in {item.signature for item in nvr.identification.evidence}
    assert nvr.identification.manufacturer == "dahua"


def test_ssl_cert_tables_read_as_camscan_writes_certificate_names(devices):
    camera = devices["198.18.60.11"]
    assert ("tls.subject", "CN=camera.ubnt.dev,OU=devint,O=Ubiquiti Networks Inc.,L=Taipei,C=TW") in fields(camera)
    assert (camera.identification.vendor, camera.identification.device_type) == ("ubiquiti", "ip-camera")


def test_script_titles_that_are_no_title_are_left_out(devices):
    assert not [value for field, value in fields(devices["198.18.60.3"]) if field == "html.title" and "redirect" in value]


def test_fingerprint_escapes():
    assert unescape_fingerprint(r'HTTP/1\.1\x20200\x20OK\r\nServer:\x20App-webs/\r\n\r\n<a\x20href=\"x\">') == (
        b'HTTP/1.1 200 OK\r\nServer: App-webs/\r\n\r\n<a href="x">')


def test_a_report_cut_short_keeps_the_hosts_nmap_finished():
    text = REPORT.read_text()
    cut = text[: text.index("</host>", len(text) // 2) + 200]
    report = read_report(cut.encode())
    assert not report.complete
    assert 0 < len(report.observations) < 12
    assert all(report.observations.values())


@pytest.mark.parametrize("data, message", [
    (b"<x/>", "root element is <x>"),
    (b"GIF89a\x00\x01", "not an nmap XML report"),
    (REPORT.read_bytes()[:2000], "before nmap finished any host"),
    (b'<?xml version="1.0"?><!DOCTYPE nmaprun [<!ENTITY a "aaaaaaaaaa">'
     + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10) for i in range(9))
     + b"]><nmaprun>&j;</nmaprun>", "amplification"),  # a billion laughs
])
def test_what_is_no_report_is_a_clear_error(data, message):
    with pytest.raises(NmapReportError, match=message):
        read_report(data)


def test_hostile_reports_are_errors_or_read_without_what_makes_no_sense():
    text = REPORT.read_text()
    last = text.rindex("</host>")
    with pytest.raises(NmapReportError, match="cannot be read up to its last host"):
        read_report((text[:last] + "</host><!-- </host> ").encode())  # cut inside a comment
    odd = (text.replace('<script id="http-title" output="WEB SERVICE">', '<script id="http-title">', 1)
               .replace('<address addr="198.18.60.13" addrtype="ipv4"/>', '<address addr="not-an-ip" addrtype="ipv4"/>'))
    report = read_report(odd.encode())
    assert "not-an-ip" not in report.observations and len(report.observations) == 11
    empty_cpe = NMAP_VERDICTS.replace(b"<cpe>cpe:/h:hikvision:ds-7600</cpe>", b"<cpe/>")
    assert [seen.field for seen in read_report(empty_cpe).observations["198.18.50.8"]].count("nmap.cpe") == 0


def test_cli_stores_the_report_as_an_nmap_scan(tmp_path):
    db = tmp_path / "inventory.db"
    result = CliRunner().invoke(main, ["import-nmap", str(REPORT), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    # 198.18.60.4 is known by its Hikvision MAC alone: a maker of intercoms and access control too,
    # so the MAC names its maker, not its kind.
    assert len(exported) == 12 and sum(device["is_camera"] for device in exported) == 6
    with Store(db) as store:
        [scan] = store.scans()
    assert scan["status"] == "complete" and scan["parameters"]["mode"] == "nmap"
    refused = CliRunner().invoke(main, ["import-nmap", str(tmp_path / "inventory.db"), "--db", str(db)])
    assert refused.exit_code != 0 and "not an nmap XML report" in refused.output


NMAP_VERDICTS = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -sV -O 198.18.50.7-8" start="1764422600" startstr="Sun Nov 29 13:23:20 2026" version="7.93" xmloutputversion="1.05">
<host starttime="1764422601" endtime="1764422640"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="198.18.50.7" addrtype="ipv4"/><address addr="00:40:8C:12:34:56" addrtype="mac" vendor="Axis Communications AB"/>
<ports><port protocol="tcp" portid="21"><state state="open" reason="syn-ack" reason_ttl="64"/>
<service name="ftp" product="Axis 211 Network Camera ftpd" version="4.40" ostype="Linux" method="probed" conf="10"><cpe>cpe:/h:axis:211_network_camera</cpe></service></port>
</ports></host>
<host starttime="1764422601" endtime="1764422640"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="198.18.50.8" addrtype="ipv4"/><address addr="02:11:22:33:44:55" addrtype="mac"/>
<ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="ssh" method="table" conf="3"/></port></ports>
<os><osmatch name="HIKVISION DS-7600 Linux Embedded NVR (Linux 2.6.10)" accuracy="97" line="37046">
<osclass type="specialized" vendor="Hikvision" osfamily="embedded" accuracy="97"><cpe>cpe:/h:hikvision:ds-7600</cpe></osclass></osmatch>
<osmatch name="Linux 3.10" accuracy="90" line="1"><osclass type="general purpose" vendor="Linux" osfamily="Linux" osgen="3.X" accuracy="90"><cpe>cpe:/o:linux:linux_kernel:3.10</cpe></osclass></osmatch></os>
</host>
<runstats><finished time="1764422640" timestr="Sun Nov 29 13:24:00 2026" summary="Nmap done" elapsed="40.00" exit="success"/><hosts up="2" down="0" total="2"/></runstats>
</nmaprun>
"""


def test_nmap_products_and_cpes_have_rules_of_their_own():
    camera, recorder = read_report(NMAP_VERDICTS).devices(Identifier())
    assert ("nmap.product", "Axis 211 Network Camera ftpd") in fields(camera)
    assert (camera.identification.vendor, camera.identification.device_type, camera.identification.model) == (
        "axis", "ip-camera", "211")
    assert ("nmap.cpe", "cpe:/h:hikvision:ds-7600") in fields(recorder)  # an OS match of 97%
    assert ("nmap.cpe", "cpe:/o:linux:linux_kernel:3.10") not in fields(recorder)  # 90%: a guess too far
    assert (recorder.identification.vendor, recorder.identification.device_type) == ("hikvision", "nvr")


def test_reports_of_two_sites_keep_their_devices_apart(tmp_path):
    """Two schools' reports of the same (routed, so MAC-less) addresses: one device per site and address."""
    import re

    routed = tmp_path / "routed.xml"
    routed.write_text(re.sub(r'<address addr="[0-9A-F:]+" addrtype="mac"[^>]*/>', "", REPORT.read_text()))
    db = tmp_path / "district.db"
    for site in ("North", "South"):
        result = CliRunner().invoke(main, ["import-nmap", str(routed), "--db", str(db), "--site", site, "--json"])
        assert result.exit_code == 0, result.output
        assert {device["site"] for device in json.loads(result.stdout)} == {site}
    with Store(db) as store:
        assert len(store.devices()) == 24
        assert [scan["site"] for scan in store.scans()] in (["North", "South"], ["South", "North"])
