"""``flask shared-folders ...``: create, list, grant and revoke shared folders.

Each change is made in an admin's name (``--by``), so the audit trail says who.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import MonitoringProgramme, User
from portal.services import DomainError
from portal.services import shared_folders as service

shared_folders_cli = AppGroup("shared-folders", help="Shared folders granted to programmes.")
BY = click.option("--by", "by_email", required=True, help="E-mail of the admin acting.")


def _admin(email: str) -> User:
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if user is None:
        raise click.ClickException(f"no user {email}")
    return user


def _programme(code: str) -> MonitoringProgramme:
    programme = db.session.scalar(select(MonitoringProgramme)
                                  .where(func.upper(MonitoringProgramme.code) == code.upper()))
    if programme is None:
        raise click.ClickException(f"no programme {code}")
    return programme


def _run(action) -> None:
    try:
        action()
    except DomainError as error:
        raise click.ClickException(f"{error.field or 'error'}: {error.message}") from error


@shared_folders_cli.command("list")
def list_command() -> None:
    """List shared folders with the programmes they are granted to."""
    for folder in service.list_folders():
        codes = sorted(grant.programme.code for grant in folder.grants)
        click.echo(f"{folder.name}\t{folder.path}\t{', '.join(codes) or '-'}")


@shared_folders_cli.command("create")
@click.argument("name")
@click.argument("path")
@click.option("--description", default="")
@BY
def create_command(name: str, path: str, description: str, by_email: str) -> None:
    """Create shared folder NAME at PATH (relative to DATA_ROOT)."""
    _run(lambda: service.create_folder(_admin(by_email), name, path, description))
    click.echo(f"created shared folder {name}")


@shared_folders_cli.command("grant")
@click.argument("name")
@click.argument("code")
@BY
def grant_command(name: str, code: str, by_email: str) -> None:
    """Grant shared folder NAME to programme CODE."""
    _run(lambda: service.grant(_admin(by_email), service.get_folder(name), _programme(code)))
    click.echo(f"granted {name} to {code.upper()}")


@shared_folders_cli.command("revoke")
@click.argument("name")
@click.argument("code")
@BY
def revoke_command(name: str, code: str, by_email: str) -> None:
    """Revoke shared folder NAME from programme CODE."""
    _run(lambda: service.revoke(_admin(by_email), service.get_folder(name), _programme(code)))
    click.echo(f"revoked {name} from {code.upper()}")
