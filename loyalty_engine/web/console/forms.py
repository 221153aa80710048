"""The console's forms (Flask-WTF: each carries its CSRF token). Business rules stay in the domain."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ...console.passwords import MAX_LENGTH, MIN_LENGTH
from ...models.console import ROLES

ROLE_CHOICES = [SelectChoice(role, role.replace("_", " ")) for role in ROLES]


class SignInForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=MAX_LENGTH)])
    new_password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH)])
    confirm = PasswordField("New password again", validators=[EqualTo("new_password", "the passwords differ")])


class UserForm(FlaskForm):
    """Create (with a password) or edit a user. Manufacturer and category choices are filled by the view."""

    username = StringField("User name", validators=[DataRequired(), Length(min=2, max=64)])
    display_name = StringField("Display name", validators=[Optional(), Length(max=200)])
    role = SelectField("Role", choices=ROLE_CHOICES)
    manufacturer_id = SelectField("Manufacturer (manufacturer users)", choices=[], validate_choice=False)
    categories = SelectMultipleField("Categories (category managers)", choices=[], validate_choice=False)
    password = PasswordField("Initial password", validators=[Optional(), Length(max=MAX_LENGTH)])


class PasswordResetForm(FlaskForm):
    new_password = PasswordField("New password", validators=[DataRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH)])


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class StoreForm(FlaskForm):
    store_id = StringField("Store id", validators=[DataRequired(), Length(max=32)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    timezone = StringField("Time zone (IANA)", validators=[DataRequired(), Length(max=64)])
    address_line = StringField("Address", validators=[Optional(), Length(max=200)])
    city = StringField("City", validators=[Optional(), Length(max=100)])
    region = StringField("Region", validators=[Optional(), Length(max=50)])
    postal_code = StringField("Postal code", validators=[Optional(), Length(max=20)])


class LaneKeyForm(FlaskForm):
    store_id = SelectField("Store", choices=[], validate_choice=True)
    lane_code = StringField("Lane", validators=[DataRequired(), Length(max=16)])


class MakerCheckerForm(FlaskForm):
    maker_checker = BooleanField("Maker-checker: offers need an approver other than their submitter")
