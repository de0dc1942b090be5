"""Merging what several protocols said about one address into one device.

The MAC comes from ARP when camscan saw the device on its link, else from what the
device reported about itself (SADP, DHIP, mDNS). Disagreements between sources,
addresses that report the same MAC, and addresses that report the same serial number
or ONVIF endpoint, are kept as evidence rather than settled silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from camscan.model import Device, Observation, canonical_mac
from camscan.registry import discovery_mac_fields, discovery_serial_fields

# Most trustworthy first: ARP (a reply, or the kernel's ARP table) is what the wire said,
# the rest is what the device claims.
WIRE_MAC_FIELD = "mac.address"
MAC_FIELDS = (WIRE_MAC_FIELD, *discovery_mac_fields())
SERIAL_FIELDS = discovery_serial_fields()
ENDPOINT_FIELD = "wsd.endpoint"


def _values(observations: Iterable[Observation], fields: Iterable[str], clean) -> dict[str, str]:
    found: dict[str, str] = {}
    for seen in observations:
        if seen.field in fields and seen.field not in found and (value := clean(seen.value)):
            found[seen.field] = value
    return found


def _serial(value: str) -> str | None:
    return value.strip().upper() or None


def device_mac(observations: Iterable[Observation]) -> str | None:
    """The device's MAC: ARP's if seen, else the first one the device reported."""
    macs = _values(observations, MAC_FIELDS, canonical_mac)
    return next((macs[name] for name in MAC_FIELDS if name in macs), None)


def mac_from_wire(observations: Iterable[Observation]) -> bool:
    """Whether the device's MAC (:func:`device_mac`) came off the wire rather than from its own word."""
    return WIRE_MAC_FIELD in _values(observations, (WIRE_MAC_FIELD,), canonical_mac)


def reported_macs(observations: Iterable[Observation]) -> set[str]:
    """Every MAC any source gave for an address."""
    return {mac for seen in observations if seen.field in MAC_FIELDS and (mac := canonical_mac(seen.value))}


def conflicts(ip: str, observations: list[Observation], at: float,
              macs_elsewhere: Mapping[str, Iterable[str]] | None = None) -> list[Observation]:
    """A ``conflict.mac`` / ``conflict.serial`` observation where sources disagree, and a
    ``conflict.mac`` for each of the address's MACs that other addresses reported too
    (``macs_elsewhere``: MAC -> those addresses): an impostor, a cloned MAC, or a device
    reporting another's."""
    found = []
    for kind, fields, clean in (("mac", MAC_FIELDS, canonical_mac), ("serial", SERIAL_FIELDS, _serial)):
        values = _values(observations, fields, clean)
        if len(set(values.values())) > 1:
            said = ", ".join(f"{name}={value}" for name, value in values.items())
            found.append(Observation(ip=ip, source="correlate", field=f"conflict.{kind}", value=said, observed_at=at))
    for mac, others in sorted((macs_elsewhere or {}).items()):
        if others:
            found.append(Observation(ip=ip, source="correlate", field="conflict.mac",
                                     value=f"{mac} also reported by {', '.join(sorted(others))}", observed_at=at))
    return found


def shared_identities(by_ip: Mapping[str, list[Observation]], at: float) -> list[Observation]:
    """``correlate.same_device`` evidence for addresses reporting the same serial or ONVIF endpoint.

    One box with two addresses (two NICs, or a recorder answering for its cameras' ports)
    shows up this way; each address keeps its own record and names the others.
    """
    holders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for ip, observations in by_ip.items():
        for seen in observations:
            if seen.field in SERIAL_FIELDS and (serial := _serial(seen.value)):
                holders[("serial", serial)].add(ip)
            elif seen.field == ENDPOINT_FIELD and seen.value.strip():
                holders[("endpoint", seen.value.strip().lower())].add(ip)
    found = []
    for (kind, value), ips in sorted(holders.items()):
        if len(ips) < 2:
            continue
        for ip in sorted(ips):
            others = ", ".join(sorted(ips - {ip}))
            found.append(Observation(ip=ip, source="correlate", field="correlate.same_device",
                                     value=f"{kind} {value} also reported by {others}", observed_at=at))
    return found


def same_device(mac: str | None, serial: str | None, devices: Iterable[Device]) -> Device | None:
    """The device whose MAC or serial number (as it reported it) is ``mac`` or ``serial``: a
    camera a recorder reports that the sweep also found. Never by address alone."""
    wanted_mac, wanted_serial = canonical_mac(mac), _serial(serial or "")
    for device in devices:
        if wanted_mac and canonical_mac(device.mac) == wanted_mac:
            return device
        if wanted_serial and wanted_serial in _values(device.observations, SERIAL_FIELDS, _serial).values():
            return device
    return None
