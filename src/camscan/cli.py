"""The ``camscan`` command line: argument parsing and output formatting only."""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from camscan import __version__
from camscan.checks import CHECKS, DEFAULT_CREDENTIALS, OPT_IN_CHECKS, SEVERITIES, parse_check_list
from camscan.errors import BUG_EXIT_STATUS, UserError, bug_report_request, issue_tracker_url
from camscan.fingerprint.identify import Identifier
from camscan.fingerprint.signatures import check_example, default_rules
from camscan.inventory import open_inventory
from camscan.model import RECORDER_DEVICE_TYPES, service_label
from camscan.probes.ports import DEFAULT_PORTS, parse_ports
from camscan.registry import discovery_titles
from camscan.scope import read_scope_file
from camscan.shard import ShardError, parse_shard
from camscan.store import ANY_SITE
from camscan.transport import DEFAULT_ARP_RATE
from camscan.untrusted import spreadsheet_cell, terminal_text

if TYPE_CHECKING:
    from camscan.scanning import Scan as ScanRunner
    from camscan.scanning import ScanResult

DEFAULT_DB = "camscan.db"
LARGE_SWEEP = 4096
TABLE_COLUMNS = ("ip", "mac", "site", "vendor", "model", "firmware", "device_type", "ndaa_889", "confidence",
                 "services", "why", "attached_to", "channel", "connection", "video", "channels")
CHANNEL_COLUMNS = ("attached_to", "channel", "connection", "video", "reported_ip", "channels", "channel_count")
CHANNELS_TEXT = {"enumerated": "{count} enumerated", "credentials-needed": "unknown: credentials needed",
                 "not-asked": "not asked"}
NDAA_TEXT = {True: "covered", False: "no", None: "unknown"}
DISCOVERY_TITLES = discovery_titles()


def db_option(command: Callable) -> Callable:
    return click.option(
        "--db",
        "db_path",
        default=lambda: os.environ.get("CAMSCAN_DB", DEFAULT_DB),
        show_default=f"$CAMSCAN_DB or {DEFAULT_DB}",
        type=click.Path(dir_okay=False),
        help="SQLite inventory file.",
    )(command)


def json_option(command: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(command)


def site_option(command: Callable) -> Callable:
    """The site a scan or an import is of: devices without a MAC are told apart by site and address."""
    return click.option("--site", help="Label the scan with a site name.")(command)


def friendly_errors(command: Callable) -> Callable:
    """Turn the errors a user can act on (:class:`UserError`) into one clear line instead of a traceback.

    Any other exception is left to :class:`CamscanGroup`, which reports it as the bug it is.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except click.ClickException as error:
            # click declares message Final; rewriting it keeps the error's class, context and exit code.
            error.message = terminal_text(error.message)  # type: ignore[misc]
            raise
        except UserError as error:
            raise click.ClickException(terminal_text(error)) from None

    return wrapper


class CamscanGroup(click.Group):
    """camscan's command group: an exception no command expected is a bug, shown with its
    traceback and a request to report it, and the exit status says so (70)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, EOFError):
            raise  # click's own endings (EOF on a prompt is an abort)
        except BrokenPipeError:
            raise  # output piped into a reader that stopped (`| head`): click ends quietly
        except Exception:  # noqa: BLE001 - whatever no command expected is a bug, reported as one
            traceback.print_exc()
            click.echo(bug_report_request(__version__, issue_tracker_url()), err=True)
            ctx.exit(BUG_EXIT_STATUS)


def echo_untrusted(line: str, err: bool = False) -> None:
    """Print a line that holds what devices, captures or databases said, as plain text."""
    click.echo(terminal_text(line), err=err)


def tab_separated(cells) -> str:
    """One tab-separated row of untrusted values: none can add a column, a line or an escape."""
    return "\t".join(terminal_text(cell) for cell in cells)


def _services_text(device: dict) -> str:
    return ",".join(map(service_label, device.get("services", [])))


def _why_text(device: dict) -> str:
    return ", ".join(dict.fromkeys(e["signature"] for e in device.get("evidence", [])[:3]))


def _channels_text(device: dict) -> str:
    """A recorder's channel inventory in words ("12 enumerated", "unknown: credentials needed")."""
    if not device.get("channels"):
        return ""
    return CHANNELS_TEXT[device["channels"]].format(count=device.get("channel_count"))


def _ndaa_text(device: dict) -> str:
    """A device's s.889 status in words; a multi-sensor camera's sensor has none of its own: its camera's counts."""
    return "as its camera" if device.get("connection") == "sensor" else NDAA_TEXT[device.get("ndaa_889")]


def _row(device: dict) -> dict[str, str]:
    return {
        "ip": device["ip"] or "",
        "mac": device.get("mac") or "",
        "site": device.get("site") or "",
        "vendor": device.get("vendor_name") or device.get("vendor") or "",
        "model": device.get("model") or "",
        "firmware": device.get("firmware") or "",
        "device_type": device.get("device_type") or "",
        "ndaa_889": _ndaa_text(device),
        "confidence": f"{device.get('confidence') or 0:.2f}",
        # a device heard on a scanned link but never contacted says so where its services would be
        "services": _services_text(device) or (f"({device['seen_as']})" if device.get("seen_as") else ""),
        "why": _why_text(device),
        "attached_to": device.get("attached_to") or "",
        "channel": str(device.get("channel") or ""),
        "connection": device.get("connection") or "",
        "video": device.get("video") or "",
        "channels": _channels_text(device),
    }


def _made_by(device: dict) -> str:
    """Brand, maker and parent company as people name them, each said once: "Avigilon, a Motorola
    Solutions company"; "Lorex, made by Dahua"."""
    brand, maker, parent = device.get("vendor_name"), device.get("manufacturer_name"), device.get("parent_name")
    said = brand or maker or "unknown"
    if maker and maker != said:
        said += f", made by {maker}"
    return said + (f", a {parent} company" if parent and parent not in (brand, maker) else "")


