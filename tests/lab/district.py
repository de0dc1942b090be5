"""The district tests' real parts: a password-protected redis-server (AOF, 127.0.0.1 only, a free
port; optionally TLS only), keys, sensors as `camscan sensor` subprocesses, and the CLI."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

PASSWORD = "district-test-password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tls_files(directory: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "district test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False).sign(ca_key, hashes.SHA256()))
    files = {"ca": directory / "ca.pem", "cert": directory / "redis.pem", "key": directory / "redis.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return files


class Redis:
    """redis-server on 127.0.0.1 with a password and AOF (every write fsynced), in ``directory``."""

    def __init__(self, directory: Path, tls: bool = False) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed (scripts/setup.sh installs it)")
        self.directory = directory
        self.port = free_port()
        self.tls = _tls_files(directory) if tls else None
        self.process: subprocess.Popen | None = None
        scheme = "rediss" if tls else "redis"
        self.url = f"{scheme}://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        argv = ["redis-server", "--bind", "127.0.0.1", "--protected-mode", "yes", "--requirepass", PASSWORD,
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", str(self.directory),
                "--daemonize", "no", "--logfile", str(self.directory / "redis.log")]
        if self.tls:
            argv += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls["cert"]),
                     "--tls-key-file", str(self.tls["key"]), "--tls-ca-cert-file", str(self.tls["ca"]),
                     "--tls-auth-clients", "no"]
        else:
            argv += ["--port", str(self.port)]
        return argv

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen: {(self.directory / 'redis.log').read_text()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def restart(self, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


def camscan(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "camscan", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


class District:
    """The central's keys and database, and sensors started as subprocesses (all stopped at the end)."""

    def __init__(self, directory: Path, redis: Redis) -> None:
        self.directory = directory
        self.redis = redis
        self.db = directory / "district.db"
        self.sensors: dict[str, subprocess.Popen] = {}
        self.env = {"CAMSCAN_BROKER": redis.url}
        self.broker_args = ["--broker-ca", str(redis.tls["ca"])] if redis.tls else []
        assert camscan("keygen", "central", "--dir", str(directory / "keys")).returncode == 0
        self.central = ["--key", str(directory / "keys" / "central.key"),
                        "--cert", str(directory / "keys" / "central.pem")]

    def add_sensor(self, name: str, site: str, scope: list[str], netns: str | None = None,
                   visibility_timeout: float = 30.0, extra: tuple[str, ...] = ()) -> Path:
        """Register a sensor and start it; returns its own database's path."""
        keys = self.directory / "keys"
        if not (keys / f"{name}.key").exists():
            assert camscan("keygen", name, "--dir", str(keys)).returncode == 0
            registered = camscan("sensors", "register", name, str(keys / f"{name}.pem"), "--site", site,
                                 "--db", str(self.db))
            assert registered.returncode == 0, registered.stderr
        scope_file = self.directory / f"{name}-scope.txt"
        scope_file.write_text("\n".join(scope) + "\n")
        db = self.directory / f"{name}.db"
        argv = [sys.executable, "-m", "camscan", "sensor", "--site", site, "--scope", str(scope_file),
                "--key", str(keys / f"{name}.key"), "--cert", str(keys / f"{name}.pem"),
                "--central-cert", str(keys / "central.pem"), "--db", str(db), "--heartbeat", "1",
                "--visibility-timeout", str(visibility_timeout), *self.broker_args, *extra]
        if netns:
            argv += ["--netns", netns]
        log = (self.directory / f"{name}.log").open("a")
        self.sensors[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                              env={**os.environ, **self.env}, start_new_session=True)
        return db

    def kill_sensor(self, name: str) -> None:
        """SIGKILL the sensor and the scan it runs (its own process group)."""
        os.killpg(self.sensors[name].pid, signal.SIGKILL)
        self.sensors[name].wait()

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text()

    def dispatch(self, *args: str) -> list[dict]:
        result = camscan("dispatch", *self.central, *self.broker_args, "--db", str(self.db), "--json", *args,
                         env=self.env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def collect(self, until_idle: float) -> subprocess.CompletedProcess:
        result = camscan("collect", "--db", str(self.db), "--until-idle", str(until_idle), *self.broker_args,
                         env=self.env, timeout=300)
        assert result.returncode == 0, result.stderr
        return result

    def collect_until(self, done, idle: float = 3.0, limit: float = 120.0) -> None:
        """Collect until ``done()`` is true (each round stops after ``idle`` s without a result)."""
        deadline = time.monotonic() + limit
        while not done():
            assert time.monotonic() < deadline, self.summary()
            self.collect(idle)

    def state(self) -> dict:
        return json.loads(camscan("sensors", "--db", str(self.db), "--json").stdout)

    def inventory(self) -> list[dict]:
        return json.loads(camscan("devices", "--db", str(self.db), "--json").stdout)

    def scans(self) -> list[dict]:
        return json.loads(camscan("scans", "--db", str(self.db), "--json").stdout)

    def summary(self) -> str:
        return json.dumps({"state": self.state(), "logs": {name: self.log(name)[-3000:] for name in self.sensors}},
                          indent=1)

    def stop(self) -> None:
        for process in self.sensors.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
