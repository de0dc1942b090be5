"""Exposure checks: after a device is identified, ask it what a video client would, and record what answers without a password.

Checks never exploit anything: RTSP DESCRIBE and HTTP GET without credentials, an FTP
anonymous login that logs out at once, and comparisons of what the scan already saw.
"""

from __future__ import annotations

from camscan.errors import InputError

RTSP_NO_AUTH = "rtsp-no-auth"
SNAPSHOT_NO_AUTH = "snapshot-no-auth"
TELNET_OPEN = "telnet-open"
FTP_ANONYMOUS = "ftp-anonymous"
HTTP_NO_TLS = "http-no-tls"
VULNERABLE_FIRMWARE = "vulnerable-firmware"
DEFAULT_CREDENTIALS = "default-credentials"
ONVIF_NO_AUTH = "onvif-no-auth"
UPNP_PORT_FORWARD = "upnp-port-forward"
# Not a check one selects: discovery's word about a device heard on an in-scope link at an
# address outside scope (camscan.onlink), recorded without contacting the device.
MISADDRESSED_DEVICE = "misaddressed-device"

# What each check sends (nothing, for those that read the scan's own observations).
CHECKS = {
    RTSP_NO_AUTH: "RTSP DESCRIBE without credentials of the root and known stream paths",
    SNAPSHOT_NO_AUTH: "read-only GET of known snapshot URLs without credentials",
    TELNET_OPEN: "a telnet service answered (no request: the scan's banner)",
    FTP_ANONYMOUS: "FTP USER anonymous / PASS, then QUIT at once",
    HTTP_NO_TLS: "web interface only over plain HTTP (no request: the scan's services)",
    VULNERABLE_FIRMWARE: "identified vendor + firmware in a published advisory's range (no request)",
    ONVIF_NO_AUTH: "ONVIF GetCapabilities, then GetProfiles and GetStreamUri without credentials",
    UPNP_PORT_FORWARD: "read a UPnP gateway's port-mapping table; flag ports forwarded to a camera",
}
DEFAULT_CHECKS = frozenset(CHECKS)
# Opt-in only (--check-default-credentials): it logs in, so it never runs unasked.
OPT_IN_CHECKS = {
    DEFAULT_CREDENTIALS: "at most 3 logins with the maker's factory password, stopping at the first lockout sign",
}
SEVERITIES = ("critical", "high", "medium", "low", "info")


def parse_check_list(text: str) -> frozenset[str]:
    """``rtsp-no-auth,telnet-open`` -> the set of those checks; raises InputError naming unknown ones."""
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    opt_in = sorted(wanted & set(OPT_IN_CHECKS))
    if opt_in:
        raise InputError(f"{', '.join(opt_in)} is opt-in only: pass --check-default-credentials")
    unknown = sorted(wanted - set(CHECKS))
    if unknown:
        raise InputError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return frozenset(wanted)
