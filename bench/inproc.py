"""Part 1: the in-process pipeline vs json.loads + json.dumps of the same body, at growing prefetch sizes."""

from __future__ import annotations

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
MAX_SLOPE_RATIO = (
    1.5  # growth of the marginal cost per resource relative to the json floor's: ~1 linear, ~5 quadratic
)


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


def make_evaluator(data_dir: Path) -> Callable[[dict[str, Any]], Any]:
    """evaluate() bound to Deps built as service/cli.py::_evaluate builds them (pool None: offline)."""
    from hooks import SERVICES
    from service.config import load_settings
    from service.pipeline import Deps
    from service.pipeline import evaluate
    from service.policy import load_policy
    from service.registry import Registry
    from service.valuesets import ValueSetIndex

    settings = load_settings({}, data_dir=data_dir)
    deps = Deps(
        settings=settings,
        registry=Registry(SERVICES),
        valuesets=ValueSetIndex.load(settings.valuesets_dir),
        policy=load_policy(settings.policy_file),
    )
    return lambda body: evaluate(SERVICE_ID, body, deps, BENCH_NOW)


def measure_size(
    evaluate: Callable[[dict[str, Any]], Any], body: dict[str, Any], budget: float
) -> SizeResult:
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
    clock = time.perf_counter
    for i in range(reps):
        order = (floor, subject) if i % 2 == 0 else (subject, floor)
        for fn in order:
            t0 = clock()
            fn()
            elapsed = clock() - t0
            (floors if fn is floor else subjects).append(elapsed)
    cards = outcome.body.get("cards", [])
    return SizeResult(
        size=count_resources(body),
        body_bytes=len(text),
        subject=median(subjects),
        floor=median(floors),
        reps=reps,
        cards=len(cards),
        rule_ids=tuple(outcome.rule_ids),
    )


def run(sizes: Sequence[int], budget: float, data_dir: Path) -> tuple[list[Row], list[SizeResult]]:
    """Rows for every size plus the growth check."""
    try:
        evaluate = make_evaluator(data_dir)
    except (
        Exception
    ) as exc:  # a core module has not landed or does not import yet: say so, never fake a number
        return [
            not_run(
                PART, f"pipeline at {n:,} resources", f"pipeline unavailable: {type(exc).__name__}: {exc}"
            )
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
            rows.append(
                not_run(PART, f"pipeline at {n:,} resources", f"evaluate failed: {type(exc).__name__}: {exc}")
            )
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


def growth_rows(results: Sequence[SizeResult]) -> list[Row]:
    """Linear growth: the marginal cost per resource must not rise with size (no quadratic step)."""
    if len(results) < 3:
        return []
    first, mid, last = results[0], results[-2], results[-1]
    slope_low = (mid.subject - first.subject) / (mid.size - first.size)
    slope_high = (last.subject - mid.subject) / (last.size - mid.size)
    floor_low = (mid.floor - first.floor) / (mid.size - first.size)
    floor_high = (last.floor - mid.floor) / (last.size - mid.size)
    slope_ratio = slope_high / slope_low if slope_low > 0 else float("inf")
    floor_ratio = floor_high / floor_low if floor_low > 0 else float("inf")
    # json.loads itself grows faster than linearly at megabytes (the cyclic GC walks every live object, caches
    # overflow), so the pipeline's growth is judged against the floor's growth measured alongside.
    excess = slope_ratio / floor_ratio
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
            measure=f"cost per extra resource, {mid.size:,}->{last.size:,} vs {first.size:,}->{mid.size:,}",
            subject=f"{slope_high * 1e6:.1f} vs {slope_low * 1e6:.1f} us ({slope_ratio:.2f}x)",
            floor=f"{floor_high * 1e6:.1f} vs {floor_low * 1e6:.1f} us ({floor_ratio:.2f}x)",
            ratio=f"{excess:.2f}",
            target=f"<= {MAX_SLOPE_RATIO:g}",
            verdict=verdict(excess <= MAX_SLOPE_RATIO),
            note="ratio = pipeline's per-resource growth / json floor's; ~1 when as linear as json, "
            "a quadratic step would make it ~5",
        ),
    ]
