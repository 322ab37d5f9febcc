"""The pipeline and rules editors: add, remove, reorder with form fields; errors next to
the field; saving goes through schema validation and is audited."""

from __future__ import annotations

import json
import re
from html import unescape

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent
from portal.services import editor
from portal.services.pipeline_spec import validate_rules
from portal.services.reference import RULE_EXAMPLES, reference_entries, reference_markdown
from tests.factories import gen_programme, gen_steward, gen_user

DRAFT_RE = re.compile(r'<textarea id="draft" name="draft"[^>]*>(.*?)</textarea>', re.S)


def draft_of(response) -> dict:
    match = DRAFT_RE.search(response.get_data(as_text=True))
    assert match, "no draft on the page"
    return json.loads(unescape(match.group(1)))


def post(auth, kind: str, draft: dict, action: str, **fields):
    return auth.post(f"/programmes/P/{kind}/edit",
                     {"draft": json.dumps(draft), "action": action, **fields})


def test_pipeline_editor_adds_reorders_removes_and_saves(app, client, auth):
    programme = gen_programme("P")
    gen_steward(programme, gen_user("st@x.org"), "steward")
    auth.login("st@x.org")
    assert client.get("/programmes/P/pipeline/edit").status_code == 200
    draft = {"steps": []}
    shown = post(auth, "pipeline", draft, "choose", type="ingest.csv")
    assert 'name="p_source"' in shown.get_data(as_text=True)
    draft = draft_of(post(auth, "pipeline", draft, "add", type="ingest.csv", key="ingest",
                          p_source="snails/occurrence.csv"))
    draft = draft_of(post(auth, "pipeline", draft, "add", type="compute.species_richness",
                          key="richness", p_site="locality", p_period="year"))
    draft = draft_of(post(auth, "pipeline", draft, "add", type="validate.rules", key="validate"))
    assert [s["key"] for s in draft["steps"]] == ["ingest", "richness", "validate"]
    draft = draft_of(post(auth, "pipeline", draft, "up:2"))
    assert [s["key"] for s in draft["steps"]] == ["ingest", "validate", "richness"]
    draft = draft_of(post(auth, "pipeline", draft, "remove:2"))
    assert draft["steps"][0] == {"key": "ingest", "type": "ingest.csv",
                                 "params": {"source": "snails/occurrence.csv"}}
    saved = post(auth, "pipeline", draft, "save")
    assert saved.status_code == 302
    db.session.expire_all()
    assert programme.pipeline_definition_json == draft
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "programme_updated"))
    assert "pipeline_definition_json" in event.metadata_json["diff"]


def test_editor_errors_name_the_field(app, client, auth):
    programme = gen_programme("P")
    gen_steward(programme, gen_user("st@x.org"), "steward")
    auth.login("st@x.org")
    missing = post(auth, "pipeline", {"steps": []}, "add", type="ingest.csv", key="ingest")
    assert missing.status_code == 400 and "source is required" in missing.get_data(as_text=True)
    traversal = {"steps": [{"key": "i", "type": "ingest.csv", "params": {"source": "../etc"}}]}
    refused = post(auth, "pipeline", traversal, "save")
    assert refused.status_code == 400
    assert "$.steps[0].params.source" in refused.get_data(as_text=True)
    broken = auth.post("/programmes/P/pipeline/edit", {"draft": "{not json", "action": "save"})
    assert broken.status_code == 400 and "not valid JSON" in broken.get_data(as_text=True)
    db.session.expire_all()
    assert programme.pipeline_definition_json == {"steps": []}


def test_rules_editor_builds_typed_rules(app, client, auth):
    programme = gen_programme("P")
    gen_steward(programme, gen_user("st@x.org"), "owner")
    auth.login("st@x.org")
    draft = draft_of(post(auth, "rules", {"rules": []}, "add", type="range", rule_id="count",
                          severity="warning", tolerance="0.95", p_column="individualCount",
                          p_min="1", p_max="10000"))
    assert draft["rules"] == [{"id": "count", "type": "range", "severity": "warning",
                               "tolerance": 0.95, "column": "individualCount", "min": 1,
                               "max": 10000}]
    draft = draft_of(post(auth, "rules", draft, "add", type="required_columns",
                          rule_id="cols", severity="critical", p_columns="a, b"))
    assert draft["rules"][1]["columns"] == ["a", "b"]
    bad = post(auth, "rules", draft, "add", type="range", rule_id="x", severity="error",
               p_column="c", p_min="lots")
    assert bad.status_code == 400 and "is not a number" in bad.get_data(as_text=True)
    assert post(auth, "rules", draft, "save").status_code == 302
    db.session.expire_all()
    assert validate_rules(programme.data_quality_rules_json) == []
    assert len(programme.data_quality_rules_json["rules"]) == 2


def test_reviewer_cannot_open_the_editors(app, client, auth):
    programme = gen_programme("P")
    gen_steward(programme, gen_user("rev@x.org"), "reviewer")
    auth.login("rev@x.org")
    assert client.get("/programmes/P/pipeline/edit").status_code == 403
    assert post(auth, "rules", {"rules": []}, "save").status_code == 403


def test_every_rule_example_is_valid():
    for entry in reference_entries():
        if entry.kind == "rule":
            assert entry.name in RULE_EXAMPLES, entry.name
            assert validate_rules({"rules": [entry.example]}) == [], entry.name


def test_reference_lists_every_type_and_the_committed_copy_is_current(app, client, auth):
    from pathlib import Path

    from portal.services.pipeline_spec import BUILTIN_STEP_TYPES, RULE_TYPES

    gen_user("any@x.org")
    auth.login("any@x.org")
    page = client.get("/docs").get_data(as_text=True)
    for name in [*BUILTIN_STEP_TYPES, *RULE_TYPES]:
        assert f"<code>{name}</code>" in page
    committed = Path(app.root_path).parent / "docs" / "reference.md"
    assert committed.read_text() == reference_markdown(), "run `flask docs build`"


def test_move_and_remove_ignore_out_of_range():
    draft = {"steps": [{"key": "a"}, {"key": "b"}]}
    assert editor.move(draft, "steps", 0, -1) == draft
    assert editor.remove(draft, "steps", 5) == draft
    assert editor.move(draft, "steps", 0, 1)["steps"] == [{"key": "b"}, {"key": "a"}]