def show_recorded(devices: list[dict], as_json: bool, db_path: str, scan: str, how: str = "") -> None:
    """The devices a command just recorded: JSON, or a table and a line saying where they went."""
    if as_json:
        click.echo(json.dumps(devices, indent=2))
        return
    cameras = [device for device in devices if device["is_camera"]]
    print_devices(devices, f"{len(cameras)} camera(s)/recorder(s) among {len(devices)} device(s){how}")
    # A multi-sensor camera's channels are its own sensors: neither it nor they count as recorders
    # or as cameras behind them (it is counted once, among the cameras).
    recorders = [device for device in devices
                 if device.get("channels") and device["device_type"] in RECORDER_DEVICE_TYPES]
    if recorders:
        behind = [device for device in devices if device.get("attached_to") and device.get("connection") != "sensor"]
        with_video = sum(1 for device in behind if device["video"] == "present")
        refused = sum(1 for device in recorders if device["channels"] == "credentials-needed")
        click.echo(f"{len(recorders)} recorder(s), {len(behind)} camera(s) behind them, {with_video} with video"
                   + (f"; {refused} recorder(s): channels unknown, credentials needed" if refused else "") + ".",
                   err=True)
    click.echo(f"{len(cameras)} camera(s)/recorder(s), {len(devices)} device(s); saved to {db_path} ({scan}).", err=True)


def print_devices(devices: list[dict], title: str) -> None:
    """A rich table on a terminal; tab-separated plain text otherwise."""
    rows = [_row(device) for device in devices]
    if not sys.stdout.isatty():
        click.echo("\t".join(TABLE_COLUMNS))
        for row in rows:
            click.echo(tab_separated(row[column] for column in TABLE_COLUMNS))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str: rich would read "[/x]" or "[link=...]" in a model name as its markup.
    table = Table(title=Text(title))
    for column in TABLE_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(terminal_text(row[column])) for column in TABLE_COLUMNS))
    Console().print(table)


@click.group(cls=CamscanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="camscan")
def main() -> None:
    """Find and identify the CCTV cameras, DVRs and NVRs on networks you are authorised to scan."""


@main.command()
@click.argument("targets", nargs=-1, required=True)
@db_option
@click.option("--scope", "scope_file", type=click.Path(exists=True, dir_okay=False), help="File of authorised ranges; targets outside it are dropped.")
@click.option("--exclude", multiple=True, help="Addresses, CIDRs or ranges never to touch (repeatable, comma-separated).")
@click.option("--ports", default="default", show_default=True, help="Ports to sweep, e.g. 80,443,8000-8100 ('default' = the camera port set).")
@click.option("--rate", default=10000.0, show_default=True, type=click.FloatRange(min=1), help="Packets (TCP SYNs or connects, discovery probes) per second.")
@click.option("--arp-rate", default=DEFAULT_ARP_RATE, show_default=True, type=click.FloatRange(min=1),
              help="ARP requests per second: broadcasts reach every host of the link (arp-scan's default, 256 kbit/s, is about 500/s).")
