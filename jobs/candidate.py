"""Staging a release candidate for sign-off (``publish.release`` with the gate on).

The candidate holds the files a release would hold, metadata naming the version
``candidate``, and ``diff.json``: what changed since the newest release that is not
withdrawn (``portal.services.release_diff``), so the reviewer sees it before deciding.
No version is taken; ``portal.services.review`` publishes or discards the candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobs.steps.base import StepContext, StepError, StepResult
from portal.services import candidates
from portal.services.release_diff import diff_releases


def stage_candidate(ctx: StepContext, base: Path, data: Mapping[str, bytes],
                    metadata: Mapping[str, bytes], files: list[dict[str, Any]], bump: str,
                    manifest: str) -> StepResult:
    """Write the candidate to ``base/.candidates/<run uuid>/``; record it in the lineage.

    Returns:
        The step's result: ``details["staged"]`` with the candidate folder and the diff's
        headlines; the runner ends the run ``awaiting_review``.
    """
    previous = candidates.previous_good(base)
    before = candidates.read_files(base / previous, ".csv") if previous else None
    diff = diff_releases(before, data, previous, None)
    try:
        candidates.stage(base, ctx.run_uuid, {**data, **metadata,
                                              "diff.json": candidates.json_bytes(diff)})
    except (OSError, candidates.CandidateError) as exc:
        raise StepError(f"cannot stage the release candidate: {exc}") from exc
    ctx.lineage["release"] = {"staged": True, "candidate": ctx.run_uuid, "bump": bump,
                              "files": files, "previous": previous,
                              "diff_headlines": diff["headlines"]}
    rows = sum(entry["rows"] for entry in files)
    ctx.log(f"staged a release candidate for review: {len(files)} files, {rows} rows"
            f"{f'; against {previous}: ' + '; '.join(diff['headlines']) if previous else ''}")
    return StepResult(rows_in=rows, details={"staged": True, "candidate": ctx.run_uuid,
                                             "previous": previous, "files": files,
                                             "diff_headlines": diff["headlines"]},
                      output_fingerprint=manifest)
