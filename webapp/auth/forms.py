"""Sign-in and password forms; the password fields are shared by the operators admin."""

from typing import Any

from flask_wtf import FlaskForm
from wtforms import EmailField, Field, PasswordField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, ValidationError

from webapp.auth.passwords import MIN_LENGTH, password_problem


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def acceptable_password(form: Any, field: Field) -> None:
    """The shared password policy; the email it must not contain is the operator's."""
    email = form.email.data if "email" in form else getattr(form, "operator_email", "")
    problem = password_problem(field.data or "", email or "")
    if problem:
        raise ValidationError(problem)


def new_password_fields() -> dict[str, Field]:
    """The new-password pair every form that sets one shares (reset by an admin, the operator's
    own change), so the strength rules are stated once."""
    return {
        "password": PasswordField(
            "Password",
            validators=[InputRequired(), Length(max=1024), acceptable_password],
            description=f"At least {MIN_LENGTH} characters, not a common password, not containing the email.",
            render_kw={"autocomplete": "new-password"},
        ),
        "password_confirm": PasswordField(
            "Repeat the password",
            validators=[InputRequired(), EqualTo("password", message="The two passwords differ.")],
            render_kw={"autocomplete": "new-password"},
        ),
    }


class OperatorPasswordForm(FlaskForm):
    """A form about one operator's password; knows the email the password must not contain."""

    def __init__(self, operator_email: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.operator_email = operator_email


ResetPasswordForm = type("ResetPasswordForm", (OperatorPasswordForm,), new_password_fields())
ChangePasswordForm = type(
    "ChangePasswordForm",
    (OperatorPasswordForm,),
    {
        "current_password": PasswordField(
            "Current password",
            validators=[InputRequired(), Length(max=1024)],
            render_kw={"autocomplete": "current-password"},
        ),
        **new_password_fields(),
    },
)