@click.option("--concurrency", default=512, show_default=True, type=click.IntRange(min=1), help="Open connections at once.")
@click.option("--timeout", default=2.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds to wait for a connect or a reply.")
@click.option("--interface", help="Only ARP-sweep targets on this interface.")
@click.option("--allow-public", is_flag=True, help="Permit public (Internet) addresses in scope.")
@site_option
@click.option("--discovery-wait", default=1.5, show_default=True, type=click.FloatRange(min=0.1, max=60),
              help=f"Seconds to listen for {', '.join(DISCOVERY_TITLES[:-1])} and {DISCOVERY_TITLES[-1]} replies.")
@click.option("--no-multicast", is_flag=True, help="Send discovery probes to each host only, never to a multicast group.")
@click.option("--no-discovery", is_flag=True, help="No discovery protocols at all (SNMP and IPv6 discovery included): ARP and TCP only.")
@click.option("--no-snmp", is_flag=True, help="Send nothing to UDP 161: no SNMP GET, neither with community "
                                               "'public' nor with the credentials file's.")
@click.option("--shard", "shard_text", metavar="I/N",
              help="Probe only shard I of N of the address × port space, so that N sensors given the same "
                   "targets and ports cover it exactly once; discovery runs on shard 1 only (README: Sharding).")
@click.option("--credentials", "credentials_file", type=click.Path(exists=True, dir_okay=False),
              help="Accounts file (README: Credentials): each account is offered only to devices in its targets; "
                   "must be chmod 600; never stored or printed.")
@click.option("--onvif-user", help="An ONVIF account without a file: its password from $CAMSCAN_ONVIF_PASSWORD, "
                                   "offered only inside --onvif-targets.")
@click.option("--onvif-targets", help="Addresses, CIDRs or ranges (comma-separated) --onvif-user may be offered to.")
@click.option("--record", "record_path", type=click.Path(dir_okay=False),
              help="Also write every frame the scan sends and receives (and its TLS keys) to this pcapng file (root); "
                   "credentials are blanked out of it.")
@click.option("--record-credentials", is_flag=True,
              help="With --record: keep the accounts' credentials (UsernameToken, Authorization) in the recording.")
@click.option("--replay", "replay_path", type=click.Path(exists=True, dir_okay=False),
              help="Send nothing: answer every probe from this recording (made with --record).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation before a large sweep.")
@click.option("--checks", "checks", default=",".join(CHECKS), show_default=True, help="Exposure checks to run after identification (comma-separated; `camscan checks` lists them).")
@click.option("--no-checks", is_flag=True, help="Identify only: run no exposure checks.")
@click.option("--no-channels", is_flag=True,
              help="Do not ask recorders (NVR, DVR, encoder) which cameras they record, nor cameras "
                   "which video sources they have (README: Cameras behind recorders).")
@click.option("--check-default-credentials", is_flag=True, help="Also try the maker's factory password (at most 3 logins per device, stops at the first lockout sign; the password found is never stored or shown).")
@json_option
@friendly_errors
def scan(targets, db_path, scope_file, exclude, ports, rate, arp_rate, concurrency, timeout, interface, allow_public, site,
         discovery_wait, no_multicast, no_discovery, no_snmp, shard_text, credentials_file, onvif_user, onvif_targets,
         record_path,
         record_credentials, replay_path, yes, checks, no_checks, no_channels, check_default_credentials,
         as_json):
    """Sweep TARGETS (IPs, CIDR blocks, ranges) and identify the cameras and recorders on them."""
    from camscan.scanning import Scan, ScanOptionError

    context = click.get_current_context()

    def given(*names: str) -> bool:
        return any(context.get_parameter_source(name) not in _DEFAULT_SOURCES for name in names)

    port_list = parse_ports(ports)  # checked even where a replay's recording names the ports
    try:
        shard = parse_shard(shard_text) if shard_text else None
    except ShardError as error:
        raise click.UsageError(str(error)) from None
    checks_given = frozenset() if no_checks else parse_check_list(checks)
    if check_default_credentials:
        checks_given |= {DEFAULT_CREDENTIALS}
    runner = Scan(
        list(targets), db_path=db_path, scope_file=scope_file,
        exclude=[part for item in exclude for part in item.split(",") if part.strip()], allow_public=allow_public,
        ports=port_list if given("ports") else None, rate=rate, arp_rate=arp_rate, concurrency=concurrency,
        timeout=timeout if given("timeout") else None, interface=interface, site=site,
        discovery=False if no_discovery else None, discovery_wait=discovery_wait,
        multicast=False if no_multicast else None, snmp=False if no_snmp else None,
        checks=checks_given if given("checks", "no_checks", "check_default_credentials") else None,
        channels=not no_channels, record=record_path, record_credentials=record_credentials,
        replay=replay_path, shard=shard, on_notice=lambda text: echo_untrusted(f"note: {text}", err=True))
    try:
        runner.credentials = scan_credentials(credentials_file, onvif_user, onvif_targets)
        if replay_path:
            click.echo(f"Replaying {replay_path}: nothing is sent; every probe is answered from the recording.",
                       err=True)
        click.echo(runner.describe(), err=True)
    except ScanOptionError as error:
        raise click.UsageError(str(error)) from None
    assert runner.scope is not None, "describe() prepares the scan"
    if not replay_path and runner.scope.size > LARGE_SWEEP and sys.stdin.isatty() and not yes:
        click.confirm("This is a large sweep. Go ahead?", abort=True, err=True)
    result = _run_with_progress(runner)
    if result.status == "interrupted":
        click.echo(f"\nInterrupted: {result.found} device(s) found so far are saved in {db_path}.", err=True)
    for account, devices_offered in result.credential_offers:
        echo_untrusted(f"credentials: {account}: offered to {devices_offered} device(s)", err=True)
    show_recorded(result.devices, as_json, db_path, f"scan {result.scan_id}")
    if result.status == "interrupted":
        sys.exit(130)


_DEFAULT_SOURCES = (click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)


def scan_credentials(path: str | None, onvif_user: str | None, onvif_targets: str | None):
    """The scan's accounts: the credentials file's, then --onvif-user's (never a password option:
    the command line is visible in ``ps``)."""
    from camscan.credentials import Credentials, CredentialsError, account_from_options, load_credentials
    from camscan.fingerprint.vendors import default_catalogue

    if onvif_targets and not onvif_user:
        raise click.UsageError("--onvif-targets goes with --onvif-user")
    try:
        accounts = load_credentials(path, default_catalogue().vendors).accounts if path else []
        if onvif_user:
            password = os.environ.get("CAMSCAN_ONVIF_PASSWORD", "")
            accounts.append(account_from_options(len(accounts) + 1, onvif_user, password, onvif_targets))
    except CredentialsError as error:
        raise click.ClickException(str(error)) from None
    return Credentials(accounts)


def _run_with_progress(runner: ScanRunner) -> ScanResult:
    """Run a scan with a progress bar on a terminal."""
    if not sys.stderr.isatty():
        return runner.run()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    assert runner.scope is not None, "the scan is prepared"
    with Progress(TextColumn("[bold]scanning"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("", total=runner.scope.size)

        def update(progress) -> None:
            cameras = sum(1 for device in progress.devices if device.identification.is_camera)
            bar.update(task, completed=progress.hosts_done, total=progress.total_hosts,
                       description=f"{len(progress.devices)} devices, {cameras} cameras")

        runner.on_progress = update
        return runner.run()


def _analyse_with_progress(path: str):
    from camscan.passive import analyse_capture

    if not sys.stderr.isatty():
        return analyse_capture(path)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]reading"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("", total=os.path.getsize(path))
        return analyse_capture(path, lambda done, total: bar.update(task, completed=done, total=total))


@main.command(help=f"""Identify devices from traffic others generated: a pcap/pcapng file, or a live sniff.

    Reads ARP, DHCP, {', '.join(DISCOVERY_TITLES[:-1])} and {DISCOVERY_TITLES[-1]} replies and announcements,
    HTTP/RTSP responses and cleartext TLS certificates; sends nothing. Evidence is stored
    with sources prefixed "passive-" in a scan whose parameters say mode "passive".
    """)
@click.argument("capture", required=False, type=click.Path(dir_okay=False))
@click.option("--interface", help="Sniff this interface live instead of reading a file (root; sends nothing).")
@click.option("--duration", type=click.FloatRange(min=1), help="Seconds to sniff with --interface.")
@site_option
@db_option
@json_option
@friendly_errors
def passive(capture, interface, duration, site, db_path, as_json):
    from camscan.capture.reader import CaptureError
    from camscan.passive import sniff_interface, store_inventory

    if bool(capture) == bool(interface):
        raise click.UsageError("give a capture file or --interface (with --duration), not both")
    if interface and duration is None:
        raise click.UsageError("--interface needs --duration (seconds to listen)")
    try:
        if interface:
            inventory = sniff_interface(interface, duration, lambda: click.echo(
                f"listening on {interface} for {duration:g} s (sending nothing)", err=True))
        else:
            inventory = _analyse_with_progress(capture)
    except CaptureError as error:
        raise click.ClickException(str(error)) from None
    except PermissionError:
        raise click.ClickException(f"sniffing {interface} needs root (CAP_NET_RAW)") from None
    origin = f"interface:{interface}" if interface else os.path.abspath(capture)
    with open_inventory(db_path, create=True) as store:
        scan_id, device_ids = store_inventory(store, inventory, origin, site=site)
        devices = [device for device in store.devices() if device["id"] in set(device_ids)]
    for problem in inventory.problems:
        echo_untrusted(f"warning: {problem}; kept everything read before it", err=True)
    show_recorded(devices, as_json, db_path, f"passive scan {scan_id}", ", passively")


@main.command("import-nmap")
@click.argument("report", type=click.Path(exists=True, dir_okay=False))
@site_option
@db_option
@json_option
@friendly_errors
def import_nmap(report, site, db_path, as_json):
    """Identify the devices of an nmap XML report (nmap -oX) with camscan's signatures.

    Takes nmap's MACs, open ports, services, CPEs, the http-server-header, http-title,
    rtsp-methods and ssl-cert scripts' output and the raw answers of its service
    fingerprints; sends nothing. Stored as a scan whose parameters say mode "nmap".
    Run nmap with -sV (and --script http-title,http-server-header,ssl-cert,rtsp-methods)
    for the most to go on.
    """
    from camscan.fingerprint.identify import Identifier
    from camscan.nmap_report import NmapReportError, read_report_file

    try:
        found = read_report_file(report)
    except NmapReportError as error:
        raise click.ClickException(f"{report}: {error}") from None
    origin = os.path.abspath(report)
    with open_inventory(db_path, create=True) as store:
        scan_id, device_ids = store.record_found_devices(
            [origin], {"mode": "nmap", "report": origin, "nmap_command": found.command},
            found.devices(Identifier()), complete=found.complete, site=site)
        devices = [device for device in store.devices() if device["id"] in set(device_ids)]
    if not found.complete:
        click.echo(f"warning: {report} ends early (nmap interrupted?): kept the {len(devices)} host(s) it had finished",
                   err=True)
    show_recorded(devices, as_json, db_path, f"scan {scan_id}, from the nmap report", ", from nmap")


@main.command()
@db_option
@click.option("--vendor", help="Only this vendor key (brand or maker), e.g. hikvision.")
@click.option("--type", "device_type", help="Only this device type, e.g. ip-camera, nvr, dvr.")
@click.option("--cameras", is_flag=True, help="Only cameras and recorders.")
@json_option
@friendly_errors
def devices(db_path, vendor, device_type, cameras, as_json):
    """List the devices in the inventory."""
    with open_inventory(db_path) as store:
        found = store.devices(vendor=vendor, device_type=device_type, cameras_only=cameras)
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        print_devices(found, f"{len(found)} device(s)")


@main.command()
@click.argument("address")
@db_option
@json_option
@friendly_errors
def show(address, db_path, as_json):
    """One device (by IP or MAC) with all its services and evidence."""
    with open_inventory(db_path) as store:
        device = store.device(address)
    if device is None:
        raise click.ClickException(f"no device {address} in {db_path}")
    if as_json:
        click.echo(json.dumps(device, indent=2))
        return
    click.echo(f"{'made by':>13}: {_made_by(device)}")
    for key in ("ip", "mac", "site", "vendor", "manufacturer", "model", "firmware", "device_type", "is_camera",
                "confidence", "ndaa_889", "ndaa_basis", *(("seen_as",) if device.get("seen_as") else ()),
                "first_seen", "last_seen"):
        echo_untrusted(f"{key:>13}: {device.get(key) if device.get(key) is not None else ''}")
    if device.get("channels"):
        click.echo(f"     channels: {_channels_text(device)}")
        for channel in device["attached"]:
            said = " ".join(filter(None, [channel.get("vendor"), channel.get("model"), channel.get("firmware")]))
            where = f" at {channel['reported_ip']}" if channel.get("reported_ip") else ""
            echo_untrusted(f"  {channel['channel']:>3} {channel['connection'] or 'unknown':<7} {channel['video']:<9} "
                           f"{said or 'maker unknown'}{where}  NDAA s.889: {_ndaa_text(channel)}")
    click.echo("     services:")
    for service in device["services"]:
        echo_untrusted(f"  {service['port']}/{service['transport']} {service['protocol'] or '?'}  {service['banner']}")
    click.echo("     evidence:")
    for item in device["evidence"]:
        echo_untrusted(f"  [{item['weight']:.1f}] {item['signature']}: {item['field']} = {item['value'][:100]!r}")
    click.echo("     findings:")
    for item in device.get("findings", []):
        port = f":{item['port']}" if item.get("port") else ""
        resolved = f" (resolved in scan {item['resolved_in_scan']})" if item["status"] == "resolved" else ""
        echo_untrusted(f"  [{item['severity']}] {item['check']}{port} {item['detail']}{resolved}")
    click.echo("  observations:")
    for seen in device.get("observations", []):
        port = f":{seen['port']}" if seen.get("port") else ""
        echo_untrusted(f"  {seen['source']}{port} {seen['field']} = {str(seen['value'])[:100]!r}")


@main.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "camscan"]), default="json", show_default=True,
              help="camscan: one scan (--scan) as a portable result that `camscan import` adds to another inventory.")
