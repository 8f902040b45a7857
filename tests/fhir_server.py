"""Start and drive the test-only FHIR R4 search engine in tests/fhirserver (Medplum on Node) from Python."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO
from typing import Any

SERVER_DIR = Path(__file__).resolve().parent / "fhirserver"
INSTALL_HINT = "run .ci/install-node-deps"
FHIR_JSON = "application/fhir+json"
# Medplum 5 asks for Node 22; on Node 20 it runs once the WebSocket global is switched on.
NODE_FLAGS = ("--experimental-websocket",)
READY_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 60.0
# CI sets this to 1 so that a missing Node install fails the run instead of skipping the tests.
REQUIRE_ENV = "BME_TEST_REQUIRE_FHIRSERVER"
STOP_TIMEOUT_S = 5.0

# Loopback only: never route test traffic through a proxy taken from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FhirServerError(RuntimeError):
    """The test FHIR server could not start, or answered a helper call with an error."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def node_available() -> str | None:
    """Return why the test FHIR server cannot run here, or None when node and its packages are present."""
    if shutil.which("node") is None:
        return f"FHIR test server unavailable: 'node' is not on PATH (install Node 20+, then {INSTALL_HINT})"
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return f"FHIR test server unavailable: {SERVER_DIR}/node_modules is missing ({INSTALL_HINT})"
    return None


def fhir_server_required() -> bool:
    """True when the environment demands the FHIR server tests run (missing Node is then a failure)."""
    return os.environ.get(REQUIRE_ENV) == "1"


class FhirTestServer:
    """One Medplum in-memory FHIR server on a free loopback port, owned by the test that started it."""

    def __init__(
        self, *, page_size: int = 0, base_path: str = "", ready_timeout: float = READY_TIMEOUT_S
    ) -> None:
        """Configure (not start) a server; page_size > 0 pages searches without _count like real servers."""
        self._page_size = page_size
        self._base_path = base_path.rstrip("/")
        self._ready_timeout = ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The loopback port the server listens on."""
        if self._port is None:
            raise FhirServerError("FHIR test server is not started")
        return self._port

    @property
    def pid(self) -> int | None:
        """The node process id while started, else None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def base_url(self) -> str:
        """The FHIR base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}{self._base_path}"

    @property
    def admin_url(self) -> str:
        """The root of the test-control endpoints (/__admin)."""
        return f"http://127.0.0.1:{self.port}/__admin"

    def start(self, delay_ms: int = 0) -> FhirTestServer:
        """Spawn node on a free port and wait for its ready line; raise FhirServerError if it cannot run."""
        if self._proc is not None:
            raise FhirServerError("FHIR test server already started")
        reason = node_available()
        if reason is not None:
            raise FhirServerError(reason)
        args = ["--port", "0", "--delay-ms", str(delay_ms), "--page-size", str(self._page_size)]
        if self._base_path:
            args += ["--base-path", self._base_path]
        # stderr goes to a file: an unread pipe would block node once full; we show it when start fails.
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [str(shutil.which("node")), *NODE_FLAGS, "server.js", *args],
            cwd=SERVER_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            # Own process group, so stop() can end node and anything it spawned in one signal.
            start_new_session=True,
        )
        try:
            self._port = _read_ready_port(self._proc, self._ready_timeout)
        except FhirServerError as err:
            _terminate(self._proc)
            self._stderr.seek(0)
            stderr = self._stderr.read().decode("utf-8", "replace").strip()[-2000:]
            self.stop()
            raise FhirServerError(f"{err}; node stderr:\n{stderr}" if stderr else str(err)) from None
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the server's process group and reap it (no zombies); safe to call twice."""
        if self._proc is not None:
            _terminate(self._proc)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
        self._proc = None
        self._stderr = None
        self._port = None

    def __enter__(self) -> FhirTestServer:
        """Start the server if needed and return it."""
        return self if self._proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def _call(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Any:
        """Send one HTTP request and return its JSON body; raise FhirServerError on an error status."""
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with _OPENER.open(request, timeout=HTTP_TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            raise FhirServerError(f"{method} {url} -> {err.code}: {text[:1000]}", status=err.code) from None

    def get(self, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """GET a FHIR path relative to the base (e.g. 'Condition?patient=1') and return the JSON body."""
        result: dict[str, Any] = self._call("GET", f"{self.base_url}/{path.lstrip('/')}", None, headers or {})
        return result

    def load(self, bundle: dict[str, Any]) -> dict[str, str]:
        """Post a transaction Bundle; return each entry's fullUrl (urn:uuid:...) -> 'Type/id' as stored."""
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise ValueError("load() takes a FHIR transaction Bundle")
        body = json.dumps(bundle).encode()
        response = self._call("POST", f"{self.base_url}/", body, {"Content-Type": FHIR_JSON})
        locations: dict[str, str] = {}
        # A transaction-response lists one entry per request entry, in the same order.
        for sent, got in zip(bundle.get("entry", []), response.get("entry", []), strict=True):
            location = got.get("response", {}).get("location", "")
            if "fullUrl" in sent and location:
                locations[sent["fullUrl"]] = "/".join(location.split("/")[:2])
        return locations

    def requests(self) -> list[dict[str, Any]]:
        """FHIR requests since start or reset: method, path (with query), authorization, contentType."""
        result: list[dict[str, Any]] = self._call("GET", f"{self.admin_url}/requests", None, {})
        return result

    def reset(self) -> None:
        """Forget the recorded requests (stored resources stay)."""
        self._call("POST", f"{self.admin_url}/reset", b"", {})

    def clear(self) -> None:
        """Delete every stored resource (recorded requests stay)."""
        self._call("POST", f"{self.admin_url}/clear", b"", {})

    def set_delay(self, ms: int) -> None:
        """Delay every later FHIR response by ms milliseconds."""
        body = json.dumps({"ms": ms}).encode()
        self._call("POST", f"{self.admin_url}/delay", body, {"Content-Type": "application/json"})


def _read_ready_port(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Read the one JSON ready line ({"port": N}) from node's stdout within timeout seconds."""
    stdout = proc.stdout
    if stdout is None:
        raise FhirServerError("FHIR test server was started without a stdout pipe")
    lines: queue.Queue[bytes] = queue.Queue()
    # readline() cannot time out by itself; the daemon thread ends at EOF once the process is gone.
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise FhirServerError(f"FHIR test server gave no ready line within {timeout} s") from None
    try:
        return int(json.loads(line)["port"])
    except (ValueError, KeyError, TypeError):
        raise FhirServerError(f"FHIR test server did not start (stdout: {line[:200]!r})") from None


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers, and reap the process."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.wait()
