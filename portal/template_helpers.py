"""Jinja filters and globals used across templates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import Flask, g, has_request_context
from markupsafe import Markup, escape


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    """Return "in 3 h" / "5 min ago" style text for a timestamp."""
    if value is None:
        return "—"
    now = now or datetime.now(UTC)
    seconds = (value - now).total_seconds()
    future, seconds = seconds > 0, abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            break
    else:
        amount = f"{int(seconds)} s"
    return f"in {amount}" if future else f"{amount} ago"


def local_time(value: datetime | None, timezone: str = "UTC") -> str:
    """Return the timestamp as ``YYYY-MM-DD HH:MM TZ`` (zone: see :func:`viewer_zone`)."""
    if value is None:
        return "—"
    return local_time_in(timezone)(value)


def local_time_in(timezone: str | None) -> Callable[[datetime], str]:
    """:func:`local_time` for many times of one zone: the zone is looked up once."""
    zone = _zone(timezone)

    def format_local(value: datetime) -> str:
        local = value.astimezone(zone)
        return (f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
                f"{local.hour:02d}:{local.minute:02d} {local.tzname() or ''}")

    return format_local


def viewer_zone(default: str | None = "UTC") -> str:
    """The zone the person viewing the page reads times in.

    Their own choice (``User.time_zone``, set on /account/preferences) wins; without one
    (or outside a request, or signed out) it is ``default``: the zone of the programme
    the time belongs to, or UTC for the portal's own records.
    """
    if has_request_context():
        chosen = g.get("_viewer_zone", _UNREAD)
        if chosen is _UNREAD:  # read once per request: a list page formats hundreds
            from flask_login import current_user

            chosen = g._viewer_zone = getattr(current_user, "time_zone", None)
        if chosen:
            return chosen
    return default or "UTC"


_UNREAD = object()


@lru_cache(maxsize=64)
def _zone_named(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except Exception:  # an unknown zone name: fall back rather than fail a page
        return None


def _zone(timezone: str | None) -> ZoneInfo:
    return (_zone_named(viewer_zone(timezone)) or _zone_named(timezone or "UTC")
            or _zone_named("UTC"))


_NO_TIME = Markup('<span class="muted">—</span>')


def _clock(value: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (what ``strftime`` gives, at half its cost: a list page
    formats a hundred times)."""
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
            f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}")


def _exact(value: datetime) -> str:
    """The exact ISO 8601 time in UTC, to the second (``isoformat(timespec="seconds")``)."""
    utc = value.astimezone(UTC)
    return (f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
            f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}+00:00")


def _local(value: datetime, timezone: str | None) -> str:
    """``YYYY-MM-DD HH:MM:SS ZONE`` in the zone :func:`_zone` picks."""
    local = value.astimezone(_zone(timezone))
    return f"{_clock(local)} {escape(local.tzname() or '')}"


def timestamp(value: datetime | None, timezone: str | None = "UTC") -> Markup:
    """A timestamp by the portal's one rule for times (docs/api.md, "Times").

    Shown in the viewer's own time zone when they chose one, otherwise in ``timezone``
    (the zone of the programme it belongs to; UTC for the portal's own records), as
    ``YYYY-MM-DD HH:MM:SS ZONE``, in a ``<time datetime>`` whose tooltip is the exact
    ISO 8601 time in UTC.
    """
    if value is None:
        return _NO_TIME
    if value.tzinfo is None:  # SQLite hands back naive datetimes; the portal stores UTC
        value = value.replace(tzinfo=UTC)
    exact = _exact(value)
    return Markup(f'<time datetime="{exact}" title="{exact} (UTC)">'
                  f'{_local(value, timezone)}</time>')


def ago(value: datetime | None, timezone: str | None = "UTC") -> Markup:
    """A relative time ("5 min ago") whose tooltip is the :func:`timestamp` text."""
    if value is None:
        return _NO_TIME
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # The relative text is made of digits and fixed words, the local text escaped.
    return Markup(f'<time datetime="{_exact(value)}" title="{_local(value, timezone)}">'
                  f'{relative_time(value)}</time>')