@click.option("--scan", "scan_id", type=int,
              help="With --format camscan: the scan to export (`camscan scans` lists them).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="Write here instead of standard output (a new file is readable by its owner only).")
@friendly_errors
def export(db_path, fmt, scan_id, output):
    """Export every device as JSON (one object per device) or CSV, or one scan as a portable result."""
    if (fmt == "camscan") != (scan_id is not None):
        raise click.UsageError("--format camscan exports one scan: give it --scan N (and --scan only with it)")
    if fmt == "camscan":
        from camscan.portable import build_document, dumps

        with open_inventory(db_path) as store:
            write_output(output, dumps(build_document(store, scan_id)))
        return
    with open_inventory(db_path) as store:
        found = store.devices()
    if fmt == "json":
        write_output(output, json.dumps(found, indent=2) + "\n")
        return
    columns = ["ip", "mac", "site", "vendor", "manufacturer", "model", "firmware", "device_type", "is_camera",
               "confidence", "ndaa_889", "ndaa_basis", "first_seen", "last_seen", "services", "evidence",
               *CHANNEL_COLUMNS]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for device in found:
        row = {**device, "services": _services_text(device), "evidence": _why_text(device)}
        writer.writerow({column: spreadsheet_cell(row[column]) for column in columns})
    write_output(output, buffer.getvalue())


def write_output(path: str, text: str) -> None:
    """``text`` to standard output ("-") or to ``path``, created readable by its owner only (it lists open streams)."""
    if path == "-":
        sys.stdout.write(text)  # as it is: click.echo would strip escape sequences a device's text holds
        return
    from camscan.private_files import open_private

    try:
        with open_private(path) as handle:
            handle.write(text)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from None


@main.command("scans")
@db_option
@json_option
@friendly_errors
def scans_command(db_path, as_json):
    """List the scans in the inventory, oldest first."""
    with open_inventory(db_path) as store:
        found = store.scans()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    columns = ("id", "site", "started_at", "finished_at", "status", "targets", "host_count", "device_count",
               "cameras", "covered")
    click.echo("\t".join(columns))
    for scan in found:
        row = {**scan, "targets": ",".join(map(str, scan["targets"]))}
        click.echo(tab_separated(row[column] for column in columns))


def _describe_sighting(item: dict) -> str:
    said = " ".join(filter(None, [item.get("vendor"), item.get("model"), item.get("firmware")]))
    line = f"{item['ip'] or '-':<15} {item.get('mac') or '-':<17} {said or '(unidentified)'}"
    if item.get("attached_to"):
        line += f"  (channel {item['channel']} of recorder {item['attached_to']}, {item['connection']})"
    return line


@main.command()
@click.argument("scan_ids", nargs=-1, type=int)
@db_option
@click.option("--site", help="Without scan ids: the last two complete scans of this site.")
@json_option
@friendly_errors
def diff(scan_ids, db_path, site, as_json):
    """Devices new, gone, moved and changed between two scans (default: the last two complete scans).

    Give two scan ids (see `camscan scans`) to compare any pair. A moved device kept its
    MAC and changed address; a changed one differs in vendor, maker, model, firmware,
    type or NDAA s.889 status.
    """
    if len(scan_ids) not in (0, 2):
        raise click.UsageError("give two scan ids, or none for the last two complete scans")
    with open_inventory(db_path) as store:
        if scan_ids:
            pair = tuple(scan_ids)
        else:
            pair = store.latest_scan_pair(site if site is not None else ANY_SITE)
            if pair is None:
                where = f" of site {site!r}" if site is not None else ""
                raise click.ClickException(f"{db_path} has fewer than two complete scans{where}; nothing to compare")
        result = store.diff(*pair)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    a, b = result["scan_a"], result["scan_b"]
    echo_untrusted(f"scan {a['id']} ({a['started_at']}, site {a['site'] or '-'}) -> scan {b['id']} "
                   f"({b['started_at']}, site {b['site'] or '-'})")
    if a["targets"] != b["targets"] or a["site"] != b["site"]:
        click.echo("note: the two scans covered different targets or sites; 'gone' includes what scan "
                   f"{b['id']} did not look at", err=True)
    for kind in ("new", "gone", "moved", "changed"):
        click.echo(f"{kind}: {len(result[kind])}")
        for item in result[kind]:
            line = _describe_sighting(item)
            if kind == "moved":
                line += f"  (was {item['old_ip']})"
            if kind == "changed":
                line += "  " + "; ".join(f"{name}: {change['old']} -> {change['new']}"
                                         for name, change in item["changes"].items())
            echo_untrusted(f"  {line}")


@main.command()
@db_option
@click.option("--dry-run", is_flag=True, help="Show what would change without writing it.")
@json_option
@friendly_errors
def reidentify(db_path, dry_run, as_json):
    """Recompute every identification from the stored observations with the current signatures.

    Sends nothing: everything needed is in the database. Use it after updating camscan or
    signatures/ to bring an old inventory (and its NDAA s.889 attribution) up to date.
    """
    from camscan.reidentify import reidentify as recompute

    with open_inventory(db_path, write=not dry_run) as store:
        examined, changed = recompute(store, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({"examined": examined, "dry_run": dry_run, "changed": [
            {"device_id": c.device_id, "ip": c.ip, "mac": c.mac,
             "changes": {name: {"old": old, "new": new} for name, (old, new) in c.changes.items()}}
            for c in changed]}, indent=2))
        return
    for item in changed:
        said = "; ".join(f"{name}: {old} -> {new}" for name, (old, new) in item.changes.items())
        echo_untrusted(f"{item.ip:<15} {item.mac or '-':<17} {said}")
    verb = "would change" if dry_run else "changed"
    click.echo(f"{examined} device(s) re-identified from stored observations; {len(changed)} {verb}.", err=True)


@main.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The combined inventory (created, or added to if it exists).")
@json_option
@friendly_errors
def merge(sources, output, as_json):
    """Combine several sensors' inventories into one without duplicating devices.

    The same MAC is the same device; without a MAC, the same site and IP. Scans,
    observations, evidence, findings and history are kept; merging a file twice adds
    nothing. The source files are only read.
    """
    summaries = []
    with open_inventory(output, create=True) as store:
        for source in sources:
            summaries.append(store.merge_from(source))
        total = len(store.devices())
    if as_json:
        click.echo(json.dumps({"output": output, "devices": total, "sources": summaries}, indent=2))
        return
    for summary in summaries:
        echo_merge_summary(summary)
    click.echo(f"{output}: {total} device(s)", err=True)


@main.command("import")
@click.argument("documents", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@db_option
@json_option
@friendly_errors
def import_command(documents, db_path, as_json):
    """Add portable scan results (`camscan export --format camscan`) to the inventory.

    Devices are matched as `camscan merge` matches them; a scan already in the inventory
    (the same scan UUID) adds nothing.
    """
    from camscan.portable import DocumentError, import_document, load_document_file

    summaries = []
    with open_inventory(db_path, create=True) as store:
        for path in documents:
            try:
                summaries.append(import_document(store, load_document_file(path), path))
            except DocumentError as error:
                raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(summaries, indent=2))
        return
    for summary in summaries:
        echo_merge_summary(summary)


def echo_merge_summary(summary: dict) -> None:
    """One line of what a merge or an import added."""
    echo_untrusted(f"{summary['source']}: {summary['scans_added']} scan(s) added "
                   f"({summary['scans_already_present']} already present), {summary['devices_added']} new "
                   f"device(s), {summary['devices_matched']} matched, {summary['observations_added']} "
                   f"observation(s), {summary['findings_added']} finding(s)")


@main.command()
@db_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@friendly_errors
def report(db_path, output):
    """Write the audit report: one self-contained HTML file (no network needed to open it)."""
    from camscan.report import gather, render_html

    with open_inventory(db_path) as store:
        document = render_html(gather(store))
    write_output(output, document)
    click.echo(f"wrote {output}", err=True)


@main.command("datasette-metadata")
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="Key the metadata to this database file's name (Datasette names a database by its file stem).")
@click.option("-o", "--output", type=click.File("w"), default="-", help="Write here instead of standard output.")
def datasette_metadata_command(db_path, output):
    """Datasette metadata for a camscan database: descriptions and canned queries.

    \b
    camscan datasette-metadata --db school-a.db -o metadata.json
    datasette school-a.db --metadata metadata.json
    """
    from camscan.report.datasette import TEMPLATE_DATABASE, database_name, datasette_metadata

    name = database_name(db_path) if db_path else TEMPLATE_DATABASE
    output.write(json.dumps(datasette_metadata(name), indent=2) + "\n")


