"""The audit report: one self-contained HTML file a school board can read.

Inline CSS and an inline SVG chart; no script, no external fetch (a Content-Security-Policy
forbids any), every stored value escaped: a database may come from a merge of someone else's
file, so numbers are escaped as well as text (a policy cannot stop a <meta http-equiv=refresh>;
only escaping does). Sections: scope and scan parameters, totals by
vendor, type and site, cameras behind recorders (per recorder, from its channel inventory),
the NDAA s.889 covered devices with their evidence, cameras whose maker is unknown, findings,
changes since the previous scan, and the full inventory; a district's inventory also shows
each site's sensors and what they refused.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from html import escape

from camscan import __version__
from camscan.model import RECORDER_DEVICE_TYPES, service_label
from camscan.district.ledger import Ledger
from camscan.store import ANY_SITE, Store

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
CHART_ROWS = 15
COLOURS = {True: "#c0392b", False: "#2e7d32", None: "#b8860b"}
STATUS_TEXT = {True: "covered", False: "not covered", None: "maker unknown"}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #ddd;padding-bottom:.2rem}
.meta{color:#555}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.8rem}.covered{color:#c0392b}.unknown{color:#8a6d00}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}ul.evidence{margin:0;padding-left:1.1rem}
code{font-size:.85em;word-break:break-all}.note{color:#555;font-size:.9rem}
.badge{display:inline-block;padding:0 .4rem;border-radius:4px;color:#fff;font-size:.8rem}
"""


class Html(str):
    """Markup this module built, from escaped parts: the one kind of table cell not escaped again."""


def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(headers: list[str], rows: list[list], table_id: str) -> str:
    """An HTML table; every cell is escaped as text unless it is ``Html``."""
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell if isinstance(cell, Html) else _e(cell)}</td>" for cell in row)
                   + "</tr>" for row in rows)
    return f'<table id="{_e(table_id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _badge(status: bool | None) -> Html:
    return Html(f'<span class="badge" style="background:{COLOURS[status]}">{STATUS_TEXT[status]}</span>')


def _displayed(item: dict) -> dict:
    """A device or finding as the report shows it: the names people read (``vendor_name``,
    ``manufacturer_name``, when the store gave them) in place of the vendor keys."""
    return {**item, **{key: item[f"{key}_name"] for key in ("vendor", "manufacturer") if item.get(f"{key}_name")}}


def gather(store: Store) -> dict:
    """Everything the report shows, read from the store (JSON-friendly); devices and findings
    carry the names people read in ``vendor`` and ``manufacturer`` when the store gives them."""
    scans = store.scans()
    sites = sorted({scan["site"] for scan in scans}, key=lambda site: (site is not None, site or ""))
    changes = []
    for site in sites if len(sites) > 1 else [ANY_SITE]:
        pair = store.latest_scan_pair(site)
        if pair:
            changes.append(store.diff(*pair))
    ledger = Ledger(store)
    return {
        "sensors": ledger.sensors(),
        "district_events": [event for event in ledger.events() if event["kind"] not in ("result", "heartbeat")],
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "database": str(store.path),
        "camscan_version": __version__,
        "scans": scans,
        "devices": [_displayed(device) for device in store.devices()],
        "findings": [_displayed(finding) for finding in store.findings()],
        "changes": changes,
    }