# The small pieces every list row shows, as Python rather than Jinja macros: a page calls
# them a hundred times, and a macro call costs several times a function call.
_NEVER_RUN = Markup('<span class="muted">never run</span>')
_DRY_RUN = Markup('<span class="badge dry-run" title="Dry run: nothing published, no alerts, '
                  'schedule untouched">dry run</span>')


def status(value: str | None) -> Markup:
    """A run status badge ("never run" when there is none)."""
    if not value:
        return _NEVER_RUN
    value = escape(value)
    return Markup(f'<span class="badge status-{value}"><span class="dot" aria-hidden="true">'
                  f"</span>{value}</span>")


def dry(run: object) -> Markup:
    """The "dry run" badge for a run that is one (nothing otherwise)."""
    return _DRY_RUN if getattr(run, "dry_run", False) else Markup("")


def severity(value: str | None) -> Markup:
    """A severity badge."""
    value = escape(value)
    return Markup(f'<span class="badge sev-{value}">{value}</span>')


def duration(seconds: float | None) -> str:
    """Return a short human duration, e.g. ``1 min 5 s`` or ``320 ms``."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


#: The main navigation, in order: (endpoint, label, the blueprints and endpoints of its
#: section). ``ADMIN_NAV`` follows for admins.
MAIN_NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("programmes.index", "Programmes", ("programmes", "authoring", "runs.programme_runs",
                                        "notifications.webhook_list",
                                        "notifications.expected_delivery")),
    ("runs.index", "Runs", ("runs.detail",)),
    ("alerts.index", "Alerts", ("alerts",)),
    ("metrics.page", "Metrics", ("metrics",)),
    ("health.index", "Health", ("health",)),
    ("audit.index", "Audit log", ("audit",)),
    ("account.tokens", "API tokens", ("account.tokens",)),
    ("notifications.settings", "Notifications", ("notifications.settings",)),
    ("authoring.reference", "Docs", ()),
)
ADMIN_NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("admin.users", "Users", ("admin.user_detail",)),
    ("admin.institutions", "Institutions", ()),
    ("admin.shared_folders", "Shared folders", ()),
)


def main_nav() -> Markup:
    """The main navigation's links (and the admin's, for an admin).

    A link is ``aria-current="page"`` on its own page and ``"true"`` inside its section
    (the Docs page belongs to no section). Built here rather than by a macro per link:
    every page shows it, and a dozen macro calls and URL builds were a tenth of a page.
    """
    from flask import current_app, request, url_for
    from flask_login import current_user

    endpoint, blueprint = request.endpoint, request.blueprint
    urls = current_app.extensions.setdefault("nav_urls", {}).setdefault(
        request.script_root, {})
    links = MAIN_NAV + (ADMIN_NAV if getattr(current_user, "is_admin", False) else ())
    parts = []
    for target, label, section in links:
        url = urls.get(target)
        if url is None:
            url = urls[target] = url_for(target)
        here = endpoint == target
        within = (not here and endpoint != "authoring.reference"
                  and (endpoint in section or blueprint in section))
        current = ' aria-current="page"' if here else ' aria-current="true"' if within else ""
        parts.append(f'<a href="{escape(url)}"{current}>{escape(label)}</a>')
    return Markup("\n      ".join(parts))


def register_template_helpers(app: Flask) -> None:
    """Register the filters."""
    app.jinja_env.filters["relative_time"] = relative_time
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["timestamp"] = timestamp  # the one rule for showing a time
    app.jinja_env.filters["ago"] = ago
    # ``when(value, tz)``: the relative time of the ``ago`` filter, called as a function.
    app.jinja_env.globals.update(when=ago, status=status, dry=dry, severity=severity,
                                 main_nav=main_nav)

    from portal.services.step_usage import usage_sentence

    # What a step actually used, in one sentence (runs/_live.html).
    app.jinja_env.filters["usage_sentence"] = usage_sentence

    def can_create_programme() -> bool:
        from flask_login import current_user

        from portal.access import can_create_programme as decide

        return decide(current_user)

    app.jinja_env.globals["can_create_programme"] = can_create_programme

    from portal.services.indicator_charts import release_charts, run_charts

    # Index charts (TRIM, MSI) drawn by the page's own include: templates/indicators/.
    app.jinja_env.globals.update(run_charts=run_charts, release_charts=release_charts)
