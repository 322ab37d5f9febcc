"""Server-rendered SVG pictures of runs: a step Gantt chart and a strip of recent outcomes.

Drawn like ``portal.services.charts``: no script and no ``style`` attribute (the CSP
forbids inline styles); shapes carry classes that ``portal.css`` styles plus SVG
presentation attributes (``fill``) so the picture reads without the stylesheet. Every
text is escaped; positions are computed numbers, never input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from typing import Any

WIDTH, ROW, LABEL, RIGHT, AXIS = 640, 22, 150, 64, 22
STATUS_FILL = {"succeeded": "#2d9d5b", "failed": "#d1363b", "blocked": "#c77c02",
               "cancelled": "#8a94a3", "running": "#1f6feb", "queued": "#b8c2cf",
               "pending": "#dde2e8", "skipped": "#dde2e8"}
INK, MUTED, LINE = "#1d2733", "#5f6b7a", "#dde2e8"


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def step_gantt(steps: Sequence[Any], now: datetime) -> str:
    """A Gantt chart of a run's steps: one bar per step from its start, as long as it took.

    Args:
        steps: step rows (``step_key``, ``status``, ``started_at``, ``finished_at``,
            ``duration_seconds``, ``details_json``) in order.
        now: the end of a step still running.
    Returns:
        An SVG document (empty string when no step has started).
    """
    timed = [s for s in steps if s.started_at]
    if not timed:
        return ""
    origin = min(s.started_at for s in timed)
    end = max((s.finished_at or now) for s in timed)
    span = max((end - origin).total_seconds(), 1e-3)
    plot = WIDTH - LABEL - RIGHT
    height = AXIS + ROW * len(steps) + 6
    label = f"Step timeline: {len(steps)} steps over {_seconds(span)}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
             f'class="gantt-chart" role="img" aria-label="{escape(label)}">',
             f"<title>{escape(label)}</title>"]
    for k in range(5):
        x = LABEL + plot * k / 4
        parts.append(f'<line x1="{_fmt(x)}" x2="{_fmt(x)}" y1="{AXIS - 4}" y2="{height}" '
                     f'class="gantt-grid" stroke="{LINE}"/>'
                     f'<text x="{_fmt(x)}" y="{AXIS - 8}" text-anchor="middle" font-size="11" '
                     f'class="gantt-axis" fill="{MUTED}">{_seconds(span * k / 4)}</text>')
    for index, step in enumerate(steps):
        y = AXIS + ROW * index
        status = step.status if step.status in STATUS_FILL else "pending"
        reused = bool((step.details_json or {}).get("reused_from"))
        parts.append(f'<text x="{LABEL - 8}" y="{y + 15}" text-anchor="end" font-size="12" '
                     f'class="gantt-label" fill="{INK}">{escape(str(step.step_key)[:22])}</text>')
        if not step.started_at:
            note = "reused from the parent run" if reused else status
            parts.append(f'<text x="{LABEL + 4}" y="{y + 15}" font-size="11" '
                         f'class="gantt-note" fill="{MUTED}">{escape(note)}</text>')
            continue
        start = (step.started_at - origin).total_seconds()
        took = ((step.finished_at or now) - step.started_at).total_seconds()
        x, width = LABEL + plot * start / span, max(plot * took / span, 2.0)
        tip = f"{step.step_key}: {status}, {_seconds(took)}"
        parts.append(f'<rect x="{_fmt(x)}" y="{y + 3}" width="{_fmt(width)}" height="{ROW - 6}" '
                     f'rx="2" class="gantt-bar gantt-{status}" fill="{STATUS_FILL[status]}">'
                     f"<title>{escape(tip)}</title></rect>"
                     f'<text x="{_fmt(x + width + 4)}" y="{y + 15}" font-size="11" '
                     f'class="gantt-duration" fill="{MUTED}">{_seconds(took)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def outcome_strip(runs: Sequence[Any], link: Callable[[Any], str],
                  when: Callable[[Any], str] | None = None) -> str:
    """A strip of run outcomes, oldest to newest, each square linking to its run.

    Args:
        runs: run rows (``uuid``, ``status``, ``dry_run``, ``queued_at``), newest first.
        link: the URL of a run's page.
        when: how a time is written in the tooltips (default: UTC, to the minute).
    """
    when = when or (lambda moment: moment.strftime("%Y-%m-%d %H:%M UTC"))
    if not runs:
        return ""
    cell, gap = 12, 3
    ordered = list(reversed(runs))
    width = len(ordered) * (cell + gap)
    counts: dict[str, int] = {}
    for run in ordered:
        counts[run.status] = counts.get(run.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    label = f"Last {len(ordered)} runs, oldest first: {summary}"
    # A labelled group, not an image: its cells are links, which role="img" would hide.
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {cell}" '
             f'width="{width}" height="{cell}" class="outcome-strip" role="group" '
             f'aria-label="{escape(label)}"><title>{escape(label)}</title>']
    for index, run in enumerate(ordered):
        status = run.status if run.status in STATUS_FILL else "pending"
        queued = when(run.queued_at) if run.queued_at else ""
        tip = f"{run.uuid[:8]} {status}{' (dry run)' if run.dry_run else ''} {queued}"
        parts.append(f'<a href="{escape(link(run))}"><rect x="{index * (cell + gap)}" y="0" '
                     f'width="{cell}" height="{cell}" rx="2" '
                     f'class="strip-cell strip-{status}{" strip-dry" if run.dry_run else ""}" '
                     f'fill="{STATUS_FILL[status]}"><title>{escape(tip)}</title></rect></a>')
    parts.append("</svg>")
    return "".join(parts)
