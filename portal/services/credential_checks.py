"""Checking the credentials a pipeline names against what the deployment declares.

Called when a definition is saved (create, edit, editors), when a run is queued and
again when a run starts (``jobs.runner``), after the schema check: a step may name only
a declared credential, and only for a URL on one of that credential's hosts. Errors
carry the JSON path of the field, like the schema's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal.credentials import Credential, declared_credentials, url_host_port
from portal.services.pipeline_spec import SpecError


def credential_errors(definition: Any,
                      credentials: Mapping[str, Credential] | None = None) -> list[SpecError]:
    """Problems with the credentials ``definition`` names (empty when there are none).

    Args:
        definition: a pipeline definition (schema-valid or not: odd shapes are skipped).
        credentials: the declared credentials (default: the current app's).

    Returns:
        One SpecError per step naming an unknown credential, or a credential whose hosts
        do not include the step's URL host.
    """
    steps = definition.get("steps") if isinstance(definition, dict) else None
    if not isinstance(steps, list):
        return []
    errors = []
    for index, step in enumerate(steps):
        params = step.get("params") if isinstance(step, dict) else None
        name = params.get("credential") if isinstance(params, dict) else None
        if not isinstance(name, str):
            continue
        if credentials is None:  # read only when a step names one (no app needed otherwise)
            credentials = declared_credentials()
        path = f"$.steps[{index}].params.credential"
        credential = credentials.get(name)
        if credential is None:
            declared = ", ".join(sorted(credentials)) or "none (PORTAL_CREDENTIALS is empty)"
            errors.append(SpecError(path, f"unknown credential {name!r}; declared: {declared}"))
            continue
        url = params.get("url")
        if not isinstance(url, str) or not credential.allows(url):
            host, port = url_host_port(url) if isinstance(url, str) else ("", None)
            target = f"{host}:{port}" if port else (host or "no host")
            errors.append(SpecError(
                path, f"credential {name!r} may be sent only to {credential.hosts_text()}; "
                f"the url's host {target} is not one of them"))
    return errors
