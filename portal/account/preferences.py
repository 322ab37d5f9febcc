"""The signed-in user's display preferences: the time zone they read times in."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from portal.account import bp
from portal.programmes.common import apply_error
from portal.services import DomainError
from portal.services.preferences import DEFAULT_LABEL, set_time_zone, time_zone_names


class PreferencesForm(FlaskForm):
    """The time zone select; the service checks the value (it names the field)."""

    time_zone = SelectField(
        "Time zone", validate_choice=False,
        description="Every time in the portal is shown in this zone, with the zone's "
                    "abbreviation; the tooltip keeps the exact UTC time. The default shows a "
                    "programme's times in the programme's zone and everything else in UTC.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone.choices = [SelectChoice("", DEFAULT_LABEL),
                                  *(SelectChoice(n, n) for n in time_zone_names())]


@bp.route("/account/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    """Show and change the signed-in user's time zone."""
    user = current_user._get_current_object()
    form = PreferencesForm(data={"time_zone": user.time_zone or ""})
    status = 200
    if form.validate_on_submit():
        try:
            changed = set_time_zone(user, form.time_zone.data)
        except DomainError as error:
            apply_error(form, error)
            status = 400
        else:
            if changed:
                flash(f"Times are now shown in {user.time_zone or DEFAULT_LABEL}.", "success")
            return redirect(url_for("account.preferences"))
    elif form.is_submitted():
        status = 400
    return render_template("account/preferences.html", form=form,
                           now=datetime.now(UTC)), status
