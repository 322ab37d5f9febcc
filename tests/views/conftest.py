"""Fixtures for the page tests: a programme with a user in every role."""

from __future__ import annotations

import pytest

from tests.factories import gen_institution, gen_programme, gen_steward, gen_user

PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.csv", "params": {"source": "birds.csv"}},
    {"key": "richness", "type": "compute.species_richness", "params": {}},
]}
RULES = {"rules": [{"id": "taxon-present", "type": "not_null", "severity": "error",
                    "column": "scientificName"}]}


@pytest.fixture
def team(app):
    """``BIRDS`` with owner/steward/operator/reviewer, a member, an outsider and an admin."""
    inst = gen_institution("ORNI")
    programme = gen_programme("BIRDS", title="Breeding bird atlas", institutions=[inst],
                              pipeline_definition_json=PIPELINE, data_quality_rules_json=RULES,
                              timezone="Europe/Madrid", refresh_cadence="weekly")
    users = {"admin": gen_user("admin@x.org", is_admin=True),
             "member": gen_user("member@x.org", institutions=[inst]),
             "outsider": gen_user("outsider@x.org")}
    for role in ("owner", "steward", "operator", "reviewer"):
        users[role] = gen_user(f"{role}@x.org")
        gen_steward(programme, users[role], role)
    return {"programme": programme, "users": users}
