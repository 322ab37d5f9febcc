"""The run timeline says what each step used: a validation flags rows and removes none;
an indicator says how many rows it used, why others were left out, and how many of the
rows it used had failed rules."""

from __future__ import annotations

from portal.extensions import db
from portal.models import MonitoringProgrammeRunStep
from tests.factories import gen_run


def add_step(run, ordering, key, step_type, **fields):
    db.session.add(MonitoringProgrammeRunStep(run_id=run.id, ordering=ordering, step_key=key,
                                              step_type=step_type, status="succeeded",
                                              **fields))
    db.session.commit()


def test_the_timeline_never_suggests_flagged_rows_were_dropped(team, client, auth):
    run = gen_run(team["programme"], status="succeeded")
    add_step(run, 0, "validate", "validate.rules", rows_in=20000, rows_out=20000,
             rows_rejected=195,
             details_json={"usage": {"table": "occurrence", "rows": 20000, "flagged": 195}})
    add_step(run, 1, "abundance", "compute.abundance", rows_in=20000, rows_out=40,
             rows_rejected=0,
             details_json={"usage": {"table": "occurrence", "rows": 20000, "used": 20000,
                                     "excluded": {},
                                     "flagged_used": {"rows": 195, "rules": {"dup-id": 195}}}})
    add_step(run, 2, "richness", "compute.species_richness", rows_in=20000, rows_out=30,
             rows_rejected=195,
             details_json={"usage": {"table": "clean", "rows": 20000, "used": 19805,
                                     "excluded": {"count_missing": 195},
                                     "flagged_used": {"rows": 0, "rules": {}}}})
    auth.login("reviewer@x.org")
    text = " ".join(client.get(f"/runs/{run.uuid}").get_data(as_text=True).split())

    assert ("checked 20,000 rows of occurrence: 195 failed a rule and are flagged, not "
            "removed") in text
    assert ("used all 20,000 rows of occurrence; includes 195 rows that failed rules in the "
            "validation (dup-id: 195), flagged but not removed") in text
    assert "used 19,805 of 20,000 rows of clean (195 excluded — count missing: 195)" in text
    assert "· rejected" not in text  # no step shows the old "out … rejected …" line
