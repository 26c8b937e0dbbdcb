"""Managing operators (admins only): create with a first password, change role, deactivate,
reset a password. Password hashes are never shown, exported or audited."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.model.template import EndpointLinkRowAction
from sqlalchemy import func, select
from werkzeug.wrappers import Response
from wtforms import Field, Form, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, ValidationError

from webapp import audit
from webapp.admin.base import AdminModelView
from webapp.admin.inputs.selection import as_ids
from webapp.auth import sessions, throttle
from webapp.auth.forms import ResetPasswordForm, new_password_fields
from webapp.extensions import db
from webapp.formatting import format_datetime
from webapp.models import AuditAction, Operator, OperatorRole

LAST_ADMIN = (
    "{operator} is the last active admin: make another operator an active admin first, "
    "or nobody could manage operators any more."
)


def unique_operator_email(form: Any, field: Field) -> None:
    """Emails are unique whatever their case (the database index says so too, less politely)."""
    clash = db.session.scalar(select(Operator.id).where(func.lower(Operator.email) == (field.data or "").lower()))
    editing = getattr(form, "_obj", None)
    if clash is not None and (editing is None or clash != editing.id):
        raise ValidationError("Another operator already has this email.")


def ensure_an_active_admin_remains(operator: Operator) -> None:
    """Refuse a change that would leave no active admin.

    The active admins' rows are locked (in id order, so concurrent changes queue rather than
    deadlock) before counting: two admins demoting each other at once cannot both succeed.
    """
    if operator.is_active and operator.role == OperatorRole.ADMIN:
        return
    active_admins = db.session.scalars(
        select(Operator.id)
        .where(Operator.role == OperatorRole.ADMIN, Operator.is_active.is_(True))
        .order_by(Operator.id)
        .with_for_update()
    ).all()
    if not [operator_id for operator_id in active_admins if operator_id != operator.id]:
        raise ValidationError(LAST_ADMIN.format(operator=operator.email))


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class OperatorView(AdminModelView):
    required_role = OperatorRole.ADMIN
    # Operators are deactivated, never deleted: their audit entries keep pointing at them.
    can_delete = False
    can_export = False

    column_list = ("email", "role", "is_active", "last_login_at", "created_at")
    column_details_list = ("email", "role", "is_active", "last_login_at", "created_at", "updated_at")
    column_labels = {
        "is_active": "Active",
        "last_login_at": "Last sign-in",
        "created_at": "Created",
        "updated_at": "Updated",
    }
    column_searchable_list = ("email",)
    column_filters = ("role", "is_active")
    column_default_sort = "email"
    column_formatters = {
        "role": lambda view, context, operator, name: operator.role.label,
        "last_login_at": lambda view, context, operator, name: format_datetime(operator.last_login_at) or "never",
        "created_at": lambda view, context, operator, name: format_datetime(operator.created_at),
    }
    column_formatters_detail = {
        **column_formatters,
        "updated_at": lambda view, context, operator, name: format_datetime(operator.updated_at),
    }
    column_extra_row_actions = [EndpointLinkRowAction("fa fa-key", ".reset_password", title="Reset password")]

    form_columns = ("email", "role", "is_active")
    # Flask-Admin's enum field keys choices by member *name* and passes tuples (deprecated in
    # WTForms 3.3); the role is chosen by its stored value instead.
    form_overrides = {"role": SelectField}
    form_args = {
        "role": {"choices": [SelectChoice(role.value, role.label) for role in OperatorRole], "coerce": OperatorRole},
        "email": {"validators": [DataRequired(), Email(), Length(max=254), unique_operator_email], "filters": [_strip]},
        "is_active": {"label": "Active (may sign in)"},
    }

    def get_create_form(self) -> type[Form]:
        return type("CreateOperatorForm", (super().get_create_form(),), new_password_fields())

    def on_model_change(self, form: Any, model: Operator, is_created: bool) -> None:
        if is_created:
            model.set_password(form.password.data)
        else:
            ensure_an_active_admin_remains(model)
        super().on_model_change(form, model, is_created)

    @action(
        "end_sessions",
        "End sessions",
        "Sign the selected operators out of every browser? They can sign in again.",
    )
    def action_end_sessions(self, ids: list[str]) -> Response:
        """Sign operators out everywhere (a lost laptop, a leaked cookie) without changing who
        they are; audited like any change to an operator."""
        operators = db.session.scalars(select(Operator).where(Operator.id.in_(as_ids(ids))).order_by(Operator.id)).all()
        for operator in operators:
            sessions.end_all(operator.id)
            audit.record(AuditAction.UPDATE, operator, summary=f"Ended the sessions of “{operator}”")
        db.session.commit()
        flash(f"Ended the sessions of {', '.join(operator.email for operator in operators)}.", "success")
        return redirect(self.get_url(".index_view"))

    @expose("/password/", methods=("GET", "POST"))
    def reset_password(self) -> str | Response:
        operator = self.get_one(request.args.get("id", ""))
        if operator is None:
            flash("That operator does not exist.", "error")
            return redirect(self.get_url(".index_view"))
        form = ResetPasswordForm(operator_email=operator.email)
        if form.validate_on_submit():
            operator.set_password(form.password.data)
            throttle.clear_account(operator.email)
            audit.record(AuditAction.UPDATE, operator, summary=f"Reset the password of “{operator}”")
            db.session.commit()
            flash(f"The password of {operator.email} has been reset.", "success")
            return redirect(self.get_url(".index_view"))
        return self.render(
            "admin/operators/reset_password.html", form=form, operator=operator, return_url=url_for(".index_view")
        )
