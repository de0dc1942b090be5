"""The ``camscan`` command line: argument parsing and output formatting only."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import os
import sys
from collections.abc import Callable

import click

from camscan import __version__
from camscan.checks import CHECKS, DEFAULT_CREDENTIALS, OPT_IN_CHECKS, SEVERITIES, parse_check_list
from camscan.fingerprint.identify import Identifier
from camscan.fingerprint.signatures import SignatureError, check_example, default_rules
from camscan.probes.ports import DEFAULT_PORTS, parse_ports
from camscan.scope import Scope, ScopeError, read_scope_file
from camscan.store import Store, StoreError

DEFAULT_DB = "camscan.db"
LARGE_SWEEP = 4096
TABLE_COLUMNS = ("ip", "mac", "vendor", "model", "firmware", "device_type", "confidence", "services", "why")


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


def open_store(db_path: str, create: bool = False) -> Store:
    """The inventory at ``db_path``; only a scan may create a new one."""
    if not create and not os.path.exists(db_path):
        raise click.ClickException(f"no camscan database at {db_path}: run `camscan scan` first, or pass --db")
    try:
        return Store(db_path)
    except StoreError as error:
        raise click.ClickException(str(error)) from None


def friendly_errors(command: Callable) -> Callable:
    """Turn the errors a user can act on into one clear line instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ScopeError, StoreError, SignatureError, ValueError, OSError) as error:
            raise click.ClickException(str(error)) from None

    return wrapper


def _services_text(device: dict) -> str:
    return ",".join(f"{s['port']}/{s['protocol']}" for s in device.get("services", []))


def _why_text(device: dict) -> str:
    return ", ".join(dict.fromkeys(e["signature"] for e in device.get("evidence", [])[:3]))


def _row(device: dict) -> dict[str, str]:
    return {
        "ip": device["ip"],
        "mac": device.get("mac") or "",
        "vendor": device.get("vendor") or "",
        "model": device.get("model") or "",
        "firmware": device.get("firmware") or "",
        "device_type": device.get("device_type") or "",
        "confidence": f"{device.get('confidence') or 0:.2f}",
        "services": _services_text(device),
        "why": _why_text(device),
    }


def print_devices(devices: list[dict], title: str) -> None:
    """A rich table on a terminal; tab-separated plain text otherwise."""
    rows = [_row(device) for device in devices]
    if not sys.stdout.isatty():
        click.echo("\t".join(TABLE_COLUMNS))
        for row in rows:
            click.echo("\t".join(row[column] for column in TABLE_COLUMNS))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in TABLE_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(row[column] for column in TABLE_COLUMNS))
    Console().print(table)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="camscan")
def main() -> None:
    """Find and identify the CCTV cameras, DVRs and NVRs on networks you are authorised to scan."""


