"""report.html: one self-contained page (inline SVG, no script, no external file) summarising a replay."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from service.replay.evaluation import ReplayPlan
from service.replay.outputs import COMPARE_HEADER
from service.replay.outputs import Tally
from service.replay.outputs import compare_rows

_WIDTH = 760
_BAR = 16
_LEFT = 70
_COLOURS = ("#3b6ea8", "#d9822b", "#4c9a52", "#b8433d", "#7b5ea7")


def _number(value: float) -> str:
    return f"{value:.1f}" if value % 1 else f"{int(value)}"


def bar_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Horizontal bars, one group per label and one bar per series, with the values written at the ends."""
    peak = max([v for _, values in series for v in values] + [1e-9])
    group = _BAR * len(series) + 6
    height = 30 + group * len(labels) + 20 * len(series)
    scale = (_WIDTH - _LEFT - 60) / peak
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img">',
             f"<title>{html.escape(title)}</title>"]
    for i, label in enumerate(labels):
        top = 20 + i * group
        parts.append(f'<text x="{_LEFT - 6}" y="{top + _BAR - 3}" text-anchor="end" font-size="12">'
                     f"{html.escape(label)}</text>")
        for j, (_, values) in enumerate(series):
            width = max(values[i] * scale, 0.0)
            y = top + j * _BAR
            parts.append(f'<rect x="{_LEFT}" y="{y}" width="{width:.1f}" height="{_BAR - 2}" '
                         f'fill="{_COLOURS[j % len(_COLOURS)]}"/>')
            parts.append(f'<text x="{_LEFT + width + 4:.1f}" y="{y + _BAR - 4}" font-size="11">'
                         f"{_number(values[i])}</text>")
    legend_top = 30 + group * len(labels)
    for j, (name, _) in enumerate(series):
        y = legend_top + 20 * j
        parts.append(f'<rect x="{_LEFT}" y="{y - 10}" width="12" height="12" fill="{_COLOURS[j % len(_COLOURS)]}"/>')
        parts.append(f'<text x="{_LEFT + 18}" y="{y}" font-size="12">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(title: str, labels: Sequence[str], values: Sequence[float], x_label: str) -> str:
    """Vertical columns (a histogram), labelled below, values above."""
    height, bottom = 240, 200
    peak = max(list(values) + [1e-9])
    step = (_WIDTH - _LEFT) / max(len(labels), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img">',
             f"<title>{html.escape(title)}</title>"]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar = value / peak * (bottom - 30)
        x = _LEFT + i * step
        parts.append(f'<rect x="{x + 2:.1f}" y="{bottom - bar:.1f}" width="{step - 4:.1f}" height="{bar:.1f}" '
                     f'fill="{_COLOURS[0]}"/>')
        parts.append(f'<text x="{x + step / 2:.1f}" y="{bottom - bar - 4:.1f}" text-anchor="middle" '
                     f'font-size="11">{_number(value)}</text>')
        parts.append(f'<text x="{x + step / 2:.1f}" y="{bottom + 14}" text-anchor="middle" font-size="12">'
                     f"{html.escape(label)}</text>")
    parts.append(f'<text x="{_LEFT + (_WIDTH - _LEFT) / 2}" y="{bottom + 32}" text-anchor="middle" '
                 f'font-size="12">{html.escape(x_label)}</text></svg>')
    return "".join(parts)


def line_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Lines over an ordered axis (months), one per series, with a legend."""
    height, bottom = 300, 220
    peak = max([v for _, values in series for v in values] + [1e-9])
    step = (_WIDTH - _LEFT - 20) / max(len(labels) - 1, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" role="img">',
             f"<title>{html.escape(title)}</title>",
             f'<text x="{_LEFT - 6}" y="24" text-anchor="end" font-size="11">{_number(peak)}</text>',
             f'<text x="{_LEFT - 6}" y="{bottom}" text-anchor="end" font-size="11">0</text>',
             f'<line x1="{_LEFT}" y1="{bottom}" x2="{_WIDTH - 20}" y2="{bottom}" stroke="#888"/>']
    for i, label in enumerate(labels):
        if len(labels) <= 12 or i % max(len(labels) // 12, 1) == 0:
            parts.append(f'<text x="{_LEFT + i * step:.1f}" y="{bottom + 14}" text-anchor="middle" '
                         f'font-size="10">{html.escape(label)}</text>')
    for j, (name, values) in enumerate(series):
        points = " ".join(
            f"{_LEFT + i * step:.1f},{bottom - v / peak * (bottom - 20):.1f}" for i, v in enumerate(values)
        )
        colour = _COLOURS[j % len(_COLOURS)]
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        y = bottom + 34 + 16 * (j // 3)
        x = _LEFT + 220 * (j % 3)
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{x + 18}" y="{y}" font-size="12">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(tally: Tally, plan: ReplayPlan, errors: int) -> str:
    """The page's HTML."""
    fired = [r for r in tally.rule_ids() if r in tally.rules or r in tally.compare]
    when = (f"at each visit from {plan.window[0]} to {plan.window[1]}" if plan.window
            else f"as of {plan.as_of}")
    sections = [
        f"<h1>BME CDS silent-mode replay</h1><p>patient-view evaluated {html.escape(when)}: "
        f"{tally.patients:,} patients, {tally.evaluations:,} evaluations, {errors:,} input lines not used "
        "(errors.csv). Decision support only; counts, not outcomes.</p>",
        "<h2>Firing rate per rule</h2>",
        bar_chart("patients per 1,000 for whom each rule fired", fired,
                  [("patients per 1,000", [1000 * tally.rules[r].patients / max(tally.patients, 1)
                                           if r in tally.rules else 0.0 for r in fired])])
        if fired else "<p>No rule fired.</p>",
        "<h2>Cards per evaluation</h2>",
        column_chart("evaluations by number of cards",
                     [str(n) for n in range(max(tally.cards_histogram, default=0) + 1)],
                     [tally.cards_histogram.get(n, 0) for n in range(max(tally.cards_histogram, default=0) + 1)],
                     "cards shown at one patient-view"),
    ]
    if plan.window is not None and tally.months:
        months = sorted(tally.months)
        top = sorted(fired, key=lambda r: -tally.rules[r].fires if r in tally.rules else 0)[:5]
        sections += [
            "<h2>Firing over time</h2><p>Per 1,000 visits in each month, for the five most frequent rules.</p>",
            line_chart("firing per 1,000 visits by month", months,
                       [(r, [1000 * tally.month_rules[(m, r)] / tally.months[m] for m in months]) for r in top]),
        ]
    if plan.compare_policy is not None:
        rows = compare_rows(tally)
        changed = [row for row in rows if row[1] or row[2]]
        sections += [
            "<h2>What-if: policy against the compared policy</h2>",
            bar_chart("evaluations each rule fires in, per policy", [str(r[0]) for r in changed],
                      [("policy", [float(r[1]) for r in changed]), ("compared policy", [float(r[2]) for r in changed])])
            if changed else "<p>No rule fired under either policy.</p>",
            _table(COMPARE_HEADER, rows),
        ]
    style = ("body{font-family:sans-serif;max-width:800px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>BME CDS replay</title>'
            f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n")


def write_report(path: Path, tally: Tally, plan: ReplayPlan, errors: int) -> None:
    """Write report.html."""
    path.write_text(render(tally, plan, errors), encoding="utf-8")