@main.group()
def signatures() -> None:
    """Inspect and test the fingerprint rules in signatures/."""


@signatures.command("test")
@friendly_errors
def signatures_test():
    """Run every rule's examples and every example of the vendored Recog databases; exit 1 if any fails."""
    from camscan.fingerprint.recog import check_recog_example, vendored_fingerprints

    rules = default_rules()
    failures = [problem for rule in rules for example in rule.examples if (problem := check_example(rule, example))]
    fingerprints = vendored_fingerprints()
    failures += [problem for fingerprint in fingerprints for example in fingerprint.examples
                 if (problem := check_recog_example(fingerprint, example))]
    for problem in failures:
        click.echo(f"FAIL {problem}")
    examples = sum(len(rule.examples) for rule in rules)
    recog_examples = sum(len(fingerprint.examples) for fingerprint in fingerprints)
    click.echo(f"{len(rules)} rules, {examples} examples; {len(fingerprints)} Recog fingerprints, "
               f"{recog_examples} examples; {len(failures)} failed")
    if failures:
        sys.exit(1)


@signatures.command("match")
@click.argument("field")
@click.argument("value")
@friendly_errors
def signatures_match(field, value):
    """What a banner would be identified as, e.g. `camscan signatures match http.server App-webs/`."""
    from camscan.model import Observation

    identifier = Identifier()
    result = identifier.identify([Observation(ip="0.0.0.0", source="cli", field=field, value=value)])
    if not result.evidence:
        click.echo(f"no rule matches {field} = {value!r}")
        sys.exit(1)
    for item in result.evidence:
        echo_untrusted(f"{item.signature} (weight {item.weight}): {dict(item.sets)}")
    echo_untrusted(f"=> vendor={result.vendor} manufacturer={result.manufacturer} model={result.model} "
                   f"firmware={result.firmware} device_type={result.device_type} camera={result.is_camera} "
                   f"confidence={result.confidence}")