@main.command()
@click.argument("targets", nargs=-1, required=True)
@db_option
@click.option("--scope", "scope_file", type=click.Path(exists=True, dir_okay=False), help="File of authorised ranges; targets outside it are dropped.")
@click.option("--exclude", multiple=True, help="Addresses, CIDRs or ranges never to touch (repeatable, comma-separated).")
@click.option("--ports", default="default", show_default=True, help="Ports to sweep, e.g. 80,443,8000-8100 ('default' = the camera port set).")
@click.option("--rate", default=10000.0, show_default=True, type=click.FloatRange(min=1), help="Packets (ARP requests and TCP connects) per second.")
@click.option("--concurrency", default=512, show_default=True, type=click.IntRange(min=1), help="Open connections at once.")
@click.option("--timeout", default=2.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds to wait for a connect or a reply.")
@click.option("--interface", help="Only ARP-sweep targets on this interface.")
@click.option("--allow-public", is_flag=True, help="Permit public (Internet) addresses in scope.")
@click.option("--site", help="Label the scan with a site name.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation before a large sweep.")
@click.option("--checks", "checks", default=",".join(CHECKS), show_default=True, help="Exposure checks to run after identification (comma-separated; `camscan checks` lists them).")
@click.option("--no-checks", is_flag=True, help="Identify only: run no exposure checks.")
@click.option("--check-default-credentials", is_flag=True, help="Also try the maker's factory password (at most 3 logins per device, stops at the first lockout sign; the password found is never stored or shown).")
@json_option
@friendly_errors
def scan(targets, db_path, scope_file, exclude, ports, rate, concurrency, timeout, interface, allow_public, site, yes, checks, no_checks, check_default_credentials, as_json):
    """Sweep TARGETS (IPs, CIDR blocks, ranges) and identify the cameras and recorders on them."""
    from camscan.scanner import Scan, ScanSettings

    excluded = [part for item in exclude for part in item.split(",") if part.strip()]
    scope = Scope(
        targets,
        scope_specs=read_scope_file(scope_file) if scope_file else None,
        exclude=excluded,
        allow_public=allow_public,
    )
    port_list = parse_ports(ports)
    selected = frozenset() if no_checks else parse_check_list(checks)
    if check_default_credentials:
        selected |= {DEFAULT_CREDENTIALS}
    if selected:
        from camscan.checks.data import load_all

        load_all()
    if scope.size == 0:
        raise click.ClickException("nothing to scan: every target lies outside the scope file or is excluded")
    click.echo(
        f"camscan will touch {scope.size} address(es) in {scope.describe()} on {len(port_list)} TCP port(s), "
        f"at most {rate:g} packets/s and {concurrency} connections at once.",
        err=True,
    )
    if scope.size > LARGE_SWEEP and sys.stdin.isatty() and not yes:
        click.confirm("This is a large sweep. Go ahead?", abort=True, err=True)
    settings = ScanSettings(ports=port_list, rate=rate, concurrency=concurrency, timeout=timeout, interface=interface,
                            checks=selected)
    store = open_store(db_path, create=True)
    parameters = {"ports": port_list, "rate": rate, "concurrency": concurrency, "timeout": timeout,
                  "interface": interface, "exclude": excluded, "scope_file": scope_file, "checks": sorted(selected)}
    scan_id = store.start_scan(list(targets), parameters, site=site)
    runner = Scan(scope, settings, store, scan_id)
    status = "failed"
    try:
        _run_with_progress(runner)
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        click.echo(f"\nInterrupted: {len(runner.progress.devices)} device(s) found so far are saved in {db_path}.", err=True)
    finally:
        store.finish_scan(scan_id, status)
        for notice in runner.notices:
            click.echo(f"note: {notice}", err=True)
    devices = [device for device in store.devices() if device["id"] in runner.device_ids]
    store.close()
    if as_json:
        click.echo(json.dumps(devices, indent=2))
    else:
        cameras = [device for device in devices if device["is_camera"]]
        print_devices(devices, f"{len(cameras)} camera(s)/recorder(s) among {len(devices)} device(s)")
        click.echo(f"{len(cameras)} camera(s)/recorder(s), {len(devices)} device(s); saved to {db_path} (scan {scan_id}).", err=True)
    if status == "interrupted":
        sys.exit(130)


def _run_with_progress(runner) -> None:
    if not sys.stderr.isatty():
        asyncio.run(runner.run())
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]scanning"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("", total=runner.scope.size)

        def update(progress) -> None:
            cameras = sum(1 for device in progress.devices if device.identification.is_camera)
            bar.update(task, completed=progress.hosts_done, total=progress.total_hosts,
                       description=f"{len(progress.devices)} devices, {cameras} cameras")

        runner._on_progress = update
        asyncio.run(runner.run())


