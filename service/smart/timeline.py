"""The timeline plot: imaging, fractures, treatments and pain scores on one date axis, as inline SVG.

Rendered on the server so the page needs no script and prints as drawn. Pure module: the events come from
the features' provenance (Fact.sources), so the plot shows exactly the data the rules used.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from datetime import timedelta
from html import escape

from service.core.facts import Fact
from service.core.facts import Source
from service.core.features import Features

LANE_IMAGING = "Imaging"
LANE_FRACTURES = "Fractures"
LANE_TREATMENTS = "Treatments"
LANES = (LANE_IMAGING, LANE_FRACTURES, LANE_TREATMENTS)

# Which features feed which lane; the resources behind them are the plotted events.
IMAGING_FEATURES = (
    "bme_present",
    "bme_extent",
    "bme_first_seen_date",
    "last_mri_date",
    "dect_or_ct_done",
    "spect_ct_done",
    "bone_scan_done",
    "wbc_scan_done",
    "on_features",
)
FRACTURE_FEATURES = (
    "vertebral_fracture",
    "fracture_onset_date",
    "pathologic_fracture_neoplastic",
    "retropulsion",
)
TREATMENT_FEATURES = (
    "nsaid_active",
    "iv_bisphosphonate_given",
    "bisphosphonate_given",
    "denosumab_given",
    "iloprost_given",
    "calcitonin_active",
    "opioid_active",
    "systemic_glucocorticoid_active",
    "tnfi_active",
    "augmentation_done",
    "core_decompression_done",
    "bed_rest_ordered",
    "offloading_in_place",
)

WIDTH = 640
LABEL_W = 92
RIGHT_PAD = 16
LANE_H = 30
PAIN_H = 96
TOP = 10
AXIS_H = 26
# Colours differ and so do shapes, so the plot reads in grey print and for colour-blind readers.
COLOURS = {LANE_IMAGING: "#1f5fa8", LANE_FRACTURES: "#b3261e", LANE_TREATMENTS: "#2e7d32"}
PAIN_COLOUR = "#6a3d9a"
GRID = "#c9ced6"
INK = "#1b1f24"


@dataclass(frozen=True)
class Event:
    """One dated resource on a lane."""

    lane: str
    when: date
    label: str
    reference: str


@dataclass(frozen=True)
class Timeline:
    """What the plot shows, and what it could not place."""

    events: tuple[Event, ...]
    pain: tuple[tuple[date, int], ...]
    undated: int  # resources the features used that carry no date


def _sources(features: Features, names: Iterable[str]) -> list[Source]:
    out: list[Source] = []
    for name in names:
        fact = getattr(features, name, None)
        if isinstance(fact, Fact) and fact.value is not None and fact.value is not False:
            out.extend(fact.sources)
    return out


def collect(features: Features) -> Timeline:
    """The events and pain series behind the features, one event per resource and date."""
    events: dict[tuple[str, str, date], Event] = {}
    undated: set[tuple[str, str]] = set()
    for lane, names in (
        (LANE_IMAGING, IMAGING_FEATURES),
        (LANE_FRACTURES, FRACTURE_FEATURES),
        (LANE_TREATMENTS, TREATMENT_FEATURES),
    ):
        for source in _sources(features, names):
            if source.date is None:
                undated.add((lane, source.reference or source.display))
                continue
            key = (lane, source.reference or source.display, source.date)
            events.setdefault(key, Event(lane, source.date, source.display, source.reference))
    pain = tuple(features.pain_nrs_series)
    if not pain and features.pain_nrs_latest.value is not None:
        dated = [s.date for s in features.pain_nrs_latest.sources if s.date is not None]
        if dated:
            pain = ((max(dated), int(features.pain_nrs_latest.value)),)
    ordered = sorted(events.values(), key=lambda e: (LANES.index(e.lane), e.when, e.reference))
    return Timeline(events=tuple(ordered), pain=pain, undated=len(undated))


def _ticks(start: date, end: date, count: int = 5) -> list[date]:
    span = (end - start).days
    if span <= 0:
        return [start]
    return [start + timedelta(days=round(span * i / (count - 1))) for i in range(count)]


def render_svg(timeline: Timeline, today: date) -> str:
    """The SVG markup (escaped text throughout); a short note instead when there is nothing dated."""
    dates = [e.when for e in timeline.events] + [d for d, _ in timeline.pain]
    if not dates:
        return ""
    start, end = min(dates), max(max(dates), today)
    pad = max(7, (end - start).days // 20)
    start, end = start - timedelta(days=pad), end + timedelta(days=pad)
    span = max(1, (end - start).days)
    plot_w = WIDTH - LABEL_W - RIGHT_PAD

    def x(when: date) -> float:
        return round(LABEL_W + plot_w * (when - start).days / span, 1)

    pain_top = TOP + LANE_H * len(LANES) + 8
    axis_y = pain_top + PAIN_H
    height = axis_y + AXIS_H
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="timeline" role="img" '
        f'aria-labelledby="tl-title tl-desc" font-family="system-ui, sans-serif" font-size="11">',
        '<title id="tl-title">Timeline of imaging, fractures, treatments and pain scores</title>',
        f'<desc id="tl-desc">{escape(_describe(timeline))}</desc>',
    ]
    ticks = _ticks(start, end)
    for index, tick in enumerate(ticks):
        tx = x(tick)
        # The outer labels hug the plot's edges so they are never cut off.
        anchor = "start" if index == 0 else ("end" if index == len(ticks) - 1 else "middle")
        parts.append(f'<line x1="{tx}" y1="{TOP}" x2="{tx}" y2="{axis_y}" stroke="{GRID}" stroke-width="1"/>')
        parts.append(
            f'<text x="{tx}" y="{axis_y + 16}" text-anchor="{anchor}" fill="{INK}">{tick.isoformat()}</text>'
        )
    today_x = x(today)
    parts.append(
        f'<line x1="{today_x}" y1="{TOP}" x2="{today_x}" y2="{axis_y}" stroke="{INK}" '
        'stroke-dasharray="3 3" stroke-width="1"/>'
    )
    parts.append(f'<text x="{today_x - 3}" y="{TOP + 8}" text-anchor="end" fill="{INK}">today</text>')
    for index, lane in enumerate(LANES):
        mid = TOP + LANE_H * index + LANE_H / 2
        parts.append(f'<text x="4" y="{mid + 4}" fill="{INK}" font-weight="600">{escape(lane)}</text>')
        parts.append(f'<line x1="{LABEL_W}" y1="{mid}" x2="{WIDTH - RIGHT_PAD}" y2="{mid}" stroke="{GRID}"/>')
        for event in (e for e in timeline.events if e.lane == lane):
            parts.append(_marker(lane, x(event.when), mid, event))
    parts.extend(_pain(timeline.pain, x, pain_top))
    parts.append(
        f'<line x1="{LABEL_W}" y1="{axis_y}" x2="{WIDTH - RIGHT_PAD}" y2="{axis_y}" stroke="{INK}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _describe(timeline: Timeline) -> str:
    counts = ", ".join(
        f"{sum(1 for e in timeline.events if e.lane == lane)} {lane.lower()}" for lane in LANES
    )
    return f"{counts}, {len(timeline.pain)} pain scores"


def _marker(lane: str, cx: float, cy: float, event: Event) -> str:
    colour = COLOURS[lane]
    tip = escape(
        f"{event.when.isoformat()}: {event.label}" + (f" ({event.reference})" if event.reference else "")
    )
    if lane == LANE_FRACTURES:
        shape = (
            f'<polygon points="{cx},{cy - 7} {cx + 7},{cy} {cx},{cy + 7} {cx - 7},{cy}" fill="{colour}" '
            'stroke="#fff" stroke-width="1"/>'
        )
    elif lane == LANE_TREATMENTS:
        shape = f'<rect x="{cx - 6}" y="{cy - 6}" width="12" height="12" fill="{colour}" stroke="#fff"/>'
    else:
        shape = f'<circle cx="{cx}" cy="{cy}" r="6.5" fill="{colour}" stroke="#fff" stroke-width="1"/>'
    return f'<g class="event"><title>{tip}</title>{shape}</g>'


def _pain(series: Sequence[tuple[date, int]], to_x: Callable[[date], float], top: float) -> list[str]:
    """The pain panel: NRS 0-10 axis and the scores as a line with labelled points."""
    bottom = top + PAIN_H - 12

    def y(score: int) -> float:
        return round(bottom - (bottom - top - 6) * max(0, min(10, score)) / 10, 1)

    parts = [f'<text x="4" y="{top + PAIN_H / 2}" fill="{INK}" font-weight="600">Pain (NRS)</text>']
    for level in (0, 5, 10):
        parts.append(
            f'<line x1="{LABEL_W}" y1="{y(level)}" x2="{WIDTH - RIGHT_PAD}" y2="{y(level)}" '
            f'stroke="{GRID}" stroke-dasharray="2 3"/>'
        )
        parts.append(
            f'<text x="{LABEL_W - 4}" y="{y(level) + 4}" text-anchor="end" fill="{INK}">{level}</text>'
        )
    if not series:
        parts.append(f'<text x="{LABEL_W + 8}" y="{y(5) - 4}" fill="{INK}">no pain scores on record</text>')
        return parts
    points = " ".join(f"{to_x(when)},{y(score)}" for when, score in series)
    parts.append(f'<polyline points="{points}" fill="none" stroke="{PAIN_COLOUR}" stroke-width="2"/>')
    for when, score in series:
        px, py = to_x(when), y(score)
        parts.append(
            f'<g class="event"><title>{when.isoformat()}: pain {score}/10</title>'
            f'<circle cx="{px}" cy="{py}" r="4" fill="{PAIN_COLOUR}"/>'
            f'<text x="{px}" y="{py - 7}" text-anchor="middle" fill="{INK}">{score}</text></g>'
        )
    return parts
