"""District scans on Celery with a Redis broker: the central dispatches signed scan tasks to each
site's queue, a sensor at each site runs them, and publishes its signed portable results to a
durable results queue that ``collect`` stores in the district inventory.

- Tasks are signed by the central's key (Celery's ``auth`` serializer); a sensor accepts
  nothing else (``accept_content = ["auth"]``, its certificate store holding only the
  central's certificate), so an unsigned or foreign task is refused before it runs.
- Authority stays with the sensor: it refuses any target outside its own scope file and any
  option that widens what it does (its own credentials file, default-credential checks,
  public addresses) unless its own configuration allows it. No credential is in a task.
- Late acknowledgement: a task is acknowledged when its scan is done and its result is
  published; a sensor killed mid-scan leaves it unacknowledged and the broker delivers it
  again after the visibility timeout. The dispatcher assigns the scan UUID, so a task
  delivered twice is one scan (the sensor resumes it locally, collect imports it once).
- Results go to a durable queue (not Celery's result backend) as messages signed by the
  sensor's key; ``collect`` acknowledges a message only once it is stored.

Celery: https://docs.celeryq.dev/en/stable/userguide/security.html (message signing),
https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html (visibility timeout),
https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from datetime import datetime, timezone

from camscan import __version__
from camscan.district import DEFAULT_VISIBILITY_TIMEOUT, keys
from camscan.errors import UserError
from camscan.scope import ScopeError, parse_target, read_scope_file

if TYPE_CHECKING:
    from camscan.scanning import Scan

RESULTS_QUEUE = "camscan.results"
SCAN_TASK = "camscan.scan"
SITE_QUEUE_PREFIX = "camscan.site."
DEFAULT_HEARTBEAT_SECONDS = 30.0
# What a task may ask of a sensor; anything else is refused.
SCAN_OPTIONS = {"ports": str, "timeout": float, "rate": float, "checks": list, "discovery": bool, "multicast": bool,
                "snmp": bool, "channels": bool, "exclude": list, "use_credentials": bool, "check_default_credentials": bool, "allow_public": bool}
PR_SET_PDEATHSIG = 1


class DistrictError(UserError):
    """A district command cannot go on; the message says why and what to do."""


def site_queue(site: str) -> str:
    return SITE_QUEUE_PREFIX + site


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Broker:
    """Where the queue is: a redis:// or rediss:// URL (password in it) and, for TLS, the CA to trust."""

    url: str
    ca_file: str | None = None
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT

    def ssl_options(self) -> dict | None:
        if not self.url.startswith("rediss://"):
            return None
        return {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": self.ca_file} if self.ca_file else \
            {"ssl_cert_reqs": ssl.CERT_REQUIRED}

    def transport_options(self) -> dict:
        """kombu's Redis options: the visibility timeout, and a sweep for unacknowledged messages
        that looks often enough to redeliver soon after it (kombu sweeps every 10 x 10 s by default)."""
        return {"visibility_timeout": self.visibility_timeout,
                "unacked_restore_interval": int(max(1, min(10, self.visibility_timeout / 4))),
                "unacked_restore_throttle": 1}

    def connection(self):
        """A kombu connection to the broker (results queue: publish and collect)."""
        from kombu import Connection

        return Connection(self.url, ssl=self.ssl_options() or False, transport_options=self.transport_options())


def celery_app(broker: Broker, key: str, certificate: str, trusted: str):
    """A Celery app whose tasks are signed with ``key``/``certificate`` and which accepts only tasks
    signed by a certificate in ``trusted`` (a file or a glob of PEM files)."""
    from celery import Celery

    app = Celery("camscan", broker=broker.url, set_as_current=False)
    app.conf.update(
        task_serializer="auth", accept_content=["auth"], security_key=key, security_certificate=certificate,
        security_cert_store=trusted, security_digest="sha256",
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1, task_ignore_result=True,
        broker_transport_options=broker.transport_options(),
        broker_connection_retry_on_startup=True, worker_enable_remote_control=False,
        worker_hijack_root_logger=False,
    )
    if broker.ssl_options():
        app.conf.broker_use_ssl = broker.ssl_options()
    app.setup_security()
    return app


# --- dispatching ----------------------------------------------------------------------------


def scan_request(site: str, targets: list[str], options: dict, scan_uuid: str | None = None) -> dict:
    """The body of one scan task: what to scan at a site, under a UUID the dispatcher assigns."""
    return {"scan_uuid": scan_uuid or str(uuid.uuid4()), "site": site, "targets": list(targets),
            "options": dict(options)}


def split_targets(targets: list[str], shards: int) -> list[list[str]]:
    """``targets`` cut into ``shards`` parts of (nearly) equal address counts, each a list of
    address ranges in order: one scan of a large routed range shared by a site's sensors."""
    from netaddr import IPRange

    addresses = parse_target(targets[0], hosts_only=True)
    for target in targets[1:]:
        addresses |= parse_target(target, hosts_only=True)
    per_shard = -(-addresses.size // shards)
    parts: list[list[str]] = [[]]
    room = per_shard
    for span in addresses.iter_ipranges():
        first = span.first
        while first <= span.last:
            if room == 0:
                parts.append([])
                room = per_shard
            last = min(span.last, first + room - 1)
            piece = IPRange(first, last)
            parts[-1].append(str(piece[0]) if first == last else f"{piece[0]}-{piece[-1]}")
            room -= last - first + 1
            first = last + 1
    return parts


def dispatch(app, requests: list[dict]) -> None:
    """Send each request to its site's queue, signed; the task id is the scan UUID."""
    for request in requests:
        app.send_task(SCAN_TASK, args=[request], queue=site_queue(request["site"]), task_id=request["scan_uuid"])


def parse_schedule(text: str):
    """A recurring scan's schedule: whole seconds between runs (``3600``), or a five-field cron
    line (``"30 2 * * 1-5"``: minute, hour, day of month, month, day of week) as Celery's crontab."""
    from celery.schedules import crontab

    fields = text.split()
    if len(fields) == 1 and fields[0].isdigit() and int(fields[0]) > 0:
        return float(fields[0])
    if len(fields) == 5:
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        try:
            return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
                           day_of_week=day_of_week)
        except ValueError as error:
            raise DistrictError(f"schedule {text!r}: {error}") from None
    raise DistrictError(f"schedule {text!r} is neither seconds (e.g. 86400) nor a cron line (e.g. '30 2 * * 1-5')")


def run_beat(app, schedules: list[dict], state_file: str, loglevel: str = "INFO") -> None:
    """Celery beat sending each recurring scan to its site's queue on its schedule, signed.

    A scheduled task carries no scan UUID: each run's task id (a new UUID every time beat
    sends it, kept when the broker delivers it again) is its scan's UUID.
    """
    app.conf.beat_schedule = {
        f"camscan-schedule-{row['id']}": {
            "task": SCAN_TASK, "schedule": parse_schedule(row["schedule"]),
            "args": [{"site": row["site"], "targets": row["targets"], "options": row["options"]}],
            "options": {"queue": site_queue(row["site"])},
        }
        for row in schedules
    }
    app.start(["beat", f"--schedule={state_file}", f"--loglevel={loglevel}", "--max-interval=5"])


# --- the sensor -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SensorConfig:
    """A sensor's own configuration: nothing in a task can change it."""

    name: str
    site: str
    scope_file: str
    db_path: str
    key: str
    certificate: str
    central_certificate: str
    credentials_file: str | None = None
    allow_default_credentials: bool = False
    allow_public: bool = False
    netns: str | None = None
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS


class Refused(Exception):
    """A task the sensor will not run: the reason goes back to the central."""


def check_request(config: SensorConfig, request: dict) -> None:
    """Refuse what the sensor's own configuration does not authorise (raises Refused)."""
    if not isinstance(request, dict) or not isinstance(request.get("targets"), list) or not request["targets"]:
        raise Refused("the task names no targets")
    if request.get("site") != config.site:
        raise Refused(f"the task is for site {request.get('site')!r}, this sensor scans {config.site!r}")
    options = request.get("options")
    if not isinstance(options, dict):
        raise Refused("the task's options are not a mapping")
    for name, value in options.items():
        kind = SCAN_OPTIONS.get(name)
        if kind is None:
            raise Refused(f"unknown option {name!r}")
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise Refused(f"option {name!r} must be {kind.__name__}")
    widening = {
        "use_credentials": (config.credentials_file is not None, "this sensor has no credentials file"),
        "check_default_credentials": (config.allow_default_credentials,
                                      "this sensor does not allow default-credential checks"),
        "allow_public": (config.allow_public, "this sensor does not scan public addresses"),
    }
    for name, (allowed, reason) in widening.items():
        if options.get(name) and not allowed:
            raise Refused(f"{name}: {reason}")
    if not all(isinstance(target, str) for target in request["targets"]):
        raise Refused("targets must be text")
    try:
        asked = parse_target(request["targets"][0])
        for target in request["targets"][1:]:
            asked |= parse_target(target)
        boundary = parse_target(read_scope_file(config.scope_file)[0])
        for spec in read_scope_file(config.scope_file)[1:]:
            boundary |= parse_target(spec)
    except ScopeError as error:
        raise Refused(str(error)) from None
    outside = asked - boundary
    if outside.size:
        blocks = ", ".join(str(cidr) for cidr in list(outside.iter_cidrs())[:5])
        raise Refused(f"{blocks} outside this sensor's scope file; nothing was sent")


def scan_for(config: SensorConfig, request: dict) -> Scan:
    """The scan a checked request asks for, inside this sensor's scope file, under the dispatcher's scan UUID."""
    from camscan.checks import DEFAULT_CHECKS, DEFAULT_CREDENTIALS
    from camscan.credentials import Credentials, load_credentials
    from camscan.fingerprint.vendors import default_catalogue
    from camscan.probes.ports import parse_ports
    from camscan.scanning import Scan

    options = request["options"]
    checks = frozenset(options["checks"]) if "checks" in options else None
    if options.get("check_default_credentials"):
        checks = (DEFAULT_CHECKS if checks is None else checks) | {DEFAULT_CREDENTIALS}
    credentials = Credentials()
    if options.get("use_credentials"):
        assert config.credentials_file is not None, "check_request refuses use_credentials without a file"
        credentials = load_credentials(config.credentials_file, default_catalogue().vendors)
    return Scan(
        list(request["targets"]), db_path=config.db_path, scope_file=config.scope_file, site=config.site,
        scan_uuid=request["scan_uuid"], exclude=[part for spec in options.get("exclude", [])
                                                 for part in str(spec).split(",") if part.strip()],
        allow_public=bool(options.get("allow_public")),
        ports=parse_ports(options["ports"]) if "ports" in options else None, timeout=options.get("timeout"),
        rate=options.get("rate", Scan.rate), checks=checks,
        discovery=False if options.get("discovery") is False else None,
        multicast=False if options.get("multicast") is False else None,
        snmp=False if options.get("snmp") is False else None,
        channels=options.get("channels") is not False, credentials=credentials)


def scan_argv(config: SensorConfig) -> list[str]:
    """The process that runs a task's scan (``camscan.district.scan_task``, the task on its
    standard input), in the sensor's network namespace if it has one."""
    argv = [sys.executable, "-m", "camscan.district.scan_task"]
    return ["ip", "netns", "exec", config.netns, *argv] if config.netns else argv


def _die_with_parent() -> None:
    """In the scan's process: end when the sensor ends (killed mid-scan, its task goes back to the queue)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Sensor:
    """Runs checked scan tasks and publishes signed messages about them to the results queue."""

    def __init__(self, config: SensorConfig, broker: Broker) -> None:
        self.config = config
        self.broker = broker
        self._key = keys.load_private_key(config.key)

    def publish(self, kind: str, scan_uuid: str | None = None, detail: str = "", document: dict | None = None) -> None:
        """A signed message to the durable results queue (retried until the broker takes it)."""
        from kombu import Exchange, Queue

        payload = json.dumps({"kind": kind, "sensor": self.config.name, "site": self.config.site,
                              "scan_uuid": scan_uuid, "version": __version__, "sent_at": _utc_now(),
                              "detail": detail, "document": document}, sort_keys=True).encode()
        envelope = {"sensor": self.config.name, "payload": payload.decode(), "signature": keys.sign(self._key, payload)}
        queue = Queue(RESULTS_QUEUE, Exchange(RESULTS_QUEUE, "direct", durable=True), RESULTS_QUEUE, durable=True)
        with self.broker.connection() as connection:
            producer = connection.Producer()
            publish = connection.ensure(producer, producer.publish, max_retries=None, interval_start=1,
                                        interval_step=1, interval_max=5)
            publish(envelope, exchange=queue.exchange, routing_key=RESULTS_QUEUE, declare=[queue],
                    serializer="json", delivery_mode=2)

    def run(self, request: dict, task_id: str) -> str:
        """Run one task: refuse it, or scan and publish the portable result. Returns what happened."""
        from camscan.portable import build_document, find_scan
        from camscan.store import Store

        scan_uuid = (request.get("scan_uuid") if isinstance(request, dict) else None) or task_id
        try:
            check_request(self.config, request)
            scan_uuid = str(uuid.UUID(str(scan_uuid)))
        except (Refused, ValueError) as error:
            self.publish("refused", str(scan_uuid), str(error))
            return f"refused: {error}"
        request = {**request, "scan_uuid": scan_uuid}
        if os.path.exists(self.config.db_path):
            with Store(self.config.db_path) as store:
                done = find_scan(store, scan_uuid)
                if done is not None and done["status"] == "complete":
                    self.publish("result", scan_uuid, "delivered again", build_document(store, done["id"]))
                    return "published again"
        task = json.dumps({"config": self.config.__dict__, "request": request})
        process = subprocess.run(scan_argv(self.config), input=task, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
        with Store(self.config.db_path) as store:
            scan = find_scan(store, scan_uuid)
            document = build_document(store, scan["id"]) if scan is not None else None
        if process.returncode != 0:
            reason = (process.stderr.strip().splitlines() or ["no message"])[-1]
            self.publish("failed", scan_uuid, f"the scan exited with {process.returncode}: {reason}", document)
            return "failed"
        self.publish("result", scan_uuid, "", document)
        return "complete"

    def heartbeat_forever(self) -> None:
        """Publish a heartbeat every ``heartbeat_seconds`` (a daemon thread; a broker outage only delays it)."""
        while True:
            try:
                self.publish("heartbeat")
            except Exception:  # noqa: BLE001 - the next beat tries again; the worker logs its own broker errors
                pass
            time.sleep(self.config.heartbeat_seconds)


def run_sensor(config: SensorConfig, broker: Broker, loglevel: str = "INFO") -> None:
    """Run the sensor's Celery worker on its site's queue only (one scan at a time), until stopped."""
    sensor = Sensor(config, broker)
    app = celery_app(broker, config.key, config.certificate, config.central_certificate)

    @app.task(name=SCAN_TASK, bind=True)
    def scan(task, request):
        return sensor.run(request, task.request.id)

    threading.Thread(target=sensor.heartbeat_forever, name="camscan-heartbeat", daemon=True).start()
    app.worker_main(["worker", "--pool=solo", "--concurrency=1", f"--queues={site_queue(config.site)}",
                     f"--hostname={config.name}@{socket.gethostname()}", f"--loglevel={loglevel}",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"])


# --- collecting -----------------------------------------------------------------------------


def handle_envelope(store, envelope: object) -> str:
    """Verify and store one message of the results queue; returns what was done (also in the ledger).

    Only a registered sensor's signature, for its own site, is accepted.
    """
    from camscan.district.ledger import Ledger
    from camscan.portable import DocumentError, import_document, parse_document

    ledger = Ledger(store)
    if not isinstance(envelope, dict) or not all(isinstance(envelope.get(k), str)
                                                 for k in ("sensor", "payload", "signature")):
        ledger.event("rejected", "a message that is no signed sensor message")
        return "rejected"
    name = envelope["sensor"]
    sensor = ledger.sensor(name)
    if sensor is None or not keys.verify(sensor["certificate"], envelope["payload"].encode(), envelope["signature"]):
        why = "from an unregistered sensor" if sensor is None else "with a signature that is not the sensor's"
        ledger.event("rejected", f"a message {why}", sensor=name)
        return "rejected"
    message = json.loads(envelope["payload"])
    if not isinstance(message, dict):
        ledger.event("rejected", "a signed message that is not a mapping", sensor=name)
        return "rejected"
    kind, site, scan_uuid = str(message.get("kind") or "unknown"), message.get("site"), message.get("scan_uuid")
    if site != sensor["site"]:
        ledger.event("rejected", f"sensor {name} of site {sensor['site']!r} reported for site {site!r}", sensor=name)
        return "rejected"
    ledger.heard_from(name, message.get("version"), message.get("sent_at") or _utc_now(),
                      scan_uuid if kind in ("result", "failed") else None)
    if kind == "heartbeat":
        return "heartbeat"
    document = message.get("document")
    if document is not None:
        try:
            parsed = parse_document(json.dumps(document))
            if parsed["site"] != site or parsed["scan_uuid"] != scan_uuid:
                raise DocumentError("the result is of another site or scan than its message says")
            summary = import_document(store, parsed, f"sensor {name}")
        except DocumentError as error:
            ledger.event("rejected", str(error), sensor=name, site=site, scan_uuid=scan_uuid)
            return "rejected"
        detail = (f"{summary['scans_added']} scan(s) added, {summary['devices_added']} new device(s), "
                  f"{summary['devices_matched']} matched")
        ledger.event(kind, " ".join(filter(None, [message.get("detail"), detail])), name, site, scan_uuid)
        return kind
    ledger.event(kind, str(message.get("detail") or ""), name, site, scan_uuid)
    return kind


def collect(broker: Broker, db_path: str, until_idle: float | None = None, on_message=None) -> int:
    """Store results from the results queue as they arrive; acknowledge each once stored.

    Reconnects when the broker goes away. With ``until_idle``, returns once nothing but
    heartbeats has come for that many seconds. Returns the number of messages handled.
    """
    from kombu import Exchange, Queue
    from kombu.mixins import ConsumerMixin

    from camscan.store import Store

    queue = Queue(RESULTS_QUEUE, Exchange(RESULTS_QUEUE, "direct", durable=True), RESULTS_QUEUE, durable=True)
    store = Store(db_path)

    class Collector(ConsumerMixin):
        def __init__(self, connection) -> None:
            self.connection = connection
            self.handled = 0
            self.last = time.monotonic()

        def get_consumers(self, consumer_class, channel):
            return [consumer_class(queues=[queue], callbacks=[self.on_message], accept=["json"], prefetch_count=1)]

        def on_message(self, body, message) -> None:
            outcome = handle_envelope(store, body)
            message.ack()
            self.handled += 1
            if outcome != "heartbeat":
                self.last = time.monotonic()
            if on_message:
                on_message(outcome, body)

        def on_iteration(self) -> None:
            if until_idle is not None and time.monotonic() - self.last > until_idle:
                self.should_stop = True

    try:
        with broker.connection() as connection:
            collector = Collector(connection)
            collector.run()
    finally:
        store.close()
    return collector.handled
