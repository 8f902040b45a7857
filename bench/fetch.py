"""Part 3 in process: four prefetch keys missing, fetched from a FHIR server that takes 100 ms per search."""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from bench.data import BENCH_NOW
from bench.data import SERVICE_ID
from bench.data import real_patient_request
from bench.data import request_body
from bench.httpbench import MAX_FETCH
from bench.httpbench import MISSING_KEYS
from bench.httpbench import PART3
from bench.report import Row
from bench.report import median
from bench.report import ms
from bench.report import not_run
from bench.report import verdict


def one_search_floor(session: requests.Session, fhir_url: str) -> float:
    """One search on the delayed server over a kept-alive connection: the least any fetch can take."""
    start = time.perf_counter()
    response = session.get(f"{fhir_url}/Condition?patient=bench", timeout=5)
    response.json()
    return time.perf_counter() - start


def run(fhir_url: str, delay_ms: float, n: int, data_dir: Path) -> tuple[list[Row], float | None]:
    """The row for the in-process pipeline with a real FhirPool, and the measured one-search floor."""
    session = requests.Session()
    session.trust_env = False
    try:
        from service.cds.pipeline import evaluate
        from service.compose import build_deps
        from service.config import load_settings
        from service.fhir import access
        from service.fhir.prefetch import FhirPool

        settings = load_settings({}, data_dir=data_dir)
        # The pool and Deps exactly as service/web/app.py::create_app builds them.
        pool = FhirPool.from_settings(settings)
        deps = build_deps(settings, pool=pool)
    except Exception as exc:  # a core module has not landed: say so rather than fake a number
        floor = median([one_search_floor(session, fhir_url) for _ in range(max(3, n))])
        return [
            not_run(PART3, "4 keys missing, in process", f"pipeline unavailable: {type(exc).__name__}: {exc}")
        ], floor
    full = real_patient_request(BENCH_NOW)
    prefetch = {k: v for k, v in full["prefetch"].items() if k not in MISSING_KEYS}
    auth = {
        "access_token": "bench-fhir-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "bench",
    }
    text = json.dumps(request_body(prefetch, full["context"]["patientId"], fhirServer=fhir_url, fhirAuthorization=auth))
    floors: list[float] = []
    subjects: list[float] = []
    fetched: tuple[str, ...] = ()
    try:
        for i in range(n + 1):  # the first pair warms connections and is not counted
            floor = one_search_floor(session, fhir_url)
            start = time.perf_counter()
            body = json.loads(text)
            # The fhirServer and token checked as the HTTP edge checks them (auth off: no client limits).
            fhir = access.from_request(body, settings.allow_http_fhir_hosts)
            outcome = evaluate(SERVICE_ID, body, deps, BENCH_NOW, access=fhir)
            json.dumps(outcome.body)
            elapsed = time.perf_counter() - start
            fetched = outcome.fetched
            if i:
                floors.append(floor)
                subjects.append(elapsed)
    except Exception as exc:  # the failure goes in the table; the other parts still run
        return [not_run(PART3, "4 keys missing, in process", f"evaluate failed: {type(exc).__name__}: {exc}")], median(
            floors
        ) if floors else None
    finally:
        pool.close()
    mid, floor_mid = median(subjects), median(floors)
    row = Row(
        part=PART3,
        measure="4 keys missing, in process (real FhirPool)",
        subject=f"{ms(mid)} (max {ms(max(subjects))})",
        floor=ms(floor_mid) + " (one search)",
        ratio=f"{mid / floor_mid:.2f}x",
        target=f"< {ms(MAX_FETCH)}",
        verdict=verdict(mid < MAX_FETCH),
        note=f"median of {n}; fetched {', '.join(fetched) or 'nothing'}; server delay {delay_ms:g} ms/search "
        "(bench/fhir_delay.py, not Medplum: its scans add tens of ms)",
    )
    return [row], floor_mid
