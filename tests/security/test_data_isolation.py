"""A programme's data is its own (issue 9, part 1).

The steward of ALPHA tries every path form to read BRAVO's file: a relative path,
``..``, an absolute path, a symlink and a hard link inside ALPHA's folder, BRAVO's
code as prefix, a shared folder that is not granted, and one granted to BRAVO only.
Each attempt is pushed through a real run (the runner in this process), the rule
preview and the downloads; none may show one of BRAVO's rows or a server path. The
same runs on ALPHA's own file and on a granted shared folder show that the report
would carry the rows: the refusals are what keeps BRAVO's rows out.
"""

from __future__ import annotations

import json
import os
from html import unescape
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select

from jobs.preview import preview_rules
from jobs.tasks import execute_run
from portal.extensions import db
from portal.models import (
    AuditEvent,
    MonitoringProgramme,
    MonitoringProgrammeRun,
    SharedFolder,
    SharedFolderGrant,
)
from portal.services import DomainError
from portal.services import shared_folders as service
from tests.factories import gen_programme, gen_run, gen_steward, gen_user

SECRET = "BRAVO-SECRET-TAXON"
OWN = "Alpha own taxon"
SHARED = "Shared reference taxon"
HEADER = "site,taxon,count\n"
# Every row fails this rule, so a run that read a file puts all its rows in the report.
RULES = {"rules": [{"id": "never", "type": "allowed_values", "severity": "error",
                    "column": "taxon", "values": ["no such taxon"]}]}


def pipeline(source: str) -> dict:
    return {"steps": [{"key": "ingest", "type": "ingest.csv", "params": {"source": source}},
                      {"key": "validate", "type": "validate.rules"}]}


