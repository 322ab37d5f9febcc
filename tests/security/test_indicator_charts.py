"""Hostile taxon and group names reach the index charts only as escaped text.

Taxon names come from uploaded data and the MSI group from a steward's pipeline: both
are drawn into SVG on the run page and written into release files. Neither may
inject markup, script or an inline style (the CSP forbids them; escaping must too).
"""

from __future__ import annotations

from html.parser import HTMLParser

import polars as pl

from jobs.registry import get_step
from portal.extensions import db
from portal.models import MonitoringProgrammeRunStep, utcnow
from portal.services.charts import index_chart
from tests.factories import gen_programme, gen_run, gen_steward, gen_user
from tests.jobs.test_trim_step import PARAMS, context, count_table

HOSTILE = '<script>alert(1)</script>"><svg onload=alert(2) style="x">&'


def hostile_run_details(tmp_path) -> tuple[dict, dict, object]:
    table = count_table().with_columns(
        pl.when(pl.col("species") == "Parus major").then(pl.lit(HOSTILE))
        .otherwise(pl.col("species")).alias("species"))
    ctx = context(tmp_path, "trim", PARAMS, {"counts": table})
    trimmed = get_step("compute.trim")(ctx)
    ctx.tables.update(trimmed.tables)
    ctx.step_key, ctx.params = "msi", {"group": HOSTILE, "nsim": 100}
    combined = get_step("compute.msi")(ctx)
    ctx.tables.update(combined.tables)
    return trimmed.details, combined.details, ctx


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, [name for name, _ in attrs]))


def assert_inert(markup: str) -> None:
    """No real element is a script, and no real element has an event or style attribute."""
    parser = _Elements()
    parser.feed(markup)
    assert parser.elements, "no markup at all"
    for tag, attributes in parser.elements:
        assert tag != "script", tag
        assert not [a for a in attributes if a.startswith("on") or a == "style"], (tag, attributes)
    assert markup.count("<svg") == sum(1 for tag, _ in parser.elements if tag == "svg")


def test_the_renderer_escapes_titles_and_ignores_non_numbers():
    svg = index_chart({"title": HOSTILE, "subtitle": HOSTILE, "verdict": HOSTILE,
                       "time": [2001, 2002], "value": [1.0, "<b>"],
                       "lower": [0.5, None], "upper": [1.5, float("nan")]})
    assert_inert(svg)
    assert "&lt;script&gt;" in svg and "<b>" not in svg


def test_hostile_names_on_the_run_page_and_in_the_release_are_escaped(app, client, auth,
                                                                       tmp_path):
    trim_details, msi_details, ctx = hostile_run_details(tmp_path)
    programme = gen_programme("HOSTILE")
    reviewer = gen_user("reviewer@hostile.org")
    gen_steward(programme, reviewer, "reviewer")
    run = gen_run(programme, finished_at=utcnow())
    for ordering, (key, kind, details) in enumerate((("trim", "compute.trim", trim_details),
                                                     ("msi", "compute.msi", msi_details))):
        db.session.add(MonitoringProgrammeRunStep(run_id=run.id, ordering=ordering,
                                                  step_key=key, step_type=kind,
                                                  status="succeeded", details_json=details))
    db.session.commit()
    auth.login("reviewer@hostile.org")
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    section = page[page.index('id="indicator-charts"'):]
    section = section[:section.index("</section>")]
    assert section.count('class="index-chart"') == 3
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert_inert(section)

    ctx.step_key, ctx.params = "publish", {"name": "hostile"}
    get_step("publish.release")(ctx)
    release = tmp_path / "publish" / "TRIMTEST" / "1.0"
    names = sorted(p.name for p in release.glob("*.svg"))
    assert all("/" not in name and not name.startswith(".") for name in names)
    assert len(names) == 3
    for path in release.glob("*.svg"):
        assert_inert(path.read_text())
