"""API fixtures: the page tests' team, and a token per user on demand."""

from __future__ import annotations

import pytest

from portal.auth.tokens import create_token
from tests.views.conftest import team  # noqa: F401 — the same fixture


@pytest.fixture
def bearer(team):  # noqa: F811
    """``bearer("operator")`` → headers carrying a fresh API token of that user."""
    def make(role: str) -> dict[str, str]:
        _, secret = create_token(team["users"][role], f"{role} token")
        return {"Authorization": f"Bearer {secret}"}

    return make
