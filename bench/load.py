"""Load generators: wrk (from Debian) with a token-rotating Lua script, and a small threaded Python client.

wrk is the load for throughput and latency (a C client leaves the 2 cores to the servers). The Python client
sends exact request counts, which the memory samples need, and stands in when wrk is not installed.
"""

from __future__ import annotations

import http.client
import itertools
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "post_tokens.lua"
HOOK_INSTANCE_MARK = "__BENCH_HOOK_INSTANCE__"


@dataclass(frozen=True)
class BodyTemplate:
    """A request body split around its hookInstance value, so every request gets a fresh one cheaply."""

    prefix: bytes
    suffix: bytes

    @classmethod
    def of(cls, body: dict[str, Any]) -> BodyTemplate:
        """Split json.dumps(body) at hookInstance."""
        text = json.dumps({**body, "hookInstance": HOOK_INSTANCE_MARK}, separators=(",", ":")).encode()
        prefix, _, suffix = text.partition(HOOK_INSTANCE_MARK.encode())
        return cls(prefix=prefix, suffix=suffix)

    def render(self, hook_instance: str) -> bytes:
        """The body with this hookInstance."""
        return self.prefix + hook_instance.encode() + self.suffix


@dataclass(frozen=True)
class LoadResult:
    """What one load run saw; latencies in seconds."""

    requests: int
    seconds: float
    errors: int
    p50: float
    p99: float
    max: float
    error_detail: str = ""
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def wrk_missing() -> str | None:
    """Why wrk cannot run, or None."""
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install -y wrk)"
    return None


def run_wrk(
    url: str,
    template: BodyTemplate,
    tokens: Sequence[str],
    *,
    connections: int,
    threads: int,
    duration: float,
    workdir: Path,
) -> LoadResult:
    """wrk -c connections -t threads -d duration, each request with the next unused token."""
    workdir.mkdir(parents=True, exist_ok=True)
    prefix, suffix, token_file = workdir / "prefix.json", workdir / "suffix.json", workdir / "tokens.txt"
    prefix.write_bytes(template.prefix)
    suffix.write_bytes(template.suffix)
    token_file.write_text("\n".join(tokens) + "\n", encoding="ascii")
    scheme_host, _, path = url.partition("//")[2].partition("/")
    argv = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        f"http://{scheme_host}",
        "--",
        "/" + path,
        str(prefix),
        str(suffix),
        str(token_file),
        str(threads),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith('{"requests"')), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[:300] or done.stdout[-300:]}")
    raw = json.loads(line)
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    detail = []
    if raw["status"]:
        detail.append(f"{raw['status']} non-2xx/3xx")
    if socket_errors:
        detail.append(f"{socket_errors} socket errors")
    if raw["exhausted"]:
        detail.append(f"{raw['exhausted']} requests ran out of minted tokens")
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=raw["status"] + socket_errors,
        p50=raw["p50_us"] / 1e6,
        p99=raw["p99_us"] / 1e6,
        max=raw["max_us"] / 1e6,
        error_detail=", ".join(detail),
    )


def run_python(
    host: str,
    port: int,
    path: str,
    template: BodyTemplate,
    token: Callable[[], str],
    *,
    total: int,
    concurrency: int,
) -> LoadResult:
    """Exactly `total` POSTs over `concurrency` kept-alive connections, fresh token and hookInstance each."""
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures: list[str] = []

    def worker() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            while True:
                with lock:
                    index = next(counter)
                    if index >= total:
                        return
                    bearer = token()
                body = template.render(str(uuid.uuid4()))
                headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
                start = time.perf_counter()
                try:
                    connection.request("POST", path, body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=30)
                    with lock:
                        failures.append(type(exc).__name__)
                    continue
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    bad = sum(n for status, n in statuses.items() if status >= 400) + len(failures)
    detail = ", ".join(
        [f"{n}x HTTP {s}" for s, n in sorted(statuses.items()) if s >= 400]
        + ([f"{len(failures)} connection errors"] if failures else [])
    )

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    return LoadResult(
        requests=len(latencies),
        seconds=seconds,
        errors=bad,
        p50=pct(0.5),
        p99=pct(0.99),
        max=latencies[-1] if latencies else 0.0,
        error_detail=detail,
        statuses=statuses,
    )
