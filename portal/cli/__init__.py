"""Flask CLI commands of the portal: ``flask users ...`` and ``flask demo ...``.

The worker, scheduler and operations commands (``flask jobs``, ``flask ops``) live in
``jobs.cli`` and are registered through the ``flask.commands`` entry point, so the
portal never imports ``jobs``.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.services import DomainError

users_cli = AppGroup("users", help="Manage user accounts.")
demo_cli = AppGroup("demo", help="Demo data.")
docs_cli = AppGroup("docs", help="Generated documentation.")


@docs_cli.command("build")
@click.option("--check", is_flag=True, help="Fail if docs/reference.md is out of date.")
def build_docs_command(check: bool) -> None:
    """Write docs/reference.md from the step and rule schemas."""
    from portal.services.reference import reference_markdown

    target = Path(current_app.root_path).parent / "docs" / "reference.md"
    text = reference_markdown()
    if check:
        if not target.exists() or target.read_text() != text:
            raise click.ClickException(f"{target} is out of date: run `flask docs build`.")
        click.echo(f"{target} is up to date")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    click.echo(f"wrote {target}")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def create_user_command(email: str, name: str, password: str, admin: bool) -> None:
    """Create a user account."""
    from portal.services.users import create_user

    try:
        user = create_user(email, name, password, is_admin=admin)
    except DomainError as error:
        raise click.ClickException(f"{error.field or 'error'}: {error.message}") from error
    click.echo(f"created {user.email}{' (admin)' if admin else ''}")


@users_cli.command("reset-password")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--keep/--must-change", default=False,
              help="Let the user keep this password (default: they must change it at sign-in).")
def reset_password_command(email: str, password: str, keep: bool) -> None:
    """Set a user's password and sign them out everywhere (for a forgotten password)."""
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import User
    from portal.services.passwords import reset_password

    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"email: no user with e-mail {email}")
    try:
        reset_password(user, password, must_change=not keep)
    except DomainError as error:
        messages = getattr(error, "problems", {}).get(error.field, [error.message])
        raise click.ClickException(f"{error.field or 'error'}: {' '.join(messages)}") from error
    click.echo(f"password reset for {user.email}; every session ended"
               + ("" if keep else "; a new password must be chosen at the next sign-in"))


@demo_cli.command("seed")
def seed_command() -> None:
    """Create demo institutions, users, programmes and data files (idempotent)."""
    from portal.services.demo import DEMO_PASSWORD, USERS, seed

    summary = seed(Path(current_app.config["DATA_ROOT"]))
    click.echo(
        "demo seed: {institutions} institutions, {users} users, {programmes} programmes, "
        "{files} data files created".format(**summary)
    )
    click.echo(f"demo accounts (password: {DEMO_PASSWORD}):")
    for email, name, is_admin, _ in USERS:
        click.echo(f"  {email:<24} {name}{'  [admin]' if is_admin else ''}")


def register_cli(app: Flask) -> None:
    """Attach the portal's command groups to ``app``."""
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(docs_cli)
    from portal.cli.shared_folders import shared_folders_cli

    app.cli.add_command(shared_folders_cli)
