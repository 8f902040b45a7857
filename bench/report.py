"""The result table: one row per measurement with its floor and ratio; printed and written to docs/."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

PASS = "pass"
FAIL = "FAIL"
NOT_RUN = "not run"
INFO = "-"


@dataclass(frozen=True)
class Row:
    """One line of the table; `subject`/`floor` are already formatted with their unit."""

    part: str
    measure: str
    subject: str = ""
    floor: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = INFO
    note: str = ""


def not_run(part: str, measure: str, why: str) -> Row:
    """A row for a measurement that could not run: says why instead of a number."""
    return Row(part=part, measure=measure, verdict=NOT_RUN, note=why)


def verdict(ok: bool) -> str:
    """PASS/FAIL text."""
    return PASS if ok else FAIL


def median(values: Sequence[float]) -> float:
    """The median (statistics.median, named here for readability at call sites)."""
    return statistics.median(values)


def ms(seconds: float) -> str:
    """Seconds as milliseconds with sensible precision."""
    value = seconds * 1000
    return f"{value:.3f} ms" if value < 1 else f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("MemTotal:")
        )
        memory = f"{mem_kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "unknown"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: Sequence[Row]) -> str:
    """A Markdown table of the rows."""
    head = ["part", "measure", "subject", "floor", "ratio", "target", "verdict", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.part, r.measure, r.subject, r.floor, r.ratio, r.target, r.verdict, r.note]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def document(rows: Sequence[Row], command: str, info: dict[str, str], notes: Sequence[str]) -> str:
    """The whole docs/benchmarks.md."""
    parts = [
        "# Benchmarks",
        "",
        "Written by the benchmark harness (`bench/`); do not edit by hand, run it again.",
        "These machines are shared and noisy, so every number is a ratio against a floor measured",
        "in the same run on the same machine (issue 5). Absolute times are shown only to make the ratios",
        "checkable.",
        "",
        "Command:",
        "",
        "```sh",
        command,
        "```",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        table(rows),
        "",
        "## How each part is measured",
        "",
    ]
    parts.extend(f"- {note}" for note in notes)
    parts.append("")
    return "\n".join(parts)
