"""Part 1: the in-process pipeline vs json.loads + json.dumps of the same body, at growing prefetch sizes."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import BENCH_NOW
from bench.data import SERVICE_ID
from bench.data import SizedRequests
from bench.data import count_resources
from bench.report import INFO
from bench.report import Row
from bench.report import median
from bench.report import ms
from bench.report import not_run
from bench.report import verdict

PART = "1 in-process"
TARGET_RATIO = 3.0
TARGET_AT = (1000, 5000)  # the target applies at these sizes
MAX_SLOPE_RATIO = 1.5  # cost per extra resource, upper vs lower size range: ~1 when linear, ~5 when quadratic


@dataclass(frozen=True)
class SizeResult:
    """Medians for one prefetch size."""

    size: int
    body_bytes: int
    subject: float
    floor: float
    reps: int
    cards: int
    rule_ids: tuple[str, ...]
    alone: float  # evaluate() only, GC paused


def make_evaluator(data_dir: Path) -> Callable[[dict[str, Any]], Any]:
    """evaluate() bound to Deps built as `bme-cds evaluate` builds them (service.compose; no pool: offline)."""
    from service.cds.pipeline import evaluate
    from service.compose import build_deps
    from service.config import load_settings

    deps = build_deps(load_settings({}, data_dir=data_dir))
    return lambda body: evaluate(SERVICE_ID, body, deps, BENCH_NOW)


def _evaluate_alone(evaluate: Callable[[dict[str, Any]], Any], text: str) -> float:
    """evaluate() alone, on a freshly parsed body, with the cyclic GC paused: the pipeline's own algorithm."""
    parsed = json.loads(text)
    gc.disable()
    try:
        start = time.perf_counter()
        evaluate(parsed)
        return time.perf_counter() - start
    finally:
        gc.enable()


def measure_size(evaluate: Callable[[dict[str, Any]], Any], body: dict[str, Any], budget: float) -> SizeResult:
    """Interleave floor and subject (alternating which goes first) and take medians of each."""
    text = json.dumps(body)

    def floor() -> None:
        json.dumps(json.loads(text))

    def subject() -> Any:
        outcome = evaluate(json.loads(text))
        json.dumps(outcome.body)
        return outcome

    outcome = subject()  # warm-up, and the cards it yields
    floor()
    start = time.perf_counter()
    subject()
    floor()
    per_pair = max(time.perf_counter() - start, 1e-6)
    reps = int(min(5000, max(7, budget / per_pair)))
    floors: list[float] = []
    subjects: list[float] = []
    alone: list[float] = []
    clock = time.perf_counter
    for i in range(reps):
        order = (floor, subject) if i % 2 == 0 else (subject, floor)
        for fn in order:
            t0 = clock()
            fn()
            elapsed = clock() - t0
            (floors if fn is floor else subjects).append(elapsed)
        if i % 4 == 0:  # a sample of the pipeline alone, for the linearity check
            alone.append(_evaluate_alone(evaluate, text))
    cards = outcome.body.get("cards", [])
    return SizeResult(
        size=count_resources(body),
        body_bytes=len(text),
        subject=median(subjects),
        floor=median(floors),
        reps=reps,
        cards=len(cards),
        rule_ids=tuple(outcome.rule_ids),
        alone=median(alone),
    )


def run(sizes: Sequence[int], budget: float, data_dir: Path) -> tuple[list[Row], list[SizeResult]]:
    """Rows for every size plus the growth check."""
    try:
        evaluate = make_evaluator(data_dir)
    except Exception as exc:  # a core module has not landed or does not import yet: say so, never fake a number
        return [
            not_run(PART, f"pipeline at {n:,} resources", f"pipeline unavailable: {type(exc).__name__}: {exc}")
            for n in sizes
        ], []
    generator = SizedRequests()
    rows: list[Row] = []
    results: list[SizeResult] = []
    for n in sizes:
        body = generator.body(n)
        try:
            result = measure_size(evaluate, body, budget)
        except Exception as exc:  # report the failure in the table; the other parts still run
            rows.append(not_run(PART, f"pipeline at {n:,} resources", f"evaluate failed: {type(exc).__name__}: {exc}"))
            continue
        results.append(result)
        ratio = result.subject / result.floor
        target = f"<= {TARGET_RATIO:g}x" if n in TARGET_AT else ""
        rows.append(
            Row(
                part=PART,
                measure=f"pipeline at {n:,} resources ({result.body_bytes / 1e6:.2f} MB)",
                subject=ms(result.subject),
                floor=ms(result.floor) + " (loads+dumps)",
                ratio=f"{ratio:.2f}x",
                target=target,
                verdict=verdict(ratio <= TARGET_RATIO) if target else INFO,
                note=f"median of {result.reps} interleaved pairs; {result.cards} cards "
                f"({', '.join(result.rule_ids) or 'none'})",
            )
        )
    rows.extend(growth_rows(results))
    return rows, results


def _slopes(results: Sequence[SizeResult], value: Callable[[SizeResult], float]) -> tuple[float, float, float]:
    """Cost per extra resource over the lower and the upper size range, and their ratio."""
    first, mid, last = results[0], results[-2], results[-1]
    low = (value(mid) - value(first)) / (mid.size - first.size)
    high = (value(last) - value(mid)) / (last.size - mid.size)
    return low, high, high / low if low > 0 else float("inf")


def growth_rows(results: Sequence[SizeResult]) -> list[Row]:
    """Linear growth: the cost per extra resource must not rise with size (no quadratic step)."""
    if len(results) < 3:
        return []
    first, mid, last = results[0], results[-2], results[-1]
    ranges = f"{mid.size:,}->{last.size:,} vs {first.size:,}->{mid.size:,}"
    s_low, s_high, s_ratio = _slopes(results, lambda r: r.subject)
    f_low, f_high, f_ratio = _slopes(results, lambda r: r.floor)
    a_low, a_high, a_ratio = _slopes(results, lambda r: r.alone)
    return [
        Row(
            part=PART,
            measure=f"growth {first.size:,} -> {last.size:,} resources",
            subject=f"{last.subject / first.subject:.0f}x time for {last.size / first.size:.0f}x resources",
            floor=f"{last.floor / first.floor:.0f}x",
            ratio="",
            target="linear",
            verdict=INFO,
            note="whole-request time; fixed per-request costs make small sizes relatively dear",
        ),
        Row(
            part=PART,
            measure=f"whole request: cost per extra resource, {ranges}",
            subject=f"{s_high * 1e6:.1f} vs {s_low * 1e6:.1f} us ({s_ratio:.2f}x)",
            floor=f"{f_high * 1e6:.1f} vs {f_low * 1e6:.1f} us ({f_ratio:.2f}x)",
            ratio=f"{s_ratio / f_ratio:.2f}",
            verdict=INFO,
            note="json.loads itself costs more per resource at megabytes (the cyclic GC walks every live "
            "object, caches overflow); ratio = request's growth / json floor's",
        ),
        Row(
            part=PART,
            measure=f"pipeline alone: cost per extra resource, {ranges}",
            subject=f"{a_high * 1e6:.1f} vs {a_low * 1e6:.1f} us",
            ratio=f"{a_ratio:.2f}",
            target=f"<= {MAX_SLOPE_RATIO:g}",
            verdict=verdict(a_ratio <= MAX_SLOPE_RATIO),
            note="evaluate() on a parsed body with the cyclic GC paused: ~1 when linear, ~5 with a quadratic "
            f"step; evaluate alone at {last.size:,}: {ms(last.alone)}",
        ),
    ]