DEMO_NETWORK = "198.18.200.0/24"
LAB_MISSING = ("the demo needs camscan's lab, a package of its own (camscan_lab) that camscan does not ship: "
               "in a camscan source checkout run `pip install ./lab`, or `sudo bash scripts/demo.sh` to set up and run")


@main.command()
@click.option("--hosts", default=40, show_default=True, type=click.IntRange(1, 250), help="Emulated hosts in the lab.")
@click.option("--seed", default=7, show_default=True, help="Which lab to generate (same seed, same lab).")
@click.option("--db", "db_path", default="camscan-demo.db", show_default=True, type=click.Path(dir_okay=False))
@friendly_errors
def demo(hosts, seed, db_path):
    """Scan a built-in lab of emulated cameras, recorders and other hosts.

    The lab lives in private Linux network namespaces on 198.18.200.0/24 with no route
    out, so no real network is touched. Needs root.
    """
    import subprocess

    try:
        from camscan_lab.netns import NamespaceLab, NamespaceLabError
        from camscan_lab.profiles import generate_lab
        from camscan_lab.score import score
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "camscan_lab":
            raise
        raise click.ClickException(LAB_MISSING) from None

    lab_hosts = generate_lab(hosts, DEMO_NETWORK, seed)
    try:
        lab = NamespaceLab(lab_hosts, prefix="csdemo", network=DEMO_NETWORK)
    except NamespaceLabError as error:
        raise click.ClickException(f"cannot build the demo lab: {error}") from None
    with lab:
        cameras = sum(1 for host in lab_hosts if host.is_camera)
        click.echo(f"Demo lab up: {len(lab_hosts)} emulated hosts ({cameras} cameras/recorders) on {DEMO_NETWORK} "
                   "inside network namespaces; camscan scans only them.", err=True)
        argv = [sys.executable, "-m", "camscan", "scan", DEMO_NETWORK, "--db", db_path, "--yes"]
        if subprocess.run(lab.exec_argv(argv)).returncode != 0:
            raise click.ClickException("the demo scan failed")
    with open_inventory(db_path) as store:
        result = score(lab_hosts, store.devices())
    click.echo(f"Against the lab's truth: maker named for {result.named} and kind (camera, NVR, DVR, encoder) for "
               f"{result.typed} of {result.identifiable} identifiable cameras/recorders; "
               f"{result.false_cameras} non-camera(s) called a camera, {result.wrong_makers} host(s) named "
               "another's maker. "
               f"Explore: camscan devices --db {db_path}", err=True)


@main.command()
def ports():
    """The default port set and why each port is in it."""
    for port, reason in sorted(DEFAULT_PORTS.items()):
        click.echo(f"{port:>6}  {reason}")


@main.command()
@db_option
@click.option("--severity", "severities", multiple=True, type=click.Choice(SEVERITIES),
              help="Only findings of this severity (repeatable).")
@json_option
@friendly_errors
def findings(db_path, severities, as_json):
    """What answers without a password: the exposure checks' findings, most severe first.

    A finding is resolved once a later complete scan ran its check on the device and did not find it again.
    """
    with open_inventory(db_path) as store:
        found = store.findings(severities)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    columns = ("severity", "ip", "port", "check", "status", "detail")
    click.echo("\t".join(columns))
    for item in found:
        shown = {**item, "status": item["status"] if item["status"] == "open" else f"resolved (scan {item['resolved_in_scan']})"}
        click.echo(tab_separated(shown[column] for column in columns))
    still_open = sum(1 for item in found if item["status"] == "open")
    click.echo(f"{len(found)} finding(s), {still_open} still open", err=True)


@main.command("checks")
def list_checks():
    """The exposure checks and what each sends."""
    for name, what in CHECKS.items():
        click.echo(f"{name:<20} {what}")
    for name, what in OPT_IN_CHECKS.items():
        click.echo(f"{name:<20} {what} (opt-in: --check-default-credentials)")


# --- district: sensors, dispatch, collect ------------------------------------------------------


def broker_options(command: Callable) -> Callable:
    """Where the district's queue is (README: District)."""
    command = click.option("--broker-ca", type=click.Path(exists=True, dir_okay=False),
                           help="With rediss://: the CA certificate that signed the broker's TLS certificate.")(command)
    return click.option("--broker", "broker_url", default=lambda: os.environ.get("CAMSCAN_BROKER"),
                        show_default="$CAMSCAN_BROKER", required=True,
                        help="Redis URL with its password, e.g. rediss://:PASSWORD@queue.example:6380/0 "
                             "(prefer $CAMSCAN_BROKER: a command line is visible in ps).")(command)


def central_key_options(command: Callable) -> Callable:
    """The central's key and certificate: tasks are signed with them."""
    command = click.option("--cert", "certificate_path", required=True, type=click.Path(exists=True, dir_okay=False),
                           help="The central's certificate (the one the sensors trust).")(command)
    return click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False),
                        help="The central's key: it signs the tasks.")(command)


