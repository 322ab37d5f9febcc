"""Admin forms."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length


class UserForm(FlaskForm):
    """Create a user."""

    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254)])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("Initial password", validators=[DataRequired(), Length(min=10)])
    is_admin = BooleanField("Administrator")


class InstitutionForm(FlaskForm):
    """Create an institution."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    code = StringField("Code", validators=[DataRequired(), Length(max=40)])


class MembershipForm(FlaskForm):
    """Add a user to an institution or remove them."""

    institution = SelectField("Institution", coerce=int)
    action = SelectField("Action", choices=[SelectChoice("add", "Add"),
                                            SelectChoice("remove", "Remove")])


class ActiveForm(FlaskForm):
    """Activate or deactivate a user."""

    active = SelectField("Status", choices=[SelectChoice("1", "Active"),
                                            SelectChoice("0", "Deactivated")])