@pytest.fixture
def world(app):
    """ALPHA and BRAVO with their files, a shared folder granted to BRAVO only, users."""
    root = Path(app.config["DATA_ROOT"])
    for folder in ("ALPHA", "BRAVO/inbox", "common", "bravo-ref"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    secret = root / "BRAVO" / "inbox" / "20260101T000000Z-secret.csv"
    secret.write_text(HEADER + f"B1,{SECRET},7\n")
    (root / "BRAVO" / "inbox" / "latest").symlink_to(secret.name)
    (root / "ALPHA" / "own.csv").write_text(HEADER + f"A1,{OWN},3\n")
    (root / "common" / "ref.csv").write_text(HEADER + f"C1,{SHARED},1\n")
    (root / "bravo-ref" / "secret.csv").write_text(HEADER + f"R1,{SECRET},2\n")
    alpha = gen_programme("ALPHA", pipeline_definition_json=pipeline("own.csv"),
                          data_quality_rules_json=RULES)
    bravo = gen_programme("BRAVO", pipeline_definition_json=pipeline("inbox/latest"),
                          data_quality_rules_json=RULES)
    admin = gen_user("admin@x.org", is_admin=True)
    steward = gen_user("steward@x.org")
    gen_steward(alpha, steward, "steward")
    common = service.create_folder(admin, "common", "common")
    bravo_ref = service.create_folder(admin, "bravo-ref", "bravo-ref")
    service.grant(admin, bravo_ref, bravo)
    return {"root": root, "secret": secret, "alpha": alpha, "bravo": bravo, "admin": admin,
            "steward": steward, "common": common}


def run_alpha(source: str | None = None, rules: dict | None = None) -> MonitoringProgrammeRun:
    """Set ALPHA's definition as it is stored (bypassing the save checks) and run it."""
    alpha = db.session.scalar(select(MonitoringProgramme)
                              .where(MonitoringProgramme.code == "ALPHA"))
    if source is not None:
        alpha.pipeline_definition_json = pipeline(source)
    if rules is not None:
        alpha.data_quality_rules_json = rules
    db.session.commit()
    run = gen_run(alpha, status="queued")
    execute_run(run.id)
    db.session.rollback()
    return db.session.get(MonitoringProgrammeRun, run.id, populate_existing=True)


def everything_shown(app, client, run: MonitoringProgrammeRun) -> str:
    """The run as stored and as the steward can see or download it, as one text."""
    parts = [run.error_message or "", json.dumps(run.lineage_json, default=str),
             json.dumps(run.output_summary_json, default=str),
             json.dumps(run.input_summary_json, default=str)]
    for step in run.steps:
        parts += [json.dumps(step.details_json, default=str), step.log_excerpt or ""]
    for response in (client.get(f"/runs/{run.uuid}"), client.get(f"/api/v1/runs/{run.uuid}"),
                     client.get(f"/runs/{run.uuid}/openlineage.json"),
                     client.get(f"/runs/{run.uuid}/rejections.csv")):
        parts.append(response.get_data(as_text=True))
    work = Path(app.config["WORK_ROOT"]) / run.uuid
    for path in sorted(work.rglob("*")) if work.exists() else []:
        if path.suffix == ".parquet":  # the run's intermediate tables, compressed
            parts.append(pl.read_parquet(path).write_csv())
        elif path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def hard_link(world) -> str:
    os.link(world["secret"], world["root"] / "ALPHA" / "hard.csv")
    return "hard.csv"


def file_symlink(world) -> str:
    (world["root"] / "ALPHA" / "link.csv").symlink_to(world["secret"])
    return "link.csv"


def folder_symlink(world) -> str:
    (world["root"] / "ALPHA" / "bravo").symlink_to(world["root"] / "BRAVO")
    return "bravo/inbox/latest"


def relative_symlink(world) -> str:
    (world["root"] / "ALPHA" / "rel.csv").symlink_to("../BRAVO/inbox/latest")
    return "rel.csv"


def shared_symlink(world) -> str:
    """A granted shared folder holding a link into BRAVO's folder."""
    service.grant(world["admin"], world["common"], world["alpha"])
    (world["root"] / "common" / "link.csv").symlink_to(world["secret"])
    return "shared:common/link.csv"


#: name -> (the source ALPHA's steward writes, or a function making it; the run's reason)
ATTACKS = {
    "dotdot": ("../BRAVO/inbox/latest", "'..'"),
    "dotdot-inside": ("inbox/../../BRAVO/inbox/latest", "'..'"),
    "absolute": (None, "relative to DATA_ROOT/<CODE>/"),
    "code-prefix": ("BRAVO/inbox/latest", "not found under DATA_ROOT/ALPHA/"),
    "code-prefix-file": ("BRAVO/inbox/20260101T000000Z-secret.csv",
                         "not found under DATA_ROOT/ALPHA/"),
    "symlink": (file_symlink, "resolves outside DATA_ROOT/ALPHA/"),
    "relative-symlink": (relative_symlink, "resolves outside DATA_ROOT/ALPHA/"),
    "folder-symlink": (folder_symlink, "resolves outside DATA_ROOT/ALPHA/"),
    "hard-link": (hard_link, "hard link"),
    "shared-not-granted": ("shared:common/ref.csv", "'common' is not granted"),
    "shared-granted-to-bravo-only": ("shared:bravo-ref/secret.csv",
                                     "'bravo-ref' is not granted"),
    "shared-unknown": ("shared:nope/x.csv", "'nope' is not granted"),
    "shared-dotdot": ("shared:common/../BRAVO/inbox/latest", "'..'"),
    "shared-symlink": (shared_symlink, "resolves outside shared folder 'common'"),
}


def attack_source(world, name: str) -> str:
    source = ATTACKS[name][0]
    if source is None:
        return str(world["secret"])
    return source(world) if callable(source) else source


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_run_never_reads_another_programmes_file(app, client, auth, world, name):
    source = attack_source(world, name)
    run = run_alpha(source)
    auth.login("steward@x.org")
    shown = everything_shown(app, client, run)
    assert run.status == "failed", (run.status, run.error_message)
    assert ATTACKS[name][1] in run.error_message
    assert SECRET not in shown
    assert str(world["root"]) not in run.error_message
    assert str(world["root"]) not in json.dumps([s.details_json for s in run.steps])


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_vocabulary_never_reads_another_programmes_file(app, client, auth, world, name):
    source = attack_source(world, name)
    rules = {"rules": [{"id": "vocabulary", "type": "allowed_values", "severity": "error",
                        "column": "taxon", "vocabulary": {"source": source,
                                                          "column": "taxon"}}]}
    run = run_alpha("own.csv", rules)
    auth.login("steward@x.org")
    assert run.status in ("failed", "blocked"), run.status
    assert SECRET not in everything_shown(app, client, run)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_rule_preview_never_reads_another_programmes_file(app, world, name):
    source = attack_source(world, name)
    run_alpha_definition = pipeline(source)
    world["alpha"].pipeline_definition_json = run_alpha_definition
    db.session.commit()
    result = preview_rules(world["alpha"].id, RULES)
    assert result["ok"] is False
    assert ATTACKS[name][1] in result["message"]
    assert SECRET not in json.dumps(result) and str(world["root"]) not in json.dumps(result)
    vocabulary = {"rules": [{"id": "v", "type": "allowed_values", "severity": "error",
                             "column": "taxon", "vocabulary": {"source": source,
                                                               "column": "taxon"}}]}
    world["alpha"].pipeline_definition_json = pipeline("own.csv")
    db.session.commit()
    result = preview_rules(world["alpha"].id, vocabulary)
    assert SECRET not in json.dumps(result) and str(world["root"]) not in json.dumps(result)


def test_own_file_and_granted_shared_folder_are_read(app, client, auth, world):
    """The control: the same runs on readable files carry their rows to the report."""
    own = run_alpha("own.csv")
    assert own.status == "blocked" and own.lineage_json["inputs"][0]["uri"] == "own.csv"
    auth.login("steward@x.org")
    report = client.get(f"/runs/{own.uuid}/rejections.csv")
    assert report.status_code == 200 and OWN in report.get_data(as_text=True)

    service.grant(world["admin"], world["common"], world["alpha"])
    shared = run_alpha("shared:common/ref.csv")
    assert shared.status == "blocked", shared.error_message
    assert shared.lineage_json["inputs"][0]["uri"] == "shared:common/ref.csv"
    shown = everything_shown(app, client, shared)
    assert SHARED in shown and str(world["root"]) not in shown
    assert preview_rules(world["alpha"].id, RULES)["rows_rejected"] == 1


def test_a_revoked_grant_fails_the_next_run_with_the_reason(app, world):
    service.grant(world["admin"], world["common"], world["alpha"])
    assert run_alpha("shared:common/ref.csv").status == "blocked"
    service.revoke(world["admin"], world["common"], world["alpha"])
    run = run_alpha()
    assert run.status == "failed"
    assert "$.steps[0].params.source" in run.error_message
    assert "shared folder 'common' is not granted to this programme" in run.error_message


def test_saving_a_source_outside_the_programme_is_refused_with_its_json_path(
        app, client, auth, world):
    auth.login("steward@x.org")
    for source, message in (("shared:common/ref.csv", "'common' is not granted"),
                            ("shared:bravo-ref/secret.csv", "'bravo-ref' is not granted"),
                            ("../BRAVO/inbox/latest", "'..'"),
                            (str(world["secret"]), "relative to DATA_ROOT/<CODE>/")):
        response = auth.post("/programmes/ALPHA/pipeline/edit",
                             {"draft": json.dumps(pipeline(source)), "action": "save"})
        page = unescape(response.get_data(as_text=True))
        assert response.status_code == 400, source
        assert "$.steps[0].params.source" in page and message in page
    rules = {"rules": [{"id": "v", "type": "allowed_values", "severity": "error",
                        "column": "taxon", "vocabulary": {"source": "shared:common/ref.csv",
                                                          "column": "taxon"}}]}
    response = auth.post("/programmes/ALPHA/rules/edit",
                         {"draft": json.dumps(rules), "action": "save"})
    assert response.status_code == 400
    assert "$.rules[0].vocabulary.source" in response.get_data(as_text=True)
    db.session.expire_all()
    assert world["alpha"].pipeline_definition_json == pipeline("own.csv")

    service.grant(world["admin"], world["common"], world["alpha"])
    saved = auth.post("/programmes/ALPHA/pipeline/edit",
                      {"draft": json.dumps(pipeline("shared:common/ref.csv")), "action": "save"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert world["alpha"].pipeline_definition_json == pipeline("shared:common/ref.csv")


def test_admin_grants_and_revokes_through_the_admin_page_audited(app, client, auth, world):
    auth.login("steward@x.org")
    refused = auth.post("/admin/shared-folders/common/grant", {"programme": "ALPHA"})
    assert refused.status_code == 404
    with pytest.raises(DomainError, match="Only admins"):
        service.grant(world["steward"], world["common"], world["alpha"])
    auth.logout()

    auth.login("admin@x.org")
    assert auth.post("/admin/shared-folders/common/grant",
                     {"programme": "ALPHA"}).status_code == 302
    page = client.get("/admin/shared-folders").get_data(as_text=True)
    assert "common" in page and "ALPHA" in page
    assert auth.post("/admin/shared-folders/common/revoke",
                     {"programme": "ALPHA"}).status_code == 302
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == "shared_folder").order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor_label, e.object_id) for e in events][-2:] == [
        ("shared_folder_granted", "admin@x.org", "common"),
        ("shared_folder_revoked", "admin@x.org", "common")]
    assert events[-1].programme_id == world["alpha"].id
    assert db.session.scalar(select(SharedFolderGrant).where(
        SharedFolderGrant.programme_id == world["alpha"].id)) is None


