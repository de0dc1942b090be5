"""The protocol table: every reader of discovery traffic takes its protocols from it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from camscan import correlate, onlink
from camscan.fingerprint import resolvers
from camscan.cli import main
from camscan.passive import PassiveInventory
from camscan.capture.reader import Datagram
from camscan.model import Observation
from camscan.probes import flows
from camscan.probes.discovery_probes import discovery_probes
from camscan.probes.ports import DEFAULT_PORTS, STREAM_BY_PORT, _load_port_table, streams_for
from camscan.protocols import mdns, sadp
from camscan.protocols.spec import declared_values
from camscan.registry import DISCOVERY, DISCOVERY_BY_PORT, discovery_protocol_of
from camscan.transport.guard import CONNECT_ONLY

SADP_REPLY = (
    b'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>1</Uuid><Types>inquiry</Types>'
    b"<DeviceType>138153</DeviceType><DeviceDescription>DS-2CD2042WD-I</DeviceDescription>"
    b"<DeviceSN>DS-2CD2042WD-I20150101AAWR123456789</DeviceSN><MAC>44-19-b6-01-02-03</MAC>"
    b"<IPv4Address>198.18.0.20</IPv4Address></ProbeMatch>"
)


def test_names_and_ports_are_unique():
    assert len({spec.name for spec in DISCOVERY}) == len(DISCOVERY)
    assert sum(len(spec.ports) for spec in DISCOVERY) == len(DISCOVERY_BY_PORT)


def test_a_scan_sends_every_protocol_with_requests_and_leaves_out_only_optional_ones():
    sent = [probe.name for probe in discovery_probes(seed=1)]
    assert sent == [spec.name for spec in DISCOVERY if spec.requests is not None]
    assert "snmp" not in [probe.name for probe in discovery_probes(seed=1, without=("snmp",))]
    # a protocol the scan has no option for cannot be left out
    assert "sadp" in [probe.name for probe in discovery_probes(seed=1, without=("sadp",))]


def test_seeded_requests_are_the_same_every_time():
    assert [p.requests for p in discovery_probes(seed=7)] == [p.requests for p in discovery_probes(seed=7)]
    assert [p.requests for p in discovery_probes(seed=7)] != [p.requests for p in discovery_probes(seed=8)]


def test_reply_port_and_request_port_both_lead_to_the_protocol():
    bosch = next(spec for spec in DISCOVERY if spec.name == "bosch")
    assert discovery_protocol_of(bosch.reply_port, 50000) is bosch
    assert discovery_protocol_of(50000, bosch.port) is bosch
    assert discovery_protocol_of(50000, 50001) is None
    assert set(onlink.DISCOVERY_PORTS) == {port for spec in DISCOVERY for port in spec.ports}


def test_identity_fields_come_from_the_table():
    for spec in DISCOVERY:
        assert set(spec.mac_fields) <= set(correlate.MAC_FIELDS)
        assert set(spec.serial_fields) <= set(correlate.SERIAL_FIELDS)
    assert correlate.MAC_FIELDS[0] == correlate.WIRE_MAC_FIELD


def test_passive_analysis_reads_a_registered_protocol_by_its_port():
    inventory = PassiveInventory()
    inventory.add(Datagram(ts=1.0, src="198.18.0.20", dst="198.18.0.1", sport=sadp.PORT, dport=40000,
                           payload=SADP_REPLY))
    fields = {seen.field for seen in inventory.observations["198.18.0.20"].values()}
    assert {"sadp.serial", "sadp.mac"} <= fields


def test_passive_analysis_skips_an_ssdp_search_request():
    inventory = PassiveInventory()
    search = b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nST: ssdp:all\r\n\r\n'
    inventory.add(Datagram(ts=1.0, src="198.18.0.30", dst="239.255.255.250", sport=40000, dport=1900,
                           payload=search))
    assert "198.18.0.30" not in inventory.observations


def test_the_cli_names_every_registered_protocol():
    for command in ("scan", "passive"):
        text = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
        for spec in DISCOVERY:
            assert spec.title in text, (command, spec.title)


def test_each_default_port_gets_the_conversation_its_protocol_declares():
    assert streams_for(80) == (flows.HTTP,)
    assert streams_for(8443) == (flows.HTTPS,)
    assert streams_for(10554) == (flows.RTSP,)
    assert streams_for(23) == (flows.BANNER,)
    assert streams_for(445) == ()  # connect only: never a byte
    assert streams_for(9999) == (flows.BANNER, flows.HTTP, flows.RTSP)  # unclaimed: the table's order


def test_the_port_table_is_data_and_names_only_registered_conversations(tmp_path):
    assert list(DEFAULT_PORTS) == sorted(DEFAULT_PORTS) and set(STREAM_BY_PORT) <= set(DEFAULT_PORTS)
    # a default port without a conversation of its own is one camscan only connects to
    assert set(DEFAULT_PORTS) - set(STREAM_BY_PORT) <= CONNECT_ONLY
    table = tmp_path / "ports.yaml"
    table.write_text('80: {conversation: gopher, why: "a conversation camscan does not hold"}\n')
    with pytest.raises(ValueError, match="no conversation named 'gopher'"):
        _load_port_table(table)
    table.write_text("80: {conversation: http}\n")
    with pytest.raises(ValueError, match="port 80 needs a mapping of why"):
        _load_port_table(table)


def test_a_conversation_proves_its_protocol_only_by_its_own_evidence():
    status = Observation(ip="198.18.0.5", source="http", field="http.status", value="200", port=443)
    assert flows.HTTPS.proves([status]) == "https"
    assert flows.HTTP.proves([status]) == "http"
    assert flows.RTSP.proves([status]) is None
    ssh = Observation(ip="198.18.0.5", source="banner", field="ssh.banner", value="SSH-2.0-dropbear", port=22)
    assert flows.BANNER.proves([ssh]) == "ssh"
    assert flows.BANNER.proves([status]) is None


def test_a_summary_shows_the_conversation_s_own_fields_in_order():
    said = [
        Observation(ip="198.18.0.5", source="tls", field="tls.subject", value="CN=cam", port=443),
        Observation(ip="198.18.0.5", source="http", field="html.title", value="Login\nmore", port=443),
        Observation(ip="198.18.0.5", source="http", field="http.server", value="App-webs/", port=443),
    ]
    assert flows.HTTPS.summary(said) == "http.server: App-webs/; html.title: Login; tls.subject: CN=cam"
    telnet = [Observation(ip="198.18.0.5", source="banner", field="telnet.banner", value="login:", port=23)]
    assert flows.BANNER.summary(telnet) == "banner: login:"


def test_the_fields_a_protocol_declares_are_the_ones_the_resolvers_read():
    for spec in DISCOVERY:
        assert set(spec.name_fields) <= resolvers.NAME_FIELDS
        assert set(spec.text_fields) <= resolvers.TEXT_FIELDS
        assert (f"{spec.name}." in resolvers.VIDEO_FIELDS_PREFIXES) == spec.video_only


def test_declared_lists_are_data_with_a_reason_each(tmp_path):
    assert "_onvif._tcp.local." in mdns.BROWSED_TYPES and "/ISAPI/System/deviceInfo" in flows.VENDOR_PATHS
    listing = tmp_path / "paths.yaml"
    listing.write_text("- {path: /status}\n")
    with pytest.raises(ValueError, match="each with path and api"):
        declared_values(listing, "path", "api")
