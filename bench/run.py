"""The benchmark harness: `python -m bench` (full, writes docs/benchmarks.md) or `python -m bench --quick`.

Measures issue 5's four targets side by side with floors measured in the same run, prints a table of ratios,
and writes it with the command and the machine. A part that cannot run (a core module missing, wrk not
installed) says so in the table instead of a number.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import fetch
from bench import httpbench
from bench import inproc
from bench.data import REPO
from bench.replay import keep_section
from bench.report import Row
from bench.report import document
from bench.report import machine
from bench.report import not_run
from bench.report import table
from bench.servers import fhir_delay_process

PARTS = ("inproc", "fetch", "http", "memory")
DEFAULT_OUT = REPO / "docs" / "benchmarks.md"
FULL_SIZES = (10, 100, 1000, 5000)
QUICK_SIZES = (10, 100)
FETCH_DELAY_MS = 100.0

# Many short alternating rounds: the machines are shared, and drift hits service and floor alike.
FULL_HTTP = httpbench.HttpConfig(
    connections=16,
    threads=1,  # one wrk thread keeps up with ~1,000 requests/s and leaves more of the 2 cores to the servers
    warmup=3.0,
    duration=4.0,
    rounds=6,
    fetch_requests=20,
    memory_marks=(1000, 5000, 10000),
    memory_concurrency=4,
)
QUICK_HTTP = httpbench.HttpConfig(
    connections=4,
    threads=1,
    warmup=0.0,
    duration=1.0,
    rounds=1,
    fetch_requests=2,
    memory_marks=(20, 60, 100),
    memory_concurrency=2,
)

NOTES = (
    "**1 in-process**: `service.cds.pipeline.evaluate` with Deps built as `bme-cds evaluate` builds them (no "
    "FHIR pool, every prefetch key present), timed as json.loads(request) + evaluate + "
    "json.dumps(response), against json.loads + json.dumps of the same request body. Floor and subject "
    "run interleaved (alternating order) and the medians are compared. Prefetch: one Synthea patient's "
    "Patient, a hand-made MRI report with vertebral bone marrow edema (so rules fire), and re-identified "
    "copies of the five Synthea records' resources of every prefetched type, up to N resources. Linearity"
    " is judged on evaluate() alone with the cyclic GC paused, because json.loads itself costs more per "
    "resource at megabytes.",
    "**2 HTTP**: `python -m service.cli serve` (= `bme-cds serve`: gunicorn, gthread workers, default worker"
    " count, authentication on with a trusted-clients file for two benchmark clients, one signing ES384"
    " as the CDS Hooks sandbox does and one RS384 as Epic does by default) against "
    "`bench/floor_app.py` (a Flask endpoint that parses and echoes the body, no authentication) under the"
    " same gunicorn settings. Load: wrk from Debian on loopback with `bench/wrk/post_tokens.lua`: every "
    "request has a fresh hookInstance and a JWT minted beforehand and used once (unique jti, so the "
    "replay store sees every one). Body: what the services' prefetch templates select for a real Synthea "
    "patient (Twyla Moen: observations by the template's codes, encounters by class) plus the MRI report."
    " The floor and the service called with each algorithm run in rotating rounds; requests/s are summed"
    " over the rounds, p50 is the median of the rounds' p50, p99 the worst round's. ES384 verification"
    " (P-384 ECDSA) costs about ten times RS384's, which is why both are shown. The floor parses and echoes"
    " with the standard library's json, as a minimal Flask endpoint does; the service parses the body and"
    " writes every response with orjson (`service/web/security.py`, `service/web/responses.py`), one of the"
    " changes that brought it near the floor.",
    "**3 missing prefetch**: four FAIL keys (conditions, observations, reports, medications) absent, "
    "`fhirServer` pointing at `bench/fhir_delay.py` (http.server with TCP_NODELAY, 100 ms sleep before "
    "every answer; the Medplum test server's own search time would muddy the delay). Floor: one search on"
    " that server over a kept-alive connection. In process with a FhirPool built as create_app builds it,"
    " and end to end over HTTP (auth on).",
    "**4 memory**: a fresh `bme-cds serve`; a Python client (threads, keep-alive, a fresh JWT each) sends"
    " exact request counts; VmRSS of every gunicorn worker from /proc/<pid>/status after each mark.",
    "Profiling: `python -m bench.profile` runs the service under the same wrk load and samples its "
    "workers with py-spy (own time and time including callees per function).",
)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(parts: Sequence[str], quick: bool, workdir: Path) -> list[Row]:
    """Run the selected parts; rows in table order."""
    rows: list[Row] = []
    if "inproc" in parts:
        sizes = QUICK_SIZES if quick else FULL_SIZES
        _log(f"part 1: in-process pipeline at {', '.join(map(str, sizes))} resources")
        inproc_rows, _ = inproc.run(sizes, 0.3 if quick else 6.0, workdir / "inproc-data")
        rows.extend(inproc_rows)
    cfg = QUICK_HTTP if quick else FULL_HTTP
    fhir_url: str | None = None
    fhir_floor: float | None = None
    fhir = fhir_delay_process(FETCH_DELAY_MS, workdir / "fhir-delay.log")
    try:
        if "fetch" in parts:
            fhir.start(read_line=True)
            fhir_url = f"http://127.0.0.1:{json.loads(fhir.stdout_line)['port']}"
            _log("part 3: missing prefetch in process")
            fetch_rows, fhir_floor = fetch.run(fhir_url, FETCH_DELAY_MS, cfg.fetch_requests, workdir / "fetch-data")
            rows.extend(fetch_rows)
        if "http" in parts or "memory" in parts:
            http_rows = httpbench.run(workdir, cfg, fhir_url, fhir_floor, _log, parts)
            rows.extend(http_rows)
    except Exception as exc:  # one broken part must not lose the others' numbers
        rows.append(not_run("harness", "remaining parts", f"{type(exc).__name__}: {exc}"))
    finally:
        fhir.stop()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bench`."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds (the CI smoke run)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    parser.add_argument(
        "--out",
        type=Path,
        help=f"Markdown file to write (default: {DEFAULT_OUT.relative_to(REPO)} "
        "for a full run; a --quick run writes nothing unless given)",
    )
    parser.add_argument("--workdir", type=Path, help="keep logs and data here (default: a temporary folder)")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    out: Path | None = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bme-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows = run(parts, args.quick, workdir)
    command = "python -m bench" + ("".join(f" {shlex.quote(a)}" for a in (argv if argv is not None else sys.argv[1:])))
    print(table(rows))
    print("\nMachine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        # The replay's section (python -m bench.replay) is measured separately; keep it.
        out.write_text(keep_section(out, document(rows, command, info, NOTES)), encoding="utf-8")
        _log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
