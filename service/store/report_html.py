"""`bme-cds feedback-report --html FILE`: one self-contained page for the governance group.

Per rule: cards issued, accepted and overridden per day (an inline SVG line chart), the override reasons (an inline
SVG bar chart) and the most frequent reasons per week (a line chart). No scripts, no external assets, no patient
data: rule ids, days, counts and the coded override reasons only (free-text comments are left out, they may name a
patient).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import date
from datetime import timedelta
from html import escape

from service.store.drift import History
from service.store.drift import RuleDays

SERIES = (("issued", "#1f6feb"), ("accepted", "#2da44e"), ("overridden", "#cf222e"))
REASON_COLOURS = ("#cf222e", "#8250df", "#bf8700", "#0969da", "#1a7f37")  # the five most frequent reasons
WIDTH, HEIGHT, PAD = 720, 200, 36
STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2328;max-width:60rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-top:1px solid #d0d7de;padding-top:1rem}
table{border-collapse:collapse}td,th{padding:.2rem .6rem;text-align:right;border-bottom:1px solid #eee}
th:first-child,td:first-child{text-align:left}.legend span{margin-right:1rem}
svg text{font-size:11px;fill:#57606a}
"""


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _daily(rule: RuleDays, days: Sequence[date]) -> dict[str, list[int]]:
    issued = [rule.issued.get(d, 0) for d in days]
    overridden = [rule.overridden.get(d, 0) for d in days]
    accepted = [rule.feedback.get(d, 0) - o for d, o in zip(days, overridden, strict=True)]
    return {"issued": issued, "accepted": accepted, "overridden": overridden}


def line_chart(
    days: Sequence[date],
    series: Mapping[str, Sequence[int]],
    title: str,
    colours: Sequence[tuple[str, str]] = SERIES,
) -> str:
    """An SVG line chart of daily counts, one polyline per series, with its axis labels."""
    top = max([1, *(max(values, default=0) for values in series.values())])
    span = max(1, len(days) - 1)
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def x(i: int) -> float:
        return PAD + inner_w * i / span

    def y(v: int) -> float:
        return HEIGHT - PAD - inner_h * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#8c959f"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#8c959f"/>',
        f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end">{top}</text>',
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD + 4}" text-anchor="end">0</text>',
    ]
    if days:
        parts.append(f'<text x="{PAD}" y="{HEIGHT - PAD + 16}">{days[0].isoformat()}</text>')
        parts.append(f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" text-anchor="end">{days[-1].isoformat()}</text>')
    for name, colour in colours:
        values = series.get(name, ())
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        if points:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}">'
                         f"<title>{escape(name)}</title></polyline>")
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(reasons: Counter[str], title: str) -> str:
    """An SVG horizontal bar chart of override reasons, most frequent first."""
    items = reasons.most_common(10)
    if not items:
        return "<p>No overrides.</p>"
    row, label_w = 22, 260
    height = row * len(items) + 10
    top = items[0][1]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
             f'aria-label="{escape(title)}">']
    for i, (reason, count) in enumerate(items):
        width = (WIDTH - label_w - 60) * count / top
        y = 5 + i * row
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(reason[:40])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row - 8}" fill="#cf222e"/>')
        parts.append(f'<text x="{label_w + width + 6:.1f}" y="{y + 14}">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def weekly_reasons(
    by_reason: Mapping[str, Mapping[date, int]], top: Sequence[str], days: Sequence[date]
) -> tuple[list[date], dict[str, list[int]]]:
    """Overrides per reason summed per 7-day block from the first day (daily counts are too sparse to read)."""
    weeks = list(days[::7])
    series = {
        reason: [sum(by_reason.get(reason, {}).get(d, 0) for d in days[i : i + 7]) for i in range(0, len(days), 7)]
        for reason in top
    }
    return weeks, series


def render(
    history: History,
    reasons: Mapping[str, Counter[str]],
    *,
    generated: str,
    reasons_daily: Mapping[str, Mapping[str, Mapping[date, int]]] | None = None,
) -> str:
    """The whole page."""
    days = _days(history.first_day, history.last_day)
    legend = "".join(f'<span style="color:{c}">&#9632; {n}</span>' for n, c in SERIES)
    summary = ["<table><tr><th>rule</th><th>issued</th><th>accepted</th><th>overridden</th>"
               "<th>override rate</th></tr>"]
    sections = []
    for rule_id in sorted(history.rules):
        daily = _daily(history.rules[rule_id], days)
        issued, accepted, overridden = (sum(daily[name]) for name, _ in SERIES)
        rate = f"{overridden / (accepted + overridden):.0%}" if accepted + overridden else "-"
        anchor = escape(rule_id)
        summary.append(f'<tr><td><a href="#rule-{anchor}">{anchor}</a></td><td>{issued}</td><td>{accepted}</td>'
                       f"<td>{overridden}</td><td>{rate}</td></tr>")
        rule_reasons = reasons.get(rule_id, Counter())
        over_time = ""
        if reasons_daily and rule_reasons:
            top = [reason for reason, _ in rule_reasons.most_common(len(REASON_COLOURS))]
            weeks, series = weekly_reasons(reasons_daily.get(rule_id, {}), top, days)
            colours = list(zip(top, REASON_COLOURS, strict=False))
            key = "".join(f'<span style="color:{c}">&#9632; {escape(r[:40])}</span>' for r, c in colours)
            over_time = (f'<h3>Override reasons per week</h3><p class="legend">{key}</p>'
                         + line_chart(weeks, series, f"{rule_id}: override reasons per week", colours))
        sections.append(
            f'<h2 id="rule-{anchor}">{anchor}</h2><p class="legend">{legend}</p>'
            + line_chart(days, daily, f"{rule_id}: cards per day")
            + "<h3>Override reasons</h3>"
            + bar_chart(rule_reasons, f"{rule_id}: override reasons")
            + over_time
        )
    summary.append("</table>")
    body = "".join(summary) + "".join(sections) if history.rules else "<p>No cards issued and no feedback yet.</p>"
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>BME CDS feedback report</title>"
        f"<style>{STYLE}</style></head><body><h1>BME CDS feedback report</h1>"
        f"<p>Cards issued and feedback received per rule and UTC day, {days[0].isoformat()} to "
        f"{days[-1].isoformat()}. Generated {escape(generated)}. Rule ids and counts only: no patient data, "
        "no free-text comments.</p>"
        f"{body}</body></html>\n"
    )