def visibility_option(command: Callable) -> Callable:
    from camscan.district import DEFAULT_VISIBILITY_TIMEOUT

    return click.option("--visibility-timeout", default=DEFAULT_VISIBILITY_TIMEOUT, show_default=True,
                        type=click.FloatRange(min=1),
                        help="Seconds after which a task no sensor acknowledged is delivered again: longer than the "
                             "longest scan.")(command)


def _broker(broker_url: str, broker_ca: str | None, visibility_timeout: float | None = None):
    from camscan.district import DEFAULT_VISIBILITY_TIMEOUT
    from camscan.district.queue import Broker

    if not broker_url.startswith(("redis://", "rediss://")):
        raise click.UsageError("--broker must be a redis:// or rediss:// URL")
    return Broker(broker_url, broker_ca, visibility_timeout or DEFAULT_VISIBILITY_TIMEOUT)


@main.command()
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where to write NAME.key (owner only) and NAME.pem.")
@friendly_errors
def keygen(name, directory):
    """Make a key and certificate for the central (it signs tasks) or a sensor (it signs results)."""
    from camscan.district.keys import KeyFileError, generate_identity

    try:
        key_path, certificate_path = generate_identity(name, directory)
    except KeyFileError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"wrote {key_path} (keep it private) and {certificate_path} (give it to the other side)", err=True)