@main.command()
@db_option
@click.option("--vendor", help="Only this vendor key (brand or maker), e.g. hikvision.")
@click.option("--type", "device_type", help="Only this device type, e.g. ip-camera, nvr, dvr.")
@click.option("--cameras", is_flag=True, help="Only cameras and recorders.")
@json_option
@friendly_errors
def devices(db_path, vendor, device_type, cameras, as_json):
    """List the devices in the inventory."""
    with open_store(db_path) as store:
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
    with open_store(db_path) as store:
        device = store.device(address)
    if device is None:
        raise click.ClickException(f"no device {address} in {db_path}")
    if as_json:
        click.echo(json.dumps(device, indent=2))
        return
    for key in ("ip", "mac", "vendor", "manufacturer", "model", "firmware", "device_type", "is_camera",
                "confidence", "first_seen", "last_seen"):
        click.echo(f"{key:>13}: {device.get(key) if device.get(key) is not None else ''}")
    click.echo("     services:")
    for service in device["services"]:
        click.echo(f"  {service['port']}/{service['transport']} {service['protocol']}  {service['banner']}")
    click.echo("     evidence:")
    for item in device["evidence"]:
        click.echo(f"  [{item['weight']:.1f}] {item['signature']}: {item['field']} = {item['value'][:100]!r}")
    click.echo("     findings:")
    for item in device.get("findings", []):
        port = f":{item['port']}" if item.get("port") else ""
        click.echo(f"  [{item['severity']}] {item['check']}{port} {item['detail']}")
    click.echo("  observations:")
    for seen in device.get("observations", []):
        port = f":{seen['port']}" if seen.get("port") else ""
        click.echo(f"  {seen['source']}{port} {seen['field']} = {str(seen['value'])[:100]!r}")


@main.command()
@db_option
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.File("w"), default="-", help="Write here instead of standard output.")
@friendly_errors
def export(db_path, fmt, output):
    """Export every device as JSON (one object per device) or CSV."""
    with open_store(db_path) as store:
        found = store.devices()
    if fmt == "json":
        output.write(json.dumps(found, indent=2) + "\n")
        return
    columns = ["ip", "mac", "vendor", "manufacturer", "model", "firmware", "device_type", "is_camera",
               "confidence", "first_seen", "last_seen", "services", "evidence"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for device in found:
        writer.writerow({**device, "services": _services_text(device), "evidence": _why_text(device)})
    output.write(buffer.getvalue())


@main.group()
def signatures() -> None:
    """Inspect and test the fingerprint rules in signatures/."""


@signatures.command("test")
@friendly_errors
def signatures_test():
    """Run every rule's examples; exit 1 if any fails."""
    rules = default_rules()
    failures = [problem for rule in rules for example in rule.examples if (problem := check_example(rule, example))]
    for problem in failures:
        click.echo(f"FAIL {problem}")
    examples = sum(len(rule.examples) for rule in rules)
    click.echo(f"{len(rules)} rules, {examples} examples, {len(failures)} failed")
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
    matches = identifier.match(field, value)
    if not matches:
        click.echo(f"no rule matches {field} = {value!r}")
        sys.exit(1)
    for rule, said in matches:
        click.echo(f"{rule.id} ({rule.source_file}, weight {rule.weight}): {said}")
    result = identifier.identify([Observation(ip="0.0.0.0", source="cli", field=field, value=value)])
    click.echo(f"=> vendor={result.vendor} manufacturer={result.manufacturer} model={result.model} "
               f"firmware={result.firmware} device_type={result.device_type} camera={result.is_camera} "
               f"confidence={result.confidence}")


DEMO_NETWORK = "198.18.200.0/24"


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

    from camscan.lab.netns import NamespaceLab, NamespaceLabError
    from camscan.lab.profiles import generate_lab
    from camscan.lab.score import score

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
    with open_store(db_path) as store:
        result = score(lab_hosts, store.devices())
    click.echo(f"Against the lab's truth: maker named for {result.named} of {result.identifiable} identifiable "
               f"cameras/recorders; {result.false_cameras} non-camera(s) called a camera. "
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
    """What answers without a password: the exposure checks' findings, most severe first."""
    with open_store(db_path) as store:
        found = store.findings(severities)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    columns = ("severity", "ip", "port", "check", "detail")
    click.echo("\t".join(columns))
    for item in found:
        click.echo("\t".join(str(item[column] if item[column] is not None else "") for column in columns))
    click.echo(f"{len(found)} finding(s)", err=True)


@main.command("checks")
def list_checks():
    """The exposure checks and what each sends."""
    for name, what in CHECKS.items():
        click.echo(f"{name:<20} {what}")
    for name, what in OPT_IN_CHECKS.items():
        click.echo(f"{name:<20} {what} (opt-in: --check-default-credentials)")