def test_a_shared_folder_cannot_be_a_programmes_folder(app, client, auth, world):
    admin = world["admin"]
    for path in ("BRAVO", "bravo/inbox", "ALPHA/sub"):
        with pytest.raises(DomainError, match="own folder") as refused:
            service.create_folder(admin, f"x{len(path)}", path)
        assert refused.value.field == "path"
    for path in ("/etc", "../outside", "a/../../b"):
        with pytest.raises(DomainError) as refused:
            service.create_folder(admin, "bad", path)
        assert refused.value.field == "path"
    auth.login("admin@x.org")
    response = auth.post("/admin/shared-folders", {"name": "sneaky", "path": "BRAVO/inbox"})
    assert response.status_code == 400 and "own folder" in response.get_data(as_text=True)
    assert db.session.scalar(select(SharedFolder).where(SharedFolder.name == "sneaky")) is None
    # ... and a programme cannot take a shared folder's name as its code.
    created = auth.post("/programmes/new", {"code": "COMMON", "title": "Common",
                                            "timezone": "UTC", "refresh_cadence": "manual"})
    assert created.status_code in (400, 409)
    assert "shared folder" in created.get_data(as_text=True)


def test_clone_points_sources_at_the_clones_folder_and_refuses_ungranted_shares(
        app, client, auth, world):
    legacy = gen_programme("OLDIE", pipeline_definition_json=pipeline("OLDIE/inbox/latest"),
                           data_quality_rules_json={"rules": [
                               {"id": "v", "type": "allowed_values", "severity": "error",
                                "column": "taxon", "vocabulary": {"source": "oldie/species.csv",
                                                                  "column": "taxon"}}]})
    gen_steward(legacy, world["steward"], "owner")
    auth.login("steward@x.org")
    form = {"code": "NEWBIE", "title": "New", "timezone": "UTC", "refresh_cadence": "manual"}
    assert auth.post("/programmes/OLDIE/clone", form).status_code == 302
    clone = db.session.scalar(select(MonitoringProgramme)
                              .where(MonitoringProgramme.code == "NEWBIE"))
    assert clone.pipeline_definition_json == pipeline("inbox/latest")
    assert clone.data_quality_rules_json["rules"][0]["vocabulary"]["source"] == "species.csv"

    service.grant(world["admin"], world["common"], world["alpha"])
    world["alpha"].pipeline_definition_json = pipeline("shared:common/ref.csv")
    db.session.commit()
    gen_steward(world["alpha"], world["steward"], "owner")
    refused = auth.post("/programmes/ALPHA/clone", {**form, "code": "ALPHA-2"})
    page = unescape(refused.get_data(as_text=True))
    assert refused.status_code == 400
    assert "shared folder 'common' is not granted" in page and "does not copy" in page
    assert db.session.scalar(select(MonitoringProgramme)
                             .where(MonitoringProgramme.code == "ALPHA-2")) is None


