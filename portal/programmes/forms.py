"""Forms of the programme pages (WTForms; the services do the domain validation)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Regexp

from portal.models import STEWARD_ROLES
from portal.services.licences import HINT as LICENCE_HINT


class ProgrammeForm(FlaskForm):
    """The steward's edit form; JSON fields are text validated against their schemas."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", render_kw={"rows": 3})
    refresh_cadence = StringField(
        "Cadence", validators=[DataRequired()],
        description="manual, daily, weekly, monthly, quarterly, annual, ad_hoc, "
                    "or a cron expression such as 0 6 * * 1")
    timezone = StringField("Time zone", validators=[DataRequired()],
                           description="An IANA name such as Europe/Madrid")
    scheduler_enabled = BooleanField("Scheduler on (start runs when the cadence falls due)")
    pipeline_definition = TextAreaField("Pipeline definition (JSON)",
                                        render_kw={"rows": 14, "spellcheck": "false"})
    data_quality_rules = TextAreaField("Data-quality rules (JSON)",
                                       render_kw={"rows": 14, "spellcheck": "false"})
    lineage_notes = TextAreaField("Lineage notes", render_kw={"rows": 4})
    licence = StringField("Release licence", validators=[Length(max=300)],
                          description=LICENCE_HINT)
    max_attempts = StringField(
        "Attempts per run", validators=[Length(max=10)], render_kw={"inputmode": "numeric"},
        description="When a worker is lost (killed, crashed, redeployed) the run is retried "
                    "until it has had this many attempts; 1 never retries. Data failures "
                    "are never retried.")


class StewardForm(FlaskForm):
    """Assign a user a role on the programme."""

    email = StringField("User e-mail", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=list(STEWARD_ROLES))


class DeactivateStewardForm(FlaskForm):
    """Deactivate one assignment."""

    steward_id = HiddenField(validators=[
        DataRequired(), Regexp(r"^[0-9]{1,9}$", message="That assignment does not exist.")])
