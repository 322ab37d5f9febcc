"""Server-rendered SVG charts of indices over time (TRIM per taxon, multi-species indicators).

One function, :func:`index_chart`, draws a chart spec (see
``jobs.indicators.chart_specs``): the index as a line with points, its 95% band as a
shaded area, an optional smoothed trend (dashed) and the verdict of the overall trend.
No script and no ``style`` attribute (the CSP forbids inline styles): shapes carry
classes that ``portal.css`` styles on the portal's pages, plus SVG presentation
attributes (``fill``, ``stroke``) so that the same file also reads on its own in a
release. Every text is escaped; numbers are formatted, never pasted from input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT = 480, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 46, 30
INK, MUTED, LINE, BAND, ACCENT = "#1d2733", "#5f6b7a", "#dde2e8", "#cfe0fb", "#1f6feb"
VERDICT_TONES = (("increase", "up"), ("decline", "down"), ("stable", "flat"))


def _axis(value: float) -> tuple[float, float]:
    """``(top, step)``: a round grid step (1, 2, 2.5 or 5 × 10^k) and the top above ``value``."""
    if not value > 0:
        return 1.0, 0.25
    rough = value / 4
    exponent = 10 ** math.floor(math.log10(rough))
    step = next(m * exponent for m in (1, 2, 2.5, 5, 10) if rough <= m * exponent)
    return step * math.ceil(value / step - 1e-9), step


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"


def verdict_tone(verdict: str | None) -> str:
    """A CSS modifier for a verdict: up, down, flat or unknown."""
    text = (verdict or "").lower()
    return next((tone for word, tone in VERDICT_TONES if word in text), "unknown")


def _points(xs: Sequence[float], ys: Sequence[float | None]) -> list[tuple[float, float]]:
    return [(x, float(y)) for x, y in zip(xs, ys, strict=False)
            if isinstance(y, int | float) and math.isfinite(y)]


def _x_ticks(times: Sequence[int]) -> list[int]:
    if len(times) <= 6:
        return list(times)
    step = math.ceil((len(times) - 1) / 5)
    ticks = list(times[::step])
    return ticks if ticks[-1] == times[-1] else [*ticks, times[-1]]


def index_chart(spec: Mapping[str, Any], *, standalone: bool = False) -> str:
    """Return an accessible SVG chart of one index series.

    Args:
        spec: ``title``, ``subtitle``, ``time``, ``value``, ``lower``, ``upper``,
            optional ``smoothed`` and ``verdict`` (see ``jobs.indicators.chart_specs``).
        standalone: add the XML declaration (a file of its own in a release).
    """
    times = [int(t) for t in spec.get("time") or []]
    title, verdict = str(spec.get("title") or ""), spec.get("verdict")
    label = f"{title}: {verdict}" if verdict else title
    parts = [('<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""),
             f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'class="index-chart" role="img" aria-label="{escape(label)}">',
             f"<title>{escape(label)}</title>",
             f'<text x="{LEFT}" y="18" class="chart-title" font-size="14" font-weight="600" '
             f'fill="{INK}">{escape(title)}</text>',
             f'<text x="{LEFT}" y="34" class="chart-subtitle" font-size="11" fill="{MUTED}">'
             f'{escape(str(spec.get("subtitle") or ""))}</text>']
    if verdict:
        parts.append(f'<text x="{WIDTH - RIGHT}" y="18" text-anchor="end" font-size="12" '
                     f'class="chart-verdict verdict-{verdict_tone(verdict)}" fill="{INK}">'
                     f'{escape(str(verdict))}</text>')
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for key in ("value", "upper", "smoothed") for _, v in
              _points(times, spec.get(key) or [])]
    if len(times) < 2 or not values:
        parts.append(f'<text x="{WIDTH / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
                     f'class="chart-empty" fill="{MUTED}">No index to draw.</text></svg>')
        return "".join(parts)
    top, step = _axis(max(values))
    span = times[-1] - times[0]

    def x(t: float) -> float:
        return LEFT + plot_w * (t - times[0]) / span

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * min(max(v, 0.0), top) / top

    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" '
                 f'class="chart-frame" fill="#fff" stroke="{LINE}"/>')
    for k in range(round(top / step) + 1):
        value = step * k
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_fmt(y(value))}" '
                     f'y2="{_fmt(y(value))}" class="chart-grid" stroke="#eef1f4"/>'
                     f'<text x="{LEFT - 6}" y="{_fmt(y(value) + 4)}" text-anchor="end" '
                     f'font-size="11" class="chart-axis" fill="{MUTED}">{_label(value)}</text>')
    for t in _x_ticks(times):
        parts.append(f'<text x="{_fmt(x(t))}" y="{HEIGHT - 10}" text-anchor="middle" '
                     f'font-size="11" class="chart-axis" fill="{MUTED}">{t}</text>')
    upper = _points(times, spec.get("upper") or [None] * len(times))
    lower = _points(times, spec.get("lower") or [None] * len(times))
    if upper and len(upper) == len(lower):
        outline = [*upper, *reversed(lower)]
        parts.append('<polygon class="chart-band" fill="' + BAND + '" points="'
                     + " ".join(f"{_fmt(x(t))},{_fmt(y(v))}" for t, v in outline) + '"/>')
    smoothed = _points(times, spec.get("smoothed") or [None] * len(times))
    if smoothed:
        parts.append('<polyline class="chart-smooth" fill="none" stroke="' + INK
                     + '" stroke-dasharray="5 4" points="'
                     + " ".join(f"{_fmt(x(t))},{_fmt(y(v))}" for t, v in smoothed) + '"/>')
    series = _points(times, spec.get("value") or [])
    parts.append('<polyline class="chart-line" fill="none" stroke="' + ACCENT
                 + '" stroke-width="2" points="'
                 + " ".join(f"{_fmt(x(t))},{_fmt(y(v))}" for t, v in series) + '"/>')
    bounds = {t: (lo, hi) for (t, lo), (_, hi) in zip(lower, upper, strict=False)}
    for t, v in series:
        lo, hi = bounds.get(t, (None, None))
        band = f" (95% {lo:.3g}–{hi:.3g})" if lo is not None and hi is not None else ""
        parts.append(f'<circle cx="{_fmt(x(t))}" cy="{_fmt(y(v))}" r="3" class="chart-point" '
                     f'fill="{ACCENT}"><title>{t}: {v:.3g}{band}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)
