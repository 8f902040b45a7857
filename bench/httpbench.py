"""Parts 2-4 over HTTP: throughput and latency vs the echo floor, missing prefetch, worker memory.

The service runs as `bme-cds serve` runs it (`python -m service.cli serve`: gunicorn, gthread workers,
default worker count, authentication on) with a trusted-clients file for two benchmark clients whose keys
the harness holds, one signing ES384 (as the sandbox does) and one RS384 (Epic's default); every request
carries a freshly minted JWT with a unique jti.
"""

from __future__ import annotations

import http.client
import itertools
import json
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.data import SERVICE_ID
from bench.data import count_resources
from bench.data import real_patient_request
from bench.data import request_body
from bench.load import BodyTemplate
from bench.load import LoadResult
from bench.load import run_python
from bench.load import run_wrk
from bench.load import wrk_missing
from bench.report import INFO
from bench.report import Row
from bench.report import median
from bench.report import ms
from bench.report import not_run
from bench.report import verdict
from bench.servers import ALG
from bench.servers import ALGORITHMS
from bench.servers import Process
from bench.servers import Signer
from bench.servers import cpu_seconds
from bench.servers import floor_process
from bench.servers import free_port
from bench.servers import service_process
from bench.servers import vm_rss_mb

PART2 = "2 HTTP"
PART3 = "3 missing prefetch"
PART4 = "4 memory"
PATH = f"/cds-services/{SERVICE_ID}"
MIN_RPS_RATIO = 0.5
MAX_P99 = 0.050
MAX_FETCH = 0.200
MAX_RSS_MB = 150.0
MAX_GROWTH_MB = 5.0
MISSING_KEYS = ("conditions", "observations", "reports", "medications")


@dataclass(frozen=True)
class HttpConfig:
    """Sizes of the HTTP parts (full or --quick)."""

    connections: int
    threads: int
    warmup: float
    duration: float
    rounds: int
    fetch_requests: int
    memory_marks: tuple[int, ...]
    memory_concurrency: int