def _chart(devices: list[dict]) -> str:
    """Horizontal bars: cameras and recorders per brand, coloured by their maker's s.889 status."""
    counts: Counter = Counter()
    for device in devices:
        if device["is_camera"]:
            counts[(device["vendor"] or "unidentified", device["ndaa_889"])] += 1
    rows = counts.most_common(CHART_ROWS)
    if not rows:
        return '<p class="note">No cameras or recorders were found, so there is nothing to chart.</p>'
    bar_height, label_width, bar_width = 22, 190, 420
    height = bar_height * len(rows) + 40
    largest = max(count for _, count in rows)
    parts = [f'<svg id="vendor-chart" role="img" width="{label_width + bar_width + 60}" '
             f'height="{height}" viewBox="0 0 {label_width + bar_width + 60} {height}">',
             "<title>Cameras and recorders by brand, coloured by NDAA s.889 status of the maker</title>"]
    for index, ((brand, status), count) in enumerate(rows):
        y = index * bar_height + 4
        width = max(2, round(bar_width * count / largest))
        parts.append(f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" font-size="13">{_e(brand)}</text>'
                     f'<rect x="{label_width}" y="{y}" width="{width}" height="{bar_height - 6}" fill="{COLOURS[status]}">'
                     f"<title>{_e(brand)}: {count} ({STATUS_TEXT[status]})</title></rect>"
                     f'<text x="{label_width + width + 6}" y="{y + 15}" font-size="13">{count}</text>')
    legend_y = len(rows) * bar_height + 20
    for offset, status in enumerate((True, False, None)):
        x = label_width + offset * 140
        parts.append(f'<rect x="{x}" y="{legend_y}" width="12" height="12" fill="{COLOURS[status]}"/>'
                     f'<text x="{x + 16}" y="{legend_y + 11}" font-size="12">{STATUS_TEXT[status]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _totals(devices: list[dict], key: str, label: str, table_id: str) -> str:
    groups: dict[str, list[dict]] = {}
    for device in devices:
        groups.setdefault(device.get(key) or "(none)", []).append(device)
    rows = [
        [name, len(members), sum(1 for d in members if d["is_camera"]), sum(1 for d in members if d["ndaa_889"])]
        for name, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    return _table([label, "devices", "cameras/recorders", "NDAA s.889 covered"], rows, table_id)


def _evidence_list(device: dict) -> Html | str:
    items = "".join(
        f"<li><code>{_e(item['signature'])}</code>: {_e(item['field'])} = <code>{_e(str(item['value'])[:120])}</code></li>"
        for item in device["evidence"][:6]
    )
    return Html(f'<ul class="evidence">{items}</ul>') if items else "none kept"


def _where(device: dict) -> str:
    """A device's address, or for a camera behind a recorder which channel of which recorder it is."""
    if device["ip"] or not device.get("attached_to"):
        return device["ip"] or ""
    return f"channel {device['channel']} of {device['attached_to']}"


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _recorders(devices: list[dict]) -> str:
    """Cameras per recorder, from each recorder's channel inventory, and the totals sentence."""
    recorders = [d for d in devices if d["attached_to"] is None and d["device_type"] in RECORDER_DEVICE_TYPES]
    if not recorders:
        return '<p class="note">No recorder (NVR, DVR or video encoder) was found.</p>'
    behind: dict[str, list[dict]] = {}
    for device in devices:
        if device["attached_to"] and device["connection"] != "sensor":  # a multi-sensor camera's own sensors
            behind.setdefault(device["attached_to"], []).append(device)
    channels = [channel for members in behind.values() for channel in members]
    with_video = sum(1 for channel in channels if channel["video"] == "present")
    refused = [d for d in recorders if d["channels"] == "credentials-needed"]
    sentence = (f"{_plural(len(recorders), 'recorder', 'recorders')}, "
                f"{_plural(len(channels), 'camera', 'cameras')} behind them, {with_video} with video")
    rows = []
    for recorder in recorders:
        members = behind.get(recorder["ip"], [])
        status = {"enumerated": "enumerated", "credentials-needed": "channels unknown: credentials needed"}.get(
            recorder["channels"], "not asked")
        connections = Counter(channel["connection"] for channel in members)
        rows.append([recorder["ip"], recorder["vendor"], recorder["model"], recorder["device_type"],
                     _badge(recorder["ndaa_889"]), status, len(members),
                     sum(1 for channel in members if channel["video"] == "present"),
                     ", ".join(f"{count} {kind}" for kind, count in sorted(connections.items())),
                     sum(1 for channel in members if channel["ndaa_889"]),
                     sum(1 for channel in members if channel["ndaa_889"] is None
                         and "behind a covered recorder" in (channel["ndaa_basis"] or ""))])
    channel_rows = [[channel["attached_to"], channel["channel"], channel["connection"], channel["video"],
                     channel["reported_ip"], channel["ip"], channel["vendor"], channel["model"], channel["firmware"],
                     _badge(channel["ndaa_889"]), channel["ndaa_basis"]] for channel in channels]
    return (f'<p id="recorders-sentence"><b>{_e(sentence)}</b>.'
            + (f" {_plural(len(refused), 'recorder', 'recorders')} refused every request: channels unknown, "
               "credentials needed." if refused else "")
            + "</p>"
            '<p class="note">A recorder knows its cameras: analogue ones on its coax inputs and IP ones on its own '
            "PoE network never show up in a network scan. camscan asked each recorder for its channels; a camera "
            "of unknown make behind a covered recorder is reported as such, never as not covered.</p>"
            + _table(["recorder", "brand", "model", "type", "NDAA s.889", "channels", "cameras", "with video",
                      "connections", "covered cameras", "unknown make behind a covered recorder"], rows,
                     "recorders-table")
            + ("<h3>Channels</h3>" + _table(["recorder", "channel", "connection", "video", "reported address",
                                             "swept as", "brand", "model", "firmware", "NDAA s.889", "basis"],
                                            channel_rows, "channels-table") if channel_rows else ""))


def _scope(scans: list[dict]) -> str:
    rows = []
    for scan in scans:
        parameters = scan["parameters"] if isinstance(scan["parameters"], dict) else {}
        ports = parameters.get("ports") or []
        rows.append([
            scan["id"], scan["site"], scan["started_at"], scan["finished_at"], scan["status"],
            ", ".join(map(str, scan["targets"])), ", ".join(map(str, parameters.get("exclude") or [])) or "none",
            f"{len(ports)} TCP ports" if ports else "",
            f"{parameters.get('rate', '')}/s, timeout {parameters.get('timeout', '')} s",
            scan["host_count"] or 0, scan["device_count"] or 0, scan["cameras"], scan["covered"],
        ])
    return _table(["scan", "site", "started", "finished", "status", "targets", "excluded", "ports", "pace",
                   "hosts answering", "devices", "cameras", "covered"], rows, "scans-table")


def _changes(changes: list[dict]) -> str:
    if not changes:
        return '<p class="note">Fewer than two complete scans of the same site: no changes to show yet.</p>'
    parts = []
    for diff in changes:
        a, b = diff["scan_a"], diff["scan_b"]
        site = f" at {_e(b['site'])}" if b["site"] else ""
        parts.append(f"<h3>Scan {_e(a['id'])} ({_e(a['started_at'])}) → scan {_e(b['id'])} "
                     f"({_e(b['started_at'])}){site}</h3>")
        rows = []
        for kind in ("new", "gone", "moved", "changed"):
            for item in diff[kind]:
                if kind == "moved":
                    what = f"{item['old_ip']} → {item['ip']}"
                elif kind == "changed":
                    what = "; ".join(f"{name}: {change['old']} → {change['new']}"
                                     for name, change in item["changes"].items())
                else:
                    what = " ".join(filter(None, [item["vendor"], item["model"], item["firmware"]]))
                rows.append([kind, _where(item), item["mac"], what])
        summary = ", ".join(f"{len(diff[kind])} {kind}" for kind in ("new", "gone", "moved", "changed"))
        parts.append(f"<p>{summary}.</p>")
        if rows:
            parts.append(_table(["change", "ip", "mac", "what"], rows, f"changes-{a['id']}-{b['id']}"))
    return "".join(parts)


def _district(data: dict) -> str:
    """Each site of the district: its sensors, when each was last heard of and its last scan, its
    devices; then what sensors refused or collect rejected. Empty without registered sensors."""
    if not data["sensors"]:
        return ""
    devices_by_site: dict[str | None, list[dict]] = {}
    for device in data["devices"]:
        devices_by_site.setdefault(device["site"], []).append(device)
    rows = []
    for sensor in data["sensors"]:
        members = devices_by_site.get(sensor["site"], [])
        rows.append([sensor["site"], sensor["name"], sensor["camscan_version"], sensor["last_heartbeat"],
                     sensor["last_scan_at"], len(members), sum(1 for d in members if d["is_camera"]),
                     sum(1 for d in members if d["ndaa_889"])])
    events = [[e["at"], e["kind"], e["sensor"], e["site"], e["scan_uuid"], e["detail"]]
              for e in data["district_events"]]
    return (f'<section id="district"><h2>District: sites and sensors ({len({s["site"] for s in data["sensors"]})} '
            "site(s))</h2>"
            + _table(["site", "sensor", "camscan", "last heard of", "last scan", "devices", "cameras/recorders",
                      "NDAA s.889 covered"], rows, "district-table")
            + ('<h3>Refused and rejected</h3><p class="note">Tasks a sensor refused (outside its own scope or '
               "configuration), scans that failed, and messages collect did not accept.</p>"
               + _table(["at", "what", "sensor", "site", "scan", "detail"], events, "district-events")
               if events else "")
            + "</section>")


def render_html(data: dict) -> str:
    """The report as one HTML document."""
    devices = data["devices"]
    cameras = [d for d in devices if d["is_camera"]]
    covered = [d for d in devices if d["ndaa_889"]]
    unknown = [d for d in cameras if d["ndaa_889"] is None]
    sites = sorted({d["site"] or "(no site)" for d in devices})
    cards = "".join(
        f'<div class="card {css}"><b>{count}</b>{_e(label)}</div>'
        for count, label, css in (
            (len(devices), "devices found", ""), (len(cameras), "cameras and recorders", ""),
            (len(covered), "made by NDAA s.889 covered companies", "covered"),
            (len(unknown), "cameras whose maker is unknown", "unknown"), (len(data["scans"]), "scans", ""),
        )
    )
    covered_rows = [
        [_where(d), d["mac"], d["site"], d["vendor"], d["manufacturer"], d["model"], d["firmware"], d["device_type"],
         d["ndaa_basis"], _evidence_list(d)]
        for d in covered
    ]
    unknown_rows = [[_where(d), d["mac"], d["site"], d["device_type"],
                     ", ".join(map(service_label, d["services"]))] for d in unknown]
    findings = data["findings"]
    finding_rows = [[f["severity"], f["check"], f["ip"], f["port"], f["vendor"], f["detail"], f["last_seen"],
                     "open" if f["status"] == "open" else f"resolved (scan {f['resolved_in_scan']})"] for f in findings]
    inventory_rows = [
        [_where(d), d["mac"], d["site"], d["vendor"], d["manufacturer"], d["model"], d["firmware"], d["device_type"],
         _badge(d["ndaa_889"]), f"{d['confidence']:.2f}",
         ", ".join(map(service_label, d["services"]))]
        for d in devices
    ]
    sections = [
        f'<section id="summary"><div class="cards">{cards}</div>'
        f'<p class="note">Sites: {_e(", ".join(sites) or "none")}. NDAA s.889 (FY2019 NDAA, Pub. L. 115-232) '
        "covers equipment produced by Huawei, ZTE, Hytera, Hikvision and Dahua and their subsidiaries and affiliates. "
        "camscan attributes each device to the company that made it, so a Hikvision or Dahua device sold under "
        "another brand is counted as covered; the basis column says which evidence and which published "
        "relationship decided it.</p></section>",
        _district(data),
        f'<section id="scope"><h2>Scope and scan parameters</h2>{_scope(data["scans"])}</section>',
        f'<section id="totals"><h2>Totals</h2>{_chart(devices)}<h3>By brand</h3>'
        f'{_totals(devices, "vendor", "brand", "totals-vendor")}<h3>By device type</h3>'
        f'{_totals(devices, "device_type", "type", "totals-type")}<h3>By site</h3>'
        f'{_totals(devices, "site", "site", "totals-site")}</section>',
        f'<section id="recorders"><h2>Cameras per recorder</h2>{_recorders(devices)}</section>',
        f'<section id="covered"><h2>Devices made by NDAA s.889 covered companies ({len(covered)})</h2>'
        + (_table(["ip", "mac", "site", "brand", "maker", "model", "firmware", "type", "basis", "evidence"],
                  covered_rows, "covered-table") if covered else '<p class="note">None found.</p>')
        + "</section>",
        f'<section id="unknown"><h2>Cameras whose maker is unknown ({len(unknown)})</h2>'
        '<p class="note">Nothing these devices answered names a maker; check them by hand.</p>'
        + (_table(["ip", "mac", "site", "type", "open services"], unknown_rows, "unknown-table") if unknown else "")
        + "</section>",
    ]
    on_link = [d for d in devices if d.get("seen_as")]
    if on_link:
        on_link_rows = [
            [d["ip"], d["mac"], d["site"], d["vendor"], d["manufacturer"], d["model"], d["device_type"], d["seen_as"],
             "; ".join(f["detail"] for f in d["findings"] if f["check"] == "misaddressed-device")
             or "an IPv6 node whose addresses the scope does not name"]
            for d in on_link
        ]
        sections.append(f'<section id="on-link"><h2>Devices on scanned links, outside scope ({len(on_link)})</h2>'
                        '<p class="note">Heard on a link wholly in scope, at an address the scope does not hold: '
                        "a camera left on its factory address, or an IPv6 node whose addresses the scope does not name. "
                        "Identified from what they said; camscan sent them nothing.</p>"
                        + _table(["ip", "mac", "site", "brand", "maker", "model", "type", "seen as", "why"],
                                 on_link_rows, "on-link-table") + "</section>")
    if findings:
        still_open = sum(1 for f in findings if f["status"] == "open")
        sections.append(f'<section id="findings"><h2>Findings and exposures ({len(findings)}, {still_open} still open)</h2>'
                        '<p class="note">A finding is resolved once a later complete scan ran its check on the device '
                        "and did not find it again.</p>"
                        + _table(["severity", "check", "ip", "port", "brand", "detail", "last seen", "status"],
                                 finding_rows, "findings-table") + "</section>")
    sections += [
        f'<section id="changes"><h2>Changes since the previous scan</h2>{_changes(data["changes"])}</section>',
        f'<section id="inventory"><h2>Full inventory ({len(devices)})</h2>'
        + _table(["ip", "mac", "site", "brand", "maker", "model", "firmware", "type", "NDAA s.889", "confidence",
                  "services"], inventory_rows, "inventory-table") + "</section>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Camera inventory audit report</title><style>{STYLE}</style></head><body>"
        "<h1>Camera inventory audit report</h1>"
        f'<p class="meta">Generated {_e(data["generated_at"])} by camscan {_e(data["camscan_version"])} '
        f'from <code>{_e(data["database"])}</code>.</p>'
        + "".join(sections)
        + "</body></html>\n"
    )
