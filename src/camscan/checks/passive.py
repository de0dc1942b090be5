"""Checks decided from what the scan already saw of a device: no request is sent."""

from __future__ import annotations

from camscan.checks import HTTP_NO_TLS, MISADDRESSED_DEVICE, TELNET_OPEN, UPNP_PORT_FORWARD, VULNERABLE_FIRMWARE
from camscan.checks.data import advisories
from camscan.model import Device, Finding



def telnet_open(device: Device) -> list[Finding]:
    """Every port whose connect banner was a telnet one."""
    found = []
    for seen in device.observations:
        if seen.field == "telnet.banner" and seen.port is not None:
            first_line = seen.value.splitlines()[0][:120] if seen.value else ""
            found.append(Finding(TELNET_OPEN, "medium", f"telnet login open on port {seen.port}: {first_line!r}",
                                 seen.port, (("banner", first_line),)))
    return list({finding.port: finding for finding in found}.values())


def http_no_tls(device: Device) -> list[Finding]:
    """A web interface answers over plain HTTP and the device has no HTTPS port at all."""
    protocols = {service.port: service.protocol for service in device.services}
    plain = sorted(port for port, protocol in protocols.items() if protocol == "http")
    if not plain or "https" in protocols.values():
        return []
    ports = ",".join(str(port) for port in plain)
    return [Finding(HTTP_NO_TLS, "low", f"web interface only over plain HTTP (port {ports}); no HTTPS port",
                    plain[0], (("http_ports", ports),))]


def vulnerable_firmware(device: Device) -> list[Finding]:
    """The identified vendor or maker, model and firmware fall in a published advisory's range."""
    ident = device.identification
    if not ident.firmware:
        return []
    makers = {ident.vendor, ident.manufacturer} - {None}
    found = []
    for advisory in advisories():
        if advisory.vendor not in makers:
            continue
        hit = advisory.affected_range(ident.model, ident.firmware)
        if hit is None:
            continue
        detail = (f"{advisory.id}: {advisory.title}; firmware {ident.firmware} lies in "
                  f"{hit.first_text} .. {hit.last_text}")
        evidence = (("advisory", advisory.id), ("firmware", ident.firmware), ("model", ident.model or ""),
                    ("affected", f"{hit.first_text} .. {hit.last_text}"), ("reference", advisory.reference))
        found.append(Finding(VULNERABLE_FIRMWARE, advisory.severity, detail, None, evidence))
    return found


def forwarded_to_cameras(gateway_ip: str, mappings: list[dict[str, str]],
                         devices: list[Device]) -> list[tuple[Device, Finding]]:
    """Enabled mappings of the gateway whose internal client is a camera or recorder of this scan."""
    cameras = {device.ip: device for device in devices if device.identification.is_camera}
    found = []
    for mapping in mappings:
        camera = cameras.get(mapping.get("NewInternalClient", ""))
        internal = mapping.get("NewInternalPort", "")
        if camera is None or mapping.get("NewEnabled", "1") == "0" or not internal.isdigit():
            continue
        external, protocol = mapping.get("NewExternalPort", ""), mapping.get("NewProtocol", "")
        detail = (f"gateway {gateway_ip} forwards {protocol} port {external} from outside to "
                  f"{camera.ip}:{internal} (UPnP port mapping)")
        evidence = (("gateway", gateway_ip), ("external_port", external), ("protocol", protocol),
                    ("remote_host", mapping.get("NewRemoteHost", "")),
                    ("description", mapping.get("NewPortMappingDescription", "")))
        found.append((camera, Finding(UPNP_PORT_FORWARD, "high", detail, int(internal), evidence)))
    return found


def misaddressed_device(ip: str, interface: str, network: str) -> Finding:
    """A device talking on an in-scope link from an address that belongs neither to the link's
    network nor to the scope: a camera left on its factory address, or misconfigured. It is
    unmanaged (often never activated, on factory settings) and reachable by anyone on the link."""
    return Finding(
        MISADDRESSED_DEVICE, "medium",
        f"heard on {interface}, whose network {network} is in scope, at {ip}: that address does not belong to "
        "the link's network nor to the scope (a factory address, or a misconfigured device); not contacted",
        None, (("link", interface), ("link_network", network), ("claimed_address", ip)),
    )
