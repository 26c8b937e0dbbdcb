"""Command-line tools: ``flask --app wsgi create-operator`` and ``flask --app wsgi seed-demo``."""

from __future__ import annotations

import sys

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from webapp.auth.passwords import password_problem
from webapp.extensions import db
from webapp.models import Operator, OperatorRole
from webapp.seed import DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD, ensure_demo_operator, seed_demo


@click.command("create-operator")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([role.value for role in OperatorRole]),
    default="viewer",
    show_default=True,
    help="What the operator may do.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_operator_command(email: str, role: str, password_stdin: bool) -> None:
    """Create an operator who can sign in to the admin."""
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None
    taken = db.session.scalar(select(Operator.id).where(func.lower(Operator.email) == email.lower()))
    if taken:
        raise click.ClickException(f"An operator with the email {email} already exists.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, email)
    if problem:
        raise click.ClickException(problem)
    operator = Operator(email=email, role=OperatorRole(role))
    operator.set_password(password)
    db.session.add(operator)
    db.session.commit()
    click.echo(f"Created {role} operator {email}.")


@click.command("seed-demo")
@click.option(
    "--tasks",
    type=click.IntRange(min=0),
    default=500,
    show_default=True,
    help="How many tasks the demo data should hold (existing rows count).",
)
@click.option(
    "--with-operator", is_flag=True, help=f"Also create the demo admin {DEMO_OPERATOR_EMAIL} (development only)."
)
@with_appcontext
def seed_demo_command(tasks: int, with_operator: bool) -> None:
    """Fill the database with realistic demo data; running it again only tops it up."""
    if with_operator and current_app.config["APP_ENV"] == "production":
        raise click.ClickException("The demo operator is refused in production; use create-operator.")
    report = seed_demo(db.session, tasks)
    click.echo(
        f"Demo data: {report.users:,} users, {report.tags:,} tags, {report.tasks:,} tasks, {report.posts:,} posts."
    )
    if with_operator:
        ensure_demo_operator(db.session)
        click.echo(f"Sign in as {DEMO_OPERATOR_EMAIL} with the password {DEMO_OPERATOR_PASSWORD}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_operator_command)
    app.cli.add_command(seed_demo_command)