@main.command()
@click.option("--site", required=True, help="The site this sensor scans; it takes tasks of this site only.")
@click.option("--scope", "scope_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The sensor's own authorised ranges: a task naming any target outside them is refused.")
@broker_options
@visibility_option
@click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="This sensor's key (camscan keygen): it signs the results.")
@click.option("--cert", "certificate_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="This sensor's certificate (registered at the central with `camscan sensors register`).")
@click.option("--central-cert", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The central's certificate: only tasks it signed are run.")
@click.option("--name", help="The sensor's name as registered at the central (default: the certificate's file stem).")
@db_option
@click.option("--credentials", "credentials_file", type=click.Path(exists=True, dir_okay=False),
              help="This sensor's own accounts file: used only when a task asks for credentials.")
@click.option("--allow-default-credentials", is_flag=True, help="Run default-credential checks when a task asks.")
@click.option("--allow-public", is_flag=True, help="Scan public addresses in the scope file when a task asks.")
@click.option("--netns", help="Run the scans inside this network namespace (ip netns), e.g. one per site VLAN.")
@click.option("--heartbeat", "heartbeat_seconds", default=30.0, show_default=True, type=click.FloatRange(min=0.5),
              help="Seconds between the heartbeats `camscan sensors` shows.")
@friendly_errors
def sensor(site, scope_file, broker_url, broker_ca, visibility_timeout, key_path, certificate_path, central_cert, name,
           db_path, credentials_file, allow_default_credentials, allow_public, netns, heartbeat_seconds):
    """Run a site's sensor: scans the central dispatches, inside this sensor's own scope, until stopped.

    Each scan is recorded in the sensor's own database (--db) and its portable result,
    signed with the sensor's key, goes to the central's results queue.
    """
    from camscan.district.keys import certificate_text, load_private_key
    from camscan.district.queue import SensorConfig, run_sensor

    read_scope_file(scope_file)
    load_private_key(key_path)
    certificate_text(central_cert)
    config = SensorConfig(name=name or os.path.splitext(os.path.basename(certificate_path))[0], site=site,
                          scope_file=os.path.abspath(scope_file), db_path=os.path.abspath(db_path),
                          key=key_path, certificate=certificate_path, central_certificate=central_cert,
                          credentials_file=os.path.abspath(credentials_file) if credentials_file else None,
                          allow_default_credentials=allow_default_credentials, allow_public=allow_public,
                          netns=netns, heartbeat_seconds=heartbeat_seconds)
    click.echo(f"sensor {config.name} of site {site!r}: scans inside {scope_file} only", err=True)
    run_sensor(config, _broker(broker_url, broker_ca, visibility_timeout))


@main.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--site", "sites", multiple=True, help="A site whose sensors scan TARGETS (repeatable).")
@click.option("--all-sites", is_flag=True, help="Every site with a sensor registered in --db.")
@broker_options
@central_key_options
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="The district inventory: records what was dispatched (and, with --all-sites, names the sites).")
@click.option("--ports", help="Ports to sweep (as for `camscan scan`).")
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds to wait for a connect or a reply.")
@click.option("--rate", type=click.FloatRange(min=1), help="Packets per second.")
@click.option("--checks", help="Exposure checks to run (comma-separated).")
@click.option("--no-checks", is_flag=True, help="Run no exposure checks.")
@click.option("--no-discovery", is_flag=True, help="ARP and TCP only.")
@click.option("--no-multicast", is_flag=True, help="No discovery probe to a multicast group.")
@click.option("--no-snmp", is_flag=True, help="Send nothing to UDP 161.")
@click.option("--no-channels", is_flag=True, help="Ask no recorder for its channels, no camera for its video sources.")
@click.option("--exclude", multiple=True, help="Addresses never to touch (repeatable).")
@click.option("--use-credentials", is_flag=True, help="Ask each sensor to use its own credentials file.")
@click.option("--check-default-credentials", is_flag=True,
              help="Ask for default-credential checks (a sensor runs them only if its configuration allows).")
@click.option("--allow-public", is_flag=True, help="Ask to scan public addresses (only if the sensor allows).")
@click.option("--shards", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Split each site's scan into this many scans of equal address counts, which the site's "
                   "sensors share (a large routed range).")
@click.option("--schedule", help="Instead of now: every N seconds (e.g. 86400) or on a cron line "
                                 "(e.g. '30 2 * * 1-5'), kept in --db and sent by `camscan beat`.")
@json_option
@friendly_errors
def dispatch(targets, sites, all_sites, broker_url, broker_ca, key_path, certificate_path, db_path, ports, timeout,
             rate, checks, no_checks, no_discovery, no_multicast, no_snmp, no_channels, exclude, use_credentials,
             check_default_credentials, allow_public, shards, schedule, as_json):
    """Send a scan of TARGETS to the sensors of each site, signed with the central's key.

    Each site's scan gets its own UUID; `camscan collect` stores the results. With
    --schedule the scan recurs: `camscan beat` (Celery beat) sends it, each run a new scan.
    """
    from camscan.district.ledger import Ledger
    from camscan.district.queue import DistrictError, celery_app, parse_schedule, scan_request, split_targets
    from camscan.district.queue import dispatch as send

    if bool(sites) == all_sites:
        raise click.UsageError("name the sites with --site, or give --all-sites (with --db), not both")
    if (all_sites or schedule) and not db_path:
        raise click.UsageError("--all-sites and --schedule need the district inventory: --db")
    if schedule and shards > 1:
        raise click.UsageError("--shards goes with a scan sent now, not with --schedule")
    if schedule:
        try:
            parse_schedule(schedule)
        except DistrictError as error:
            raise click.UsageError(str(error)) from None
    options = {key: value for key, value in {
        "ports": ports, "timeout": timeout, "rate": rate,
        "checks": [] if no_checks else sorted(parse_check_list(checks)) if checks else None,
        "discovery": False if no_discovery else None, "multicast": False if no_multicast else None,
        "snmp": False if no_snmp else None, "channels": False if no_channels else None,
        "exclude": list(exclude) or None, "use_credentials": use_credentials or None,
        "check_default_credentials": check_default_credentials or None, "allow_public": allow_public or None,
    }.items() if value is not None}
    store = open_inventory(db_path, create=True) if db_path else None
    try:
        if all_sites:
            assert store is not None, "--all-sites needs --db, checked above"
            sites = Ledger(store).sites()
            if not sites:
                raise click.ClickException(f"no sensor is registered in {db_path}: `camscan sensors register`")
        if schedule:
            assert store is not None, "--schedule needs --db, checked above"
            for site in sites:
                number = Ledger(store).add_schedule(site, schedule, list(targets), options)
                echo_untrusted(f"schedule {number}: {site}: {' '.join(targets)} at {schedule!r} "
                               "(sent by `camscan beat`)")
            return
        parts = split_targets(list(targets), shards) if shards > 1 else [list(targets)]
        requests = [scan_request(site, part, options) for site in sites for part in parts]
        app = celery_app(_broker(broker_url, broker_ca), key_path, certificate_path, certificate_path)
        send(app, requests)
        if store:
            for request in requests:
                Ledger(store).dispatched(request["scan_uuid"], request["site"], request["targets"], options)
    finally:
        if store:
            store.close()
    if as_json:
        click.echo(json.dumps(requests, indent=2))
        return
    for request in requests:
        echo_untrusted(f"{request['scan_uuid']}\t{request['site']}\t{' '.join(request['targets'])}")


@main.command()
@broker_options
@db_option
@central_key_options
@click.option("--state", "state_file", type=click.Path(dir_okay=False),
              help="Celery beat's file of when each schedule last ran (default: next to --db).")
@friendly_errors
def beat(broker_url, broker_ca, db_path, key_path, certificate_path, state_file):
    """Send the recurring scans (`camscan dispatch --schedule`) when they are due, until stopped (Celery beat)."""
    from camscan.district.ledger import Ledger
    from camscan.district.queue import celery_app, run_beat

    with open_inventory(db_path) as store:
        schedules = Ledger(store).schedules()
    if not schedules:
        raise click.ClickException(f"no recurring scan in {db_path}: `camscan dispatch --schedule ...`")
    app = celery_app(_broker(broker_url, broker_ca), key_path, certificate_path, certificate_path)
    run_beat(app, schedules, state_file or f"{db_path}.beat")


@main.command()
@broker_options
@db_option
@click.option("--until-idle", type=click.FloatRange(min=0.1),
              help="Stop once no result has come for this many seconds (default: run until stopped).")
@friendly_errors
def collect(broker_url, broker_ca, db_path, until_idle):
    """Store the sensors' results in the district inventory as they arrive.

    Only results signed by a registered sensor, for its own site, are stored; each is
    acknowledged once stored, and a scan stored already adds nothing.
    """
    from camscan.district.queue import collect as consume

    open_inventory(db_path, create=True).close()

    def said(outcome: str, body) -> None:
        sensor_name = body.get("sensor") if isinstance(body, dict) else None
        if outcome != "heartbeat":
            echo_untrusted(f"{outcome}: from {sensor_name}", err=True)

    handled = consume(_broker(broker_url, broker_ca), db_path, until_idle, said)
    click.echo(f"{handled} message(s) handled", err=True)


@main.group(invoke_without_command=True, subcommand_metavar="[COMMAND] [ARGS]...")  # optional (click 8.3 said COMMAND)
@db_option
@json_option
@click.pass_context
@friendly_errors
def sensors(context, db_path, as_json):
    """The district's sensors: site, version, last heartbeat, last scan (and `register` one)."""
    from camscan.district.ledger import Ledger

    if context.invoked_subcommand is not None:
        return
    with open_inventory(db_path) as store:
        ledger = Ledger(store)
        found, events, dispatches = ledger.sensors(), ledger.events(), ledger.dispatches()
    if as_json:
        click.echo(json.dumps({"sensors": found, "events": events, "dispatches": dispatches}, indent=2))
        return
    columns = ("site", "name", "camscan_version", "last_heartbeat", "last_scan_uuid", "last_scan_at")
    click.echo("\t".join(columns))
    for row in found:
        click.echo(tab_separated(row[column] or "" for column in columns))
    for row in dispatches:
        if row["status"] != "complete":
            report = f"; {row['latest_report']}" if row["latest_report"] else ""
            echo_untrusted(f"dispatched {row['dispatched_at']} to {row['site']}: scan {row['scan_uuid']} "
                           f"{row['status'] or 'not stored yet'}{report}", err=True)
    for event in events:
        if event["kind"] not in ("result",):
            echo_untrusted(f"{event['at']} {event['kind']}: {event['sensor'] or '-'} {event['site'] or ''} "
                           f"{event['scan_uuid'] or ''} {event['detail'] or ''}", err=True)


@sensors.command("register")
@click.argument("name")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False))
@click.option("--site", required=True, help="The site whose results this sensor may deliver.")
@db_option
@friendly_errors
def sensors_register(name, certificate, site, db_path):
    """Accept results signed by the key of CERTIFICATE as sensor NAME's, for SITE only."""
    from camscan.district.keys import KeyFileError, certificate_text
    from camscan.district.ledger import Ledger

    try:
        text = certificate_text(certificate)
    except KeyFileError as error:
        raise click.ClickException(str(error)) from None
    with open_inventory(db_path, create=True) as store:
        Ledger(store).register(name, site, text)
    echo_untrusted(f"sensor {name} registered for site {site!r}", err=True)
