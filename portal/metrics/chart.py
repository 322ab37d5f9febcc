"""A small server-rendered SVG chart of run durations over time (no JavaScript)."""

from __future__ import annotations

import math
from datetime import datetime
from html import escape

from portal.template_helpers import duration

WIDTH, HEIGHT = 960, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
COLOURS = {"succeeded": "#1a7f37", "failed": "#cf222e", "blocked": "#8250df",
           "cancelled": "#9a6700", "awaiting_review": "#0969da"}


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def duration_chart(points: list[tuple[datetime, float, str]], title: str) -> str:
    """Return an accessible SVG scatter plot of ``(finished_at, seconds, status)``.

    Each point is coloured by status and carries a ``<title>`` tooltip; the axes show
    time (first and last dates) and duration ticks.
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-labelledby="chart-title" class="chart">',
             f'<title id="chart-title">{escape(title)}</title>',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
             f'stroke="#dde2e8"/>']
    if not points:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                     f'fill="#5f6b7a">No finished runs in this window.</text></svg>')
        return "".join(parts)
    start, end = points[0][0].timestamp(), points[-1][0].timestamp()
    span = max(end - start, 1.0)
    top = _nice_max(max(seconds for _, seconds, _ in points))
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#eef1f4"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#5f6b7a">{escape(duration(value))}</text>')
    for label, x, anchor in ((points[0][0], LEFT, "start"),
                             (points[-1][0], WIDTH - RIGHT, "end")):
        parts.append(f'<text x="{x}" y="{HEIGHT - 12}" text-anchor="{anchor}" font-size="11" '
                     f'fill="#5f6b7a">{label:%Y-%m-%d %H:%M} UTC</text>')
    for when, seconds, status in points:
        x = LEFT + plot_w * (when.timestamp() - start) / span
        y = TOP + plot_h - plot_h * min(seconds / top, 1.0)
        colour = COLOURS.get(status, "#5f6b7a")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}" '
                     f'fill-opacity="0.75"><title>{when:%Y-%m-%d %H:%M} · {escape(status)} · '
                     f'{escape(duration(seconds))}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)
