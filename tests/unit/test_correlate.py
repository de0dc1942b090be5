"""Merging what several protocols said about one address."""

from camscan.correlate import conflicts, device_mac, mac_from_wire, reported_macs, shared_identities
from camscan.model import Observation, canonical_mac


def seen(field: str, value: str, ip: str = "198.18.0.10", source: str = "test") -> Observation:
    return Observation(ip=ip, source=source, field=field, value=value)


def test_canonical_mac_accepts_the_forms_devices_write():
    assert canonical_mac("58-50-ED-1F-E3-85") == "58:50:ed:1f:e3:85"
    assert canonical_mac("5850.ed1f.e385") == "58:50:ed:1f:e3:85"
    assert canonical_mac("58:50:ed:1f:e3") is None
    assert canonical_mac("not a mac at all") is None
    assert canonical_mac(None) is None


def test_arp_mac_wins_over_what_the_device_claims():
    observations = [seen("sadp.mac", "58:50:ed:1f:e3:85"), seen("mac.address", "44:19:b6:01:02:03")]
    assert device_mac(observations) == "44:19:b6:01:02:03"


def test_discovery_supplies_the_mac_arp_could_not():
    assert device_mac([seen("dhip.mac", "3C-EF-8C-11-22-33"), seen("wsd.xaddr", "http://x/")]) == "3c:ef:8c:11:22:33"
    assert device_mac([seen("sadp.mac", "garbage")]) is None


def test_disagreeing_sources_become_conflict_evidence():
    observations = [
        seen("mac.address", "44:19:b6:01:02:03"), seen("sadp.mac", "58-50-ed-1f-e3-85"),
        seen("sadp.serial", "DS-2CD2143G0-I20200101AAWRE12345678"), seen("onvif.serial", "ds-2cd2143g0-i20200101aawre12345678"),
    ]
    found = conflicts("198.18.0.10", observations, 1.0)
    assert [item.field for item in found] == ["conflict.mac"]
    assert "mac.address=44:19:b6:01:02:03" in found[0].value and "sadp.mac=58:50:ed:1f:e3:85" in found[0].value


def test_agreeing_sources_are_no_conflict():
    observations = [seen("mac.address", "44:19:b6:01:02:03"), seen("sadp.mac", "44-19-B6-01-02-03")]
    assert conflicts("198.18.0.10", observations, 1.0) == []


def test_a_mac_other_addresses_reported_too_is_a_conflict_naming_them():
    observations = [seen("sadp.mac", "44-19-B6-01-02-03")]
    found = conflicts("198.18.9.9", observations, 1.0,
                      {"44:19:b6:01:02:03": {"198.18.0.11", "198.18.0.10"}, "58:50:ed:1f:e3:85": set()})
    assert [(item.field, item.value) for item in found] == [
        ("conflict.mac", "44:19:b6:01:02:03 also reported by 198.18.0.10, 198.18.0.11")]


def test_only_arp_puts_a_mac_on_the_wire():
    arp = seen("mac.address", "44:19:b6:01:02:03")
    claimed = seen("dhip.mac", "3C-EF-8C-11-22-33")
    assert mac_from_wire([claimed, arp]) and not mac_from_wire([claimed])
    assert reported_macs([claimed, arp, seen("sadp.mac", "garbage")]) == {"44:19:b6:01:02:03", "3c:ef:8c:11:22:33"}


def test_addresses_reporting_one_serial_name_each_other():
    by_ip = {
        "198.18.0.10": [seen("dhip.serial", "7K0ABCDEF123456", "198.18.0.10")],
        "198.18.0.11": [seen("onvif.serial", "7k0abcdef123456", "198.18.0.11")],
        "198.18.0.12": [seen("dhip.serial", "OTHER", "198.18.0.12")],
    }
    found = shared_identities(by_ip, 1.0)
    assert sorted(item.ip for item in found) == ["198.18.0.10", "198.18.0.11"]
    assert all(item.field == "correlate.same_device" for item in found)
    assert "also reported by 198.18.0.11" in next(item.value for item in found if item.ip == "198.18.0.10")


def test_shared_onvif_endpoint_links_addresses():
    endpoint = "urn:uuid:4d454930-0000-1000-8000-bcad28112233"
    by_ip = {ip: [seen("wsd.endpoint", endpoint, ip)] for ip in ("198.18.0.20", "198.18.0.21")}
    assert len(shared_identities(by_ip, 1.0)) == 2

