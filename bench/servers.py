"""Processes the harness starts: the service under `bme-cds serve`, the floor app, the delayed FHIR server.

Every process is started by the harness, in its own process group, and stopped by its own pid at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from types import TracebackType
from typing import IO
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.data import REPO

ISSUER = "https://bench.bme-cds.test"
# CDS Hooks 2.0 recommends ES384 and RS384. The sandbox signs ES384; Epic signs RS384 by default
# (docs/integration-epic.md). ES384 verification costs about ten times RS384's, so the harness measures both.
ALGORITHMS = ("ES384", "RS384")
ALG = "ES384"


def free_port() -> int:
    """A free loopback port (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Signer:
    """A key pair for one CDS client (ES384 P-384 or RS384 RSA-2048): mints a fresh JWT (unique jti) per call."""

    def __init__(self, alg: str = ALG) -> None:
        if alg not in ALGORITHMS:
            raise ValueError(f"alg must be one of {ALGORITHMS}")
        self.alg = alg
        self.issuer = ISSUER if alg == ALG else f"{ISSUER}/{alg.lower()}"
        self.kid = f"bench-{alg.lower()}"
        self._key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            ec.generate_private_key(ec.SECP384R1())
            if alg == "ES384"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK with kid/alg/use."""
        public = self._key.public_key()
        text = (
            jwt.algorithms.ECAlgorithm.to_jwk(public)
            if isinstance(public, ec.EllipticCurvePublicKey)
            else jwt.algorithms.RSAAlgorithm.to_jwk(public)
        )
        jwk: dict[str, Any] = json.loads(text)
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return jwk

    def mint(self, audience: str) -> str:
        """A CDS Hooks 2.0 client JWT for this audience (the exact URL called), valid for five minutes."""
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": audience, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self._key, algorithm=self.alg, headers={"kid": self.kid, "typ": "JWT"})

    def client_entry(self, fhir_servers: Sequence[str]) -> dict[str, Any]:
        """This client's entry in a BME_TRUSTED_CLIENTS file (inline JWK Set, the FHIR servers it names)."""
        client: dict[str, Any] = {
            "issuer": self.issuer,
            "jwks": {"keys": [self.public_jwk()]},
            "comment": f"benchmark client ({self.alg}), generated per run",
        }
        if fhir_servers:
            client["fhir_servers"] = list(fhir_servers)
        return client

    def trusted_clients_file(
        self, path: Path, fhir_servers: Sequence[str], also: Sequence[Signer] = ()
    ) -> Path:
        """The BME_TRUSTED_CLIENTS file trusting this key and those of `also`."""
        clients = [signer.client_entry(fhir_servers) for signer in (self, *also)]
        path.write_text(json.dumps({"clients": clients}, indent=2), encoding="utf-8")
        return path


@dataclass
class Process:
    """A child process the harness started; stopped by pid (its own process group) on exit."""

    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    ready_url: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    stdout_line: str = ""
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 30.0, read_line: bool = False) -> Process:
        """Start it and wait until ready_url answers 200 (or its first stdout line when read_line)."""
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            list(self.argv),
            cwd=REPO,
            env=dict(self.env),
            stdout=subprocess.PIPE if read_line else self._log,
            stderr=self._log,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        if read_line:
            stdout = self.proc.stdout
            self.stdout_line = stdout.readline().decode().strip() if stdout is not None else ""
            if not self.stdout_line:
                self.stop()
                raise RuntimeError(f"{self.argv[2]} printed nothing; see {self.log_path}")
        while self.ready_url is not None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{' '.join(self.argv[:4])} exited with {self.proc.returncode}: {self.last_error()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.ready_url} not ready after {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.1)
        return self

    def last_error(self) -> str:
        """The last line of the log that is not a gunicorn status line (the exception, usually)."""
        if self._log is not None:
            self._log.flush()
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "no log"
        useful = [line.strip() for line in lines if line.strip() and not line.startswith("[")]
        return useful[-1][:300] if useful else f"see {self.log_path}"

    @property
    def pid(self) -> int:
        """The pid of the started process (the gunicorn master for servers)."""
        if self.proc is None:
            raise RuntimeError("not started")
        return self.proc.pid

    def children(self) -> list[int]:
        """Pids of the direct children (gunicorn workers)."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text(encoding="utf-8")
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def stop(self) -> None:
        """SIGTERM our process group (gunicorn stops its workers), SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Process:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time of these processes so far (fields 14 and 15 of /proc/<pid>/stat)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def vm_rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (VmRSS in /proc/<pid>/status), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def service_process(port: int, data_dir: Path, trusted_clients: Path, log_path: Path) -> Process:
    """`bme-cds serve` (python -m service.cli serve) with its defaults, authentication on."""
    env = {
        **os.environ,
        "BME_AUTH": "on",
        "BME_TRUSTED_CLIENTS": str(trusted_clients),
        "BME_DATA_DIR": str(data_dir),
        "BME_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": str(REPO),
    }
    argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return Process(argv=argv, env=env, log_path=log_path, ready_url=f"http://127.0.0.1:{port}/healthz")


def floor_process(port: int, log_path: Path) -> Process:
    """The echo floor under the same gunicorn settings."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "bench.floor_app", "--host", "127.0.0.1", "--port", str(port)]
    return Process(argv=argv, env=env, log_path=log_path, ready_url=f"http://127.0.0.1:{port}/healthz")


def fhir_delay_process(delay_ms: float, log_path: Path) -> Process:
    """The fixed-delay FHIR server; its port is in `stdout_line` after start(read_line=True)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "bench.fhir_delay", "--port", "0", "--delay-ms", str(delay_ms)]
    return Process(argv=argv, env=env, log_path=log_path)
