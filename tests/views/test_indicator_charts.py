"""TRIM and MSI charts on the run page and on the programme page (latest release)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from pathlib import Path

from jobs.registry import get_step
from portal.extensions import db
from portal.models import MonitoringProgrammeRunStep, utcnow
from tests.factories import gen_run
from tests.jobs.test_trim_step import PARAMS, context, count_table


def step_details(tmp_path) -> dict[str, dict]:
    """Real details of a compute.trim and a compute.msi step on a small count table."""
    ctx = context(tmp_path, "trim", PARAMS, {"counts": count_table()})
    trimmed = get_step("compute.trim")(ctx)
    ctx.tables.update(trimmed.tables)
    ctx.step_key, ctx.params = "farmland", {"group": "farmland birds", "nsim": 200}
    combined = get_step("compute.msi")(ctx)
    return {"trim": trimmed.details, "farmland": combined.details}


def run_with_charts(programme, details, **fields):
    run = gen_run(programme, finished_at=utcnow(), **fields)
    for ordering, (key, step_type) in enumerate((("trim", "compute.trim"),
                                                 ("farmland", "compute.msi"))):
        db.session.add(MonitoringProgrammeRunStep(
            run_id=run.id, ordering=ordering, step_key=key, step_type=step_type,
            status="succeeded", details_json=details[key]))
    db.session.commit()
    return run


def publish_folders(client, programme, *versions: str) -> None:
    """The release folders a publish leaves under PUBLISH_ROOT (what the page lists)."""
    root = Path(client.application.config["PUBLISH_ROOT"]) / programme.code
    for version in versions:
        (root / version).mkdir(parents=True, exist_ok=True)
        (root / version / "datapackage.json").write_text("{}")


def figures(page: str) -> list[str]:
    labels = re.findall(r'<svg [^>]*class="index-chart"[^>]*aria-label="([^"]*)"', page)
    return [unescape(label) for label in labels]


def test_the_run_page_shows_each_taxons_index_and_the_msi(team, client, auth, tmp_path):
    details = step_details(tmp_path)
    run = run_with_charts(team["programme"], details)
    auth.login("reviewer@x.org")
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)

    labels = figures(page)
    verdicts = {chart["title"]: chart["verdict"] for chart in details["trim"]["charts"]}
    msi_verdict = details["farmland"]["verdict"]
    # The MSI first, then one chart per fitted taxon, each named with its verdict.
    assert labels == [f"farmland birds: {msi_verdict}",
                      f"Alauda arvensis: {verdicts['Alauda arvensis']}",
                      f"Parus major: {verdicts['Parus major']}"]
    assert "decline" in verdicts["Alauda arvensis"].lower()
    assert "Otis tarda" not in labels  # insufficient data: no chart, no guessed index
    section = page[page.index('id="indicator-charts"'):]
    assert 'class="chart-band"' in section and 'class="chart-smooth"' in section
    # The CSP forbids inline scripts and style attributes: the charts use neither.
    svg = section[:section.index("</section>")]
    assert "<script" not in svg and "style=" not in svg


def test_the_programme_page_shows_the_latest_releases_charts(team, client, auth, tmp_path):
    details = step_details(tmp_path)
    programme = team["programme"]
    auth.login("member@x.org")
    assert 'id="indicator-charts"' not in client.get("/programmes/BIRDS").get_data(as_text=True)

    older = run_with_charts(programme, details, lineage_json={"release": {"version": "1.0"}})
    older.finished_at = utcnow() - timedelta(days=2)
    run_with_charts(programme, details, lineage_json={"release": {"version": "1.1"}})
    # A later dry run publishes nothing: the page keeps showing release 1.1.
    run_with_charts(programme, details, dry_run=True, lineage_json={"release": None})
    db.session.commit()
    # Nothing on disk (never published, or the folders were removed): no release to chart.
    assert 'id="indicator-charts"' not in client.get("/programmes/BIRDS").get_data(as_text=True)

    publish_folders(client, programme, "1.0", "1.1")
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert "release 1.1" in page
    assert len(figures(page)) == 3


def test_a_run_without_indicators_has_no_chart_section(team, client, auth):
    run = gen_run(team["programme"])
    auth.login("reviewer@x.org")
    assert 'id="indicator-charts"' not in client.get(f"/runs/{run.uuid}").get_data(as_text=True)


def test_the_reference_page_explains_trim_and_the_msi(team, client, auth):
    auth.login("reviewer@x.org")
    page = client.get("/docs").get_data(as_text=True)
    trim_section = page[page.index('id="compute.trim"'):]
    trim_section = trim_section[:trim_section.index("</section>")]
    assert "How it works" in trim_section and "Pannekoek" in trim_section
    assert "Model 3" in trim_section and "overdispersion" in trim_section
    msi_section = page[page.index('id="compute.msi"'):]
    assert "Soldaat" in msi_section[:msi_section.index("</section>")]


def test_a_review_gated_release_and_a_withdrawal_move_the_programme_charts(
        team, client, auth, tmp_path):
    """Charts follow the newest live version: an approved candidate's run counts as a
    release, and a withdrawn version falls back to the one before it."""
    from portal.models import ReleaseCandidate, ReleaseWithdrawal

    details = step_details(tmp_path)
    programme = team["programme"]
    run_with_charts(programme, details, lineage_json={"release": {"version": "1.0"}})
    gated = run_with_charts(programme, details, status="awaiting_review",
                            lineage_json={"release": {"staged": True}})
    gated.steps[0].details_json = {**details["trim"], "charts": details["trim"]["charts"][:1]}
    db.session.add(ReleaseCandidate(programme_id=programme.id, run_id=gated.id,
                                    status="approved", folder="x", version="1.1",
                                    decided_at=utcnow()))
    db.session.commit()
    publish_folders(client, programme, "1.0", "1.1")
    auth.login("member@x.org")

    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert "release 1.1" in page
    assert len(figures(page)) == 2  # the approved run's charts: its MSI and one taxon

    db.session.add(ReleaseWithdrawal(programme_id=programme.id, version="1.1", reason="bad"))
    db.session.commit()
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    assert "release 1.1" not in page and "release 1.0" in page
    assert len(figures(page)) == 3