@pytest.mark.parametrize("value", ["\x00", "x\x00", "x" * 10_000, "..", "/etc", "BRAVO"])
def test_hostile_shared_folder_input_gets_a_clear_answer(app, client, auth, world, value):
    auth.login("admin@x.org")
    for data in ({"name": value, "path": "ok"}, {"name": "ok", "path": value},
                 {"name": "ok2", "path": "ok2", "description": value}):
        response = auth.post("/admin/shared-folders", data)
        assert response.status_code in (302, 400), (data, response.status_code)
    segment = value.replace("/", "%2F")
    for action in ("grant", "revoke"):
        for url, data in ((f"/admin/shared-folders/{segment}/{action}", {"programme": "ALPHA"}),
                          (f"/admin/shared-folders/common/{action}", {"programme": value})):
            response = auth.post(url, data)
            # 308: the router's own slash clean-up; 400: a NUL byte refused up front
            assert response.status_code in (302, 308, 400, 404), (url, response.status_code)


def test_steps_reach_no_shared_folder_unless_the_definition_names_one(app, world):
    """A run reads the grants only when its definition names a shared folder; without
    them its steps get no shared folder at all, granted or not."""
    import tests.engine.steps  # noqa: F401 — registers test.shared_seen

    service.grant(world["admin"], world["common"], world["alpha"])
    seen = {"steps": [{"key": "seen", "type": "test.shared_seen"}]}
    naming = {"steps": [{"key": "ingest", "type": "ingest.csv",
                         "params": {"source": "shared:common/ref.csv"}}, *seen["steps"]]}
    given = {}
    for name, definition in (("own files only", seen), ("names common", naming)):
        alpha = db.session.scalar(select(MonitoringProgramme)
                                  .where(MonitoringProgramme.code == "ALPHA"))
        alpha.pipeline_definition_json = definition
        db.session.commit()
        run = gen_run(alpha, status="queued")
        execute_run(run.id)
        db.session.rollback()
        run = db.session.get(MonitoringProgrammeRun, run.id, populate_existing=True)
        assert run.status == "succeeded", run.error_message
        given[name] = run.steps[-1].details_json["shared_folders"]
    assert given["own files only"] == {}
    assert given["names common"] == {"common": str((world["root"] / "common").resolve())}
