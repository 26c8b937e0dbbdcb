"""Command-line tools: ``flask --app wsgi create-operator``, ``seed-demo``, ``import`` and ``audit``."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from webapp import audit_chain
from webapp.auth.passwords import password_problem
from webapp.database import utcnow
from webapp.extensions import db
from webapp.imports.applying import ImportRefused, apply_batch, database_refusal
from webapp.imports.batches import planner_for, problem_text, sample_rows, store_preview, summarize
from webapp.imports.files import FileRefused
from webapp.imports.planning import Options
from webapp.imports.specs import importable_models
from webapp.models import Operator, OperatorRole, RowAction
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


@click.command("import")
@click.argument("model", type=click.Choice(importable_models()))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only say what the import would do; write nothing.")
@click.option(
    "--update-matching", is_flag=True, help="Rows without an ID update the record with the same email or tag name."
)
@click.option("--create-missing-tags", is_flag=True, help="Create the tags the file names and no tag has.")
@click.option("--valid-rows", is_flag=True, help="Import the valid rows even when others are refused.")
@with_appcontext
def import_command(
    model: str, file: str, dry_run: bool, update_matching: bool, create_missing_tags: bool, valid_rows: bool
) -> None:
    """Import a CSV or .xlsx file (the export's columns) into MODEL: all or nothing unless --valid-rows."""
    path = Path(file)
    limit = current_app.config["IMPORT_MAX_MB"]
    if path.stat().st_size > limit * 1024 * 1024:
        raise click.ClickException(f"{path.name} is larger than IMPORT_MAX_MB ({limit} MB).")
    options = Options(update_matching=update_matching, create_missing_tags=create_missing_tags)
    try:
        with path.open("rb") as stream:
            planner = planner_for(model, stream, path.name, options)
            if dry_run:
                summary = summarize(planner)
                _echo_summary(summary.as_counts(), [problem_text(r.row_number, r.problems) for r in summary.refusals])
                _exit_as_the_import_would(summary.as_counts(), valid_rows)
                return
            batch = store_preview(planner, path.name, options)
        refusals = [problem_text(row.row_number, row.problems) for row in sample_rows(batch, RowAction.REFUSED)]
        _echo_summary(batch.counts, refusals)
        outcome = apply_batch(batch.id, current_app.config["DISPLAY_TIMEZONE"], valid_only=valid_rows)
        db.session.commit()
    except (FileRefused, ImportRefused) as refusal:
        db.session.rollback()
        raise click.ClickException(str(refusal)) from None
    except SQLAlchemyError as error:
        db.session.rollback()
        raise click.ClickException(database_refusal(error)) from None
    click.echo(f"Imported: {outcome.created:,} created, {outcome.updated:,} updated (batch {batch.id}).")


def _exit_as_the_import_would(counts: dict[str, int], valid_rows: bool) -> None:
    """A dry run fails where the import would (refused rows, all or nothing): a script that
    checks a file first learns it from the exit code, not only from the text."""
    refused = counts.get(RowAction.REFUSED.value, 0)
    if refused and not valid_rows:
        rows = f"{refused:,} row{'s are' if refused != 1 else ' is'} refused"
        raise click.ClickException(f"{rows}: the import would write nothing (fix them, or add --valid-rows).")


def _echo_summary(counts: dict[str, int], refusals: list[str]) -> None:
    click.echo(", ".join(f"{counts.get(action.value, 0):,} {action.value}" for action in RowAction))
    for line in refusals:
        click.echo(line, err=True)
    if counts.get(RowAction.REFUSED.value, 0) > len(refusals):
        click.echo(f"(first {len(refusals)} refusals shown)", err=True)


@click.group("audit")
def audit_group() -> None:
    """The audit trail: verify its chains, prune old entries."""


@audit_group.command("verify")
@with_appcontext
def audit_verify_command() -> None:
    """Recompute every entry's hash and every chain; name the first entry that does not match."""
    report = audit_chain.verify(current_app.config["SECRET_KEY"])
    audit_chain.record_verification(report)
    db.session.commit()
    if report.legacy_entries:
        click.echo(f"{report.legacy_entries:,} entries were written before the chain began: not covered.")
    if not report.ok:
        for mismatch in report.mismatches:
            click.echo(mismatch.message, err=True)
        raise click.ClickException(f"Mismatch found: {report.first().message}.")
    up_to = f"entry {report.verified_up_to}" if report.verified_up_to else "the start (no entries yet)"
    click.echo(f"Chains verified up to {up_to} ({report.links:,} links).")


@audit_group.command("prune")
@click.option("--batch-size", type=click.IntRange(min=1), default=10_000, show_default=True, help="Entries per batch.")
@with_appcontext
def audit_prune_command(batch_size: int) -> None:
    """Remove entries older than AUDIT_RETENTION_DAYS, a committed batch at a time (rerun to resume);
    the latest entry of each live record stays."""
    days = current_app.config["AUDIT_RETENTION_DAYS"]
    if days is None:
        raise click.ClickException("AUDIT_RETENTION_DAYS is not set: every entry is kept, nothing is pruned.")
    cutoff, secret, removed = utcnow() - timedelta(days=days), current_app.config["SECRET_KEY"], 0
    while batch := audit_chain.prune_batch(cutoff, secret, batch_size):
        db.session.commit()
        removed += batch.entries
    db.session.commit()
    click.echo(f"Pruned audit entries older than {days} days ({removed:,} removed).")


def register_cli(app: Flask) -> None:
    app.cli.add_command(audit_group)
    app.cli.add_command(create_operator_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(import_command)
