"""The default port set and which conversations each port gets."""

from __future__ import annotations

from camscan.errors import InputError
from camscan.transport.guard import CONNECT_ONLY

# Why each port is swept by default (README.md lists the same table).
DEFAULT_PORTS: dict[int, str] = {
    21: "FTP: recorders and cameras name make, model and firmware in the greeting",
    22: "SSH: the identification line of embedded dropbear/OpenSSH",
    23: "telnet: DVR and camera login banners (XMEye, HiSilicon boards)",
    80: "HTTP: the web interface of almost every camera and recorder",
    81: "HTTP: alternative web port of many DVRs and low-cost cameras",
    88: "HTTP: alternative web port of Foscam-style cameras",
    443: "HTTPS: web interface; the certificate often names the maker",
    445: "SMB: PCs and NAS boxes (connect only; tells non-cameras apart)",
    554: "RTSP: the standard video stream port",
    631: "IPP: printers (tells non-cameras apart)",
    5000: "HTTP: Synology DSM and some recorders' web interface",
    7001: "HTTP/vendor management port of some recorders and video management servers",
    7443: "HTTPS: UniFi Protect recorders",
    8000: "Hikvision SDK / iVMS-4200 port (binary); some cameras serve HTTP here",
    8080: "HTTP: alternative web port of cameras, recorders and streaming servers",
    8081: "HTTP: alternative web port",
    8443: "HTTPS: alternative secure web port",
    8554: "RTSP: alternative stream port (also media servers)",
    8899: "HTTP/ONVIF service port of many low-cost cameras",
    9000: "media/SDK port of some recorders (e.g. Reolink)",
    9100: "JetDirect: printers (connect only: data sent here gets printed)",
    10554: "RTSP: alternative stream port",
    34567: "Xiongmai/XMEye DVR media and management port (binary)",
    37777: "Dahua SDK port (binary) of Dahua cameras and recorders",
}

HTTP, HTTPS, RTSP, BANNER = "http", "https", "rtsp", "banner"

# Flows to try in order; ports not listed get AUTO. An empty tuple means connect only.
PORT_FLOWS: dict[int, tuple[str, ...]] = {
    21: (BANNER,), 22: (BANNER,), 23: (BANNER,),
    80: (HTTP,), 81: (HTTP,), 88: (HTTP,), 631: (HTTP,), 5000: (HTTP,), 7001: (HTTP,),
    8000: (HTTP,), 8080: (HTTP,), 8081: (HTTP,), 8899: (HTTP,), 9000: (HTTP,),
    443: (HTTPS,), 7443: (HTTPS,), 8443: (HTTPS,),
    554: (RTSP,), 8554: (RTSP,), 10554: (RTSP,),
}
AUTO = (BANNER, HTTP, RTSP)


def parse_ports(text: str) -> list[int]:
    """A port list such as ``80,443,8000-8010``; ``default`` (or empty) is the default set."""
    if text.strip() in ("", "default"):
        return sorted(DEFAULT_PORTS)
    ports: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "default":
            ports.update(DEFAULT_PORTS)
            continue
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise InputError(f"{part!r} is not a port or port range (e.g. 80,443,8000-8100)") from None
        if not (1 <= first <= last <= 65535):
            raise InputError(f"{part!r} is outside 1-65535")
        ports.update(range(first, last + 1))
    return sorted(ports)


def flows_for(port: int) -> tuple[str, ...]:
    if port in CONNECT_ONLY:
        return ()
    return PORT_FLOWS.get(port, AUTO)
