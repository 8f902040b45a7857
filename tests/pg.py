"""A throwaway PostgreSQL cluster for tests, when the machine has PostgreSQL's server binaries."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TempPostgres:
    """initdb + postgres on a free loopback port; PostgreSQL refuses to run as root, so root drops to 'nobody'."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bme-pg-"))
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def _as_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "nobody", "--", *argv]
        return argv

    def start(self) -> str:
        """Start the cluster and return a SQLAlchemy URL for it."""
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody")
        subprocess.run(
            self._as_user(["initdb", "-D", str(data), "-U", "bme", "--auth=trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.proc = subprocess.Popen(
            self._as_user(
                [
                    "postgres",
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(self.dir),
                    "-c",
                    "fsync=off",
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    time.sleep(0.3)  # the port opens a moment before connections are accepted
                    return f"postgresql+psycopg://bme@127.0.0.1:{self.port}/postgres"
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("temporary PostgreSQL did not start within 30 s")

    def stop(self) -> None:
        """Stop the server and delete its files."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def postgres_unavailable() -> str | None:
    """Why no temporary PostgreSQL can be started here, or None."""
    for binary in ("initdb", "postgres"):
        if shutil.which(binary) is None:
            return f"PostgreSQL server binary {binary!r} not on PATH; set BME_TEST_POSTGRES_URL to test against one"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot start PostgreSQL"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]')"
    return None
