"""Release pages and the sign-off gate: a release's page (resources, preview, charts,
lineage, review, diff), a candidate's review page, approve / reject, withdraw, and the
programme's review settings."""

from __future__ import annotations

from flask import current_app, flash, g, make_response, render_template, request, url_for
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.programmes import bp
from portal.programmes.common import go_to, is_fragment_request
from portal.services import DomainError, release_pages, review
from portal.services.indicator_charts import run_charts


def _root() -> str:
    return current_app.config["PUBLISH_ROOT"]


def _page_arg() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@bp.route("/programmes/<code>/releases/<version>")
@login_required
@programme_access(access.VIEW)
def release(programme, version: str):
    """One release: resources, a paged preview per table, charts, lineage, review, diff.

    With ``HX-Request`` and ``table`` it answers the preview fragment of that table.
    """
    table = request.args.get("table")
    if table and is_fragment_request():
        page = release_pages.preview(programme, _root(), version, table, _page_arg())
        response = make_response(render_template("releases/_preview.html", programme=programme,
                                                 version=version, preview=page))
        response.vary.add("HX-Request")
        return response
    detail = release_pages.release_detail(programme, _root(), version)
    against = request.args.get("against") or None
    previews = [release_pages.preview(programme, _root(), version, r["name"],
                                      _page_arg() if r["name"] == table else 1)
                for r in detail["resources"] if r["format"] == "csv"]
    response = make_response(render_template(
        "releases/detail.html", programme=programme, release=detail, previews=previews,
        diff=release_pages.diff(programme, _root(), version, against), against=against,
        charts=run_charts(detail["run"]),
        can_withdraw=access.can(current_user, access.WITHDRAW, programme)))
    response.vary.add("HX-Request")
    return response


@bp.route("/programmes/<code>/releases/<version>/withdraw", methods=["POST"])
@login_required
@programme_access(access.WITHDRAW)
def withdraw_release(programme, version: str):
    """Withdraw a release with a reason (owners)."""
    try:
        release_pages.withdraw(programme, version, current_user, request.form.get("reason"),
                               _root(), request_id=g.request_id)
        flash(f"Release {version} withdrawn.", "success")
    except DomainError as error:
        if error.status == 404:
            raise
        flash(f"Not withdrawn: {error.message}", "error")
    return go_to(url_for("programmes.release", code=programme.code, version=version))


@bp.route("/programmes/<code>/candidates/<candidate_uuid>")
@login_required
@programme_access(access.VIEW)
def candidate(programme, candidate_uuid: str):
    """A release candidate: its files and diff, and the approve / reject forms."""
    item = review.get_candidate(programme, candidate_uuid)
    run = item.run
    refusal = access.self_review_refusal(current_user, programme,
                                         run.requested_by_id if run else None)
    return render_template(
        "releases/candidate.html", programme=programme, candidate=item,
        diff=review.candidate_diff(item, _root()) if item.status == "pending" else None,
        can_review=access.can(current_user, access.REVIEW, programme) and not refusal,
        review_reason=refusal or access.ACTION_EXPLANATIONS[access.REVIEW])


@bp.route("/programmes/<code>/candidates/<candidate_uuid>/approve", methods=["POST"])
@login_required
@programme_access(access.REVIEW)
def approve_candidate(programme, candidate_uuid: str):
    """Approve a candidate: it is published as the next version."""
    item = review.get_candidate(programme, candidate_uuid)
    try:
        version = review.approve(item, current_user, _root(), request_id=g.request_id)
    except DomainError as error:
        flash(f"Not approved: {error.message}", "error")
        return go_to(url_for("programmes.candidate", code=programme.code,
                             candidate_uuid=candidate_uuid))
    flash(f"Approved: published release {version}.", "success")
    return go_to(url_for("programmes.release", code=programme.code, version=version))


@bp.route("/programmes/<code>/candidates/<candidate_uuid>/reject", methods=["POST"])
@login_required
@programme_access(access.REVIEW)
def reject_candidate(programme, candidate_uuid: str):
    """Reject a candidate with a note: nothing is published."""
    item = review.get_candidate(programme, candidate_uuid)
    try:
        review.reject(item, current_user, request.form.get("note"), _root(),
                      request_id=g.request_id)
        flash("Rejected: the candidate was discarded.", "success")
    except DomainError as error:
        flash(f"Not rejected: {error.message}", "error")
    return go_to(url_for("programmes.candidate", code=programme.code,
                         candidate_uuid=candidate_uuid))


@bp.route("/programmes/<code>/review-settings", methods=["POST"])
@login_required
@programme_access(access.EDIT)
def review_settings(programme):
    """Turn the sign-off gate (and self-approval) on or off."""
    review.set_review_settings(
        programme, current_user,
        requires_review=request.form.get("publish_requires_review") == "on",
        allow_self_approval=request.form.get("review_allows_self_approval") == "on",
        request_id=g.request_id)
    flash("Review settings saved.", "success")
    return go_to(url_for("programmes.detail", code=programme.code))


def release_review_context(programme, releases: list) -> dict:
    """What the programme page shows of the gate besides the pending candidate
    (``queries.programme_detail`` reads it): the withdrawn versions among ``releases``
    (the published folders it lists; none, nothing to read) and whether the user may
    change the review settings."""
    return {"withdrawn_versions": release_pages.withdrawals(programme) if releases else {},
            "can_edit_review": access.can(current_user, access.EDIT, programme)}