def post(port: int, path: str, body: bytes, token: str | None) -> tuple[int, bytes, float]:
    """One POST; (status, body, seconds)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        start = time.perf_counter()
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - start
    finally:
        connection.close()


class ServiceUnderTest:
    """The running service and what it takes to call it."""

    def __init__(self, process: Process, port: int, signers: Sequence[Signer]) -> None:
        self.process = process
        self.port = port
        self.signers = {signer.alg: signer for signer in signers}
        self.audience = f"http://127.0.0.1:{port}{PATH}"

    def token(self, alg: str = ALG) -> str:
        """A fresh JWT for the service endpoint, signed with `alg`."""
        return self.signers[alg].mint(self.audience)

    def call(self, body: dict[str, Any], token: str | None = "fresh") -> tuple[int, bytes, float]:
        """POST a request body; token "fresh" mints one, None sends none."""
        bearer = self.token() if token == "fresh" else token
        return post(self.port, PATH, json.dumps(body).encode(), bearer)


def start_service(
    workdir: Path, signer: Signer, fhir_servers: list[str], name: str, also: Sequence[Signer] = ()
) -> ServiceUnderTest:
    """Start `bme-cds serve` (auth on) on a free port with its own database, trusting `signer` and `also`."""
    port = free_port()
    data_dir = workdir / f"{name}-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    clients = signer.trusted_clients_file(workdir / f"{name}-trusted-clients.json", fhir_servers, also)
    process = service_process(port, data_dir, clients, workdir / f"{name}.log").start()
    return ServiceUnderTest(process, port, [signer, *also])


def check_auth(service: ServiceUnderTest, body: dict[str, Any]) -> tuple[Row, str | None]:
    """Authentication really is on: no token 401, a fresh token 200, the same token again 401.

    Returns the row and, when the service cannot answer a valid call, why (the load runs are skipped then).
    """
    no_token, _, _ = service.call(body, token=None)
    seen: list[str] = []
    enforced = no_token == 401
    for alg in service.signers:
        token = service.token(alg)
        first, data, _ = service.call(body, token=token)
        replay, _, _ = service.call(body, token=token)
        if first != 200:
            why = f"a valid {alg} call got HTTP {first}: {data[:300].decode(errors='replace')}"
            return not_run(PART2, "authentication", why), why
        cards = len(json.loads(data).get("cards", []))
        enforced = enforced and replay == 401
        seen.append(f"fresh {alg} JWT -> {first} ({cards} cards), same jti again -> {replay}")
    note = f"no token -> {no_token}; " + "; ".join(seen)
    if not enforced:
        note += (
            "; authentication is NOT enforced (service/web/app.py builds no Authenticator?): numbers below are "
            "without JWT verification"
        )
    return Row(
        part=PART2,
        measure="authentication on",
        subject="enforced" if enforced else "NOT enforced",
        target="401 without/replayed token",
        verdict=verdict(enforced),
        note=note,
    ), None


def _tokens(service: ServiceUnderTest, count: int, alg: str = ALG) -> list[str]:
    return [service.token(alg) for _ in range(count)]


def throughput(
    service: ServiceUnderTest,
    floor: Process,
    floor_port: int,
    body: dict[str, Any],
    cfg: HttpConfig,
    workdir: Path,
) -> list[Row]:
    """wrk against the service (once per JWT algorithm) and the floor, in rotating rounds; ratios, latency, errors."""
    missing = wrk_missing()
    if missing:
        return [not_run(PART2, "requests/s vs echo floor", missing)]
    template = BodyTemplate.of(body)
    size = f"{count_resources(body)} resources, {len(template.prefix + template.suffix) / 1e3:.0f} kB"
    algs = list(service.signers)

    def load(port: int, tokens: list[str], seconds: float, tag: str) -> LoadResult:
        return run_wrk(
            f"http://127.0.0.1:{port}{PATH}",
            template,
            tokens,
            connections=cfg.connections,
            threads=cfg.threads,
            duration=seconds,
            workdir=workdir / f"wrk-{tag}",
        )

    # Warm-up (every worker of both servers warms its caches) and a rate estimate for token minting.
    rate = 400.0  # requests/s assumed when there is no warm-up (--quick): tokens are cheap (~0.2 ms each)
    if cfg.warmup > 0:
        for alg in algs:
            rate = max(load(service.port, _tokens(service, 3000, alg), cfg.warmup, f"warm-{alg}").rps, 20.0, rate)
        load(floor_port, _tokens(service, 200), cfg.warmup, "warm-floor")
    # Rounds after the warm-up run faster than it; running out of tokens would turn into 401s (errors).
    per_round = int(max(rate * 2.5, 250.0) * cfg.duration) + 4 * cfg.connections + 100
    results: dict[str, list[LoadResult]] = {tag: [] for tag in [*algs, "floor"]}
    # CPU seconds the servers' workers spent, by subject: unlike requests/s it does not depend on how much of the
    # two cores wrk and the machine's other tenants took during the round.
    cpu = dict.fromkeys(results, 0.0)
    service_workers, floor_workers = service.process.children(), floor.children()
    for i in range(cfg.rounds):
        tokens = {alg: _tokens(service, per_round, alg) for alg in algs}  # fresh: they expire after five minutes
        # The floor does not verify tokens; it gets same-sized ones, reused, so its headers match.
        floor_tokens = list(itertools.islice(itertools.cycle(tokens[ALG]), per_round * 4))
        order = [(alg, service.port, tokens[alg], service_workers) for alg in algs]
        order.append(("floor", floor_port, floor_tokens, floor_workers))
        shift = i % len(order)  # rotate, so no subject always runs right after the same one
        for tag, port, toks, workers in order[shift:] + order[:shift]:
            before = cpu_seconds(workers)
            results[tag].append(load(port, toks, cfg.duration, f"{tag}-{i}"))
            cpu[tag] += cpu_seconds(workers) - before
    load_desc = f"wrk -t{cfg.threads} -c{cfg.connections}, {cfg.rounds}x{cfg.duration:g} s rotating, {size}"
    rows: list[Row] = []
    for alg in algs:
        rows += _subject_rows(f"{alg} JWTs", results[alg], results["floor"], cpu[alg], cpu["floor"], cfg, load_desc)
    return rows


def _subject_rows(
    label: str,
    services: list[LoadResult],
    floors: list[LoadResult],
    service_cpu: float,
    floor_cpu: float,
    cfg: HttpConfig,
    load_desc: str,
) -> list[Row]:
    """The rows of one subject (the service called with one JWT algorithm) against the floor."""

    def total_rps(results: list[LoadResult]) -> float:
        return sum(r.requests for r in results) / sum(r.seconds for r in results)

    s_rps, f_rps = total_rps(services), total_rps(floors)
    s_p50, f_p50 = median([r.p50 for r in services]), median([r.p50 for r in floors])
    s_p99, f_p99 = max(r.p99 for r in services), max(r.p99 for r in floors)
    s_err, f_err = sum(r.errors for r in services), sum(r.errors for r in floors)
    s_req, f_req = sum(r.requests for r in services), sum(r.requests for r in floors)
    s_cpu, f_cpu = service_cpu / max(s_req, 1), floor_cpu / max(f_req, 1)
    detail = "; ".join(r.error_detail for r in services if r.error_detail)
    return [
        Row(
            part=PART2,
            measure=f"requests/s vs echo floor, {label}",
            subject=f"{s_rps:.0f}/s",
            floor=f"{f_rps:.0f}/s",
            ratio=f"{s_rps / f_rps:.2f}",
            target=f">= {MIN_RPS_RATIO:g}",
            verdict=verdict(s_rps / f_rps >= MIN_RPS_RATIO),
            note=load_desc,
        ),
        Row(
            part=PART2,
            measure=f"p50 latency at {cfg.connections} connections, {label}",
            subject=ms(s_p50),
            floor=ms(f_p50),
            ratio=f"{s_p50 / f_p50:.2f}x",
            verdict=INFO,
            note="median of the rounds' p50",
        ),
        Row(
            part=PART2,
            measure=f"p99 latency at {cfg.connections} connections, {label}",
            subject=ms(s_p99),
            floor=ms(f_p99),
            ratio=f"{s_p99 / f_p99:.2f}x",
            target=f"< {ms(MAX_P99)}",
            verdict=verdict(s_p99 < MAX_P99),
            note="worst round",
        ),
        Row(
            part=PART2,
            measure=f"worker CPU per request, {label}",
            subject=ms(s_cpu),
            floor=ms(f_cpu),
            ratio=f"{f_cpu / max(s_cpu, 1e-9):.2f}",
            verdict=INFO,
            note="utime+stime of all gunicorn workers (/proc/<pid>/stat) per request; ratio = floor/service, the "
            "requests/s ratio the service would reach if both had the cores to themselves",
        ),
        Row(
            part=PART2,
            measure=f"errors, {label}",
            subject=f"{s_err} of {s_req:,}",
            floor=f"{f_err} of {f_req:,}",
            target="0",
            verdict=verdict(s_err == 0),
            note=detail,
        ),
    ]


def fetch_over_http(service: ServiceUnderTest, fhir_url: str, fhir_floor: float, n: int) -> Row:
    """Part 3 end to end: four keys missing, each search delayed; the whole HTTP answer."""
    full = real_patient_request(datetime.now(UTC))
    prefetch = {k: v for k, v in full["prefetch"].items() if k not in MISSING_KEYS}
    times: list[float] = []
    statuses: set[int] = set()
    for _ in range(n):
        body = request_body(
            prefetch,
            full["context"]["patientId"],
            fhirServer=fhir_url,
            fhirAuthorization={
                "access_token": "bench-fhir-token",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "bench",
            },
        )
        status, _, seconds = service.call(body)
        statuses.add(status)
        times.append(seconds)
    if statuses != {200}:
        return not_run(PART3, "4 keys missing, over HTTP", f"service answered HTTP {sorted(statuses)}")
    mid = median(times)
    return Row(
        part=PART3,
        measure="4 keys missing, over HTTP (auth on)",
        subject=f"{ms(mid)} (max {ms(max(times))})",
        floor=ms(fhir_floor) + " (one search)",
        ratio=f"{mid / fhir_floor:.2f}x",
        target=f"< {ms(MAX_FETCH)}",
        verdict=verdict(mid < MAX_FETCH),
        note=f"median of {n} calls; FHIR server: bench/fhir_delay.py",
    )


def memory(workdir: Path, signer: Signer, body: dict[str, Any], cfg: HttpConfig) -> list[Row]:
    """Worker RSS after 1k, 5k, 10k requests (fresh service; the Python client sends exact counts)."""
    service = start_service(workdir, signer, [], "memory")
    try:
        template = BodyTemplate.of(body)
        status, data, _ = service.call(body)
        if status != 200:
            return [not_run(PART4, "worker RSS", f"service answered HTTP {status}: {data[:200]!r}")]
        workers = service.process.children()
        samples: dict[int, dict[int, float | None]] = {pid: {} for pid in workers}
        errors = 0
        sent = 0
        for mark in cfg.memory_marks:
            result = run_python(
                "127.0.0.1",
                service.port,
                PATH,
                template,
                service.token,
                total=mark - sent,
                concurrency=cfg.memory_concurrency,
            )
            errors += result.errors
            sent = mark
            for pid in workers:
                samples[pid][mark] = vm_rss_mb(pid)
        rows = []
        for number, pid in enumerate(workers, 1):
            sampled = [samples[pid].get(mark) for mark in cfg.memory_marks]
            if any(value is None for value in sampled):
                rows.append(not_run(PART4, f"worker {number} RSS", "the worker died or was replaced during the run"))
                continue
            values = [float(value or 0.0) for value in sampled]
            growth = values[-1] - values[0]
            ok = max(values) < MAX_RSS_MB and growth <= MAX_GROWTH_MB
            marks = "/".join(f"{m:,}" for m in cfg.memory_marks)
            rows.append(
                Row(
                    part=PART4,
                    measure=f"worker {number} RSS after {marks} requests",
                    subject=" / ".join(f"{v:.1f}" for v in values) + " MB",
                    ratio=f"{growth:+.1f} MB",
                    target=f"< {MAX_RSS_MB:g} MB, growth <= {MAX_GROWTH_MB:g} MB",
                    verdict=verdict(ok),
                    note=f"VmRSS; requests counted over all {len(workers)} workers; {errors} errors",
                )
            )
        return rows
    finally:
        service.process.stop()


def run(
    workdir: Path,
    cfg: HttpConfig,
    fhir_url: str | None,
    fhir_floor: float | None,
    log: Callable[[str], None],
    parts: Sequence[str] = ("http", "memory"),
) -> list[Row]:
    """Parts 2, 3 (over HTTP) and 4."""
    signer = Signer()
    body = real_patient_request(datetime.now(UTC))
    rows: list[Row] = []
    if "http" in parts:
        others = [Signer(alg) for alg in ALGORITHMS if alg != signer.alg]
        rows.extend(_service_and_floor(workdir, cfg, signer, others, body, fhir_url, fhir_floor, log))
    if "memory" in parts and not any(r.part == PART2 and r.note.startswith(BROKEN) for r in rows):
        log("part 4: worker memory")
        try:
            rows.extend(memory(workdir, signer, body, cfg))
        except RuntimeError as exc:
            rows.append(not_run(PART4, "worker RSS", f"bme-cds serve did not start: {exc}"))
    return rows


BROKEN = "cannot run: "


def _service_and_floor(
    workdir: Path,
    cfg: HttpConfig,
    signer: Signer,
    others: Sequence[Signer],
    body: dict[str, Any],
    fhir_url: str | None,
    fhir_floor: float | None,
    log: Callable[[str], None],
) -> list[Row]:
    try:
        service = start_service(workdir, signer, [fhir_url] if fhir_url else [], "service", others)
    except RuntimeError as exc:
        why = f"{BROKEN}bme-cds serve did not start: {exc}"
        return [not_run(PART2, "requests/s vs echo floor", why), not_run(PART4, "worker RSS", why)]
    rows: list[Row] = []
    try:
        auth_row, broken = check_auth(service, body)
        rows.append(auth_row)
        if broken:
            why = BROKEN + broken
            return rows + [not_run(PART2, "requests/s vs echo floor", why), not_run(PART4, "worker RSS", why)]
        if fhir_url is not None and fhir_floor is not None:
            log("part 3: missing prefetch over HTTP")
            rows.append(fetch_over_http(service, fhir_url, fhir_floor, cfg.fetch_requests))
        log("part 2: wrk against the service and the echo floor")
        floor_port = free_port()
        with floor_process(floor_port, workdir / "floor.log").start() as floor:
            rows.extend(throughput(service, floor, floor_port, body, cfg, workdir))
    finally:
        service.process.stop()
    return rows
