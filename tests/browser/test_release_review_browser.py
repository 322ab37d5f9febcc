"""A reviewer walks through the sign-off gate in Chromium: a run waits for review, the
reviewer reads the candidate's diff and approves it (release page), then rejects the
next candidate with a note (nothing published)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.services.runs import queue_run
from tests.browser.test_portal_browser import sign_in
from tests.engine.conftest import wait_final
from tests.factories import gen_programme, gen_steward, gen_user

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow]
PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.csv", "params": {"source": "counts.csv"}},
    {"key": "richness", "type": "compute.species_richness",
     "params": {"taxon": "species", "site": "plot", "period": "year"}},
    {"key": "publish", "type": "publish.release", "params": {"name": "ants"}},
]}


def write_counts(roots: Path, rows: str) -> None:
    folder = roots / "data" / "ANTS"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "counts.csv").write_text("year,plot,species\n" + rows)


def test_reviewer_approves_then_rejects(app, roots, page, worker):
    programme = gen_programme("ANTS", pipeline_definition_json=PIPELINE,
                              publish_requires_review=True)
    operator, reviewer = gen_user("op@x.org"), gen_user("rev@x.org")
    gen_steward(programme, operator, "operator")
    gen_steward(programme, reviewer, "reviewer")
    write_counts(roots, "2020,1,Pheidole\n2020,2,Myrmica\n")
    first = wait_final(queue_run(programme, operator).run.id)
    assert first.status == "awaiting_review"

    sign_in(page, "rev@x.org")
    page.goto("/programmes/ANTS")
    page.get_by_role("link", name=re.compile("review the candidate")).click()
    expect(page.locator("#diff")).to_contain_text("No earlier release")
    page.get_by_role("button", name="Approve and publish").click()
    page.wait_for_url(re.compile(r"/programmes/ANTS/releases/1\.0$"))
    expect(page.locator("#review-record")).to_contain_text("rev@x.org")
    expect(page.locator("#resources")).to_contain_text("richness.csv")

    write_counts(roots, "2020,1,Pheidole\n2020,2,Myrmica\n2020,2,Lasius\n")
    second = wait_final(queue_run(programme, operator).run.id)
    assert second.status == "awaiting_review"
    page.goto("/alerts")
    page.get_by_text("awaits review").first.wait_for()
    page.goto("/programmes/ANTS")
    page.get_by_role("link", name=re.compile("review the candidate")).click()
    expect(page.locator("#diff")).to_contain_text("1 row changed (species_richness")
    page.get_by_label("Why reject it?").fill("Lasius is a misidentification")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#decision")).to_contain_text("Lasius is a misidentification")
    releases = Path(app.config["PUBLISH_ROOT"]) / "ANTS"
    assert sorted(p.name for p in releases.iterdir() if p.name[0].isdigit()) == ["1.0"]
    assert page.csp == []
