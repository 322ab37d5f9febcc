"""Authoring forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length


class ProgrammeForm(FlaskForm):
    """Create (or clone into) a programme."""

    code = StringField("Code", validators=[DataRequired(), Length(max=40)],
                       description="Capital letters, digits, '-' or '_', e.g. BIRD-ATLAS.")
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Length(max=5000)])
    timezone = StringField("Time zone", default="UTC", validators=[DataRequired()],
                           description="An IANA name such as Europe/Madrid.")
    refresh_cadence = StringField("Cadence", default="manual", validators=[DataRequired()],
                                  description="manual, daily, weekly, monthly, quarterly, "
                                              "annual, ad_hoc, or a cron expression.")
    scheduler_enabled = BooleanField("Start runs on this cadence")
    institutions = SelectMultipleField("Operating institutions", coerce=int)
    stewards = TextAreaField("First stewards", validators=[Length(max=5000)],
                             description="One per line: e-mail and role (owner, steward, "
                                         "operator or reviewer). You become an owner.")

    def steward_lines(self) -> list[tuple[str, str]]:
        """Parse the stewards text into (email, role) pairs; bad lines raise ValueError."""
        pairs = []
        for number, line in enumerate((self.stewards.data or "").splitlines(), start=1):
            parts = line.replace(",", " ").split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ValueError(f"Line {number}: write an e-mail and a role, e.g. "
                                 "'sam@example.org steward'.")
            pairs.append((parts[0], parts[1].lower()))
        return pairs


class UploadForm(FlaskForm):
    """Upload a file to a programme's inbox."""

    file = FileField("Data file", validators=[FileRequired("Choose a file to upload.")],
                     description="CSV, TSV, a Darwin Core Archive (.zip) or a Frictionless "
                                 "data package (.zip).")
