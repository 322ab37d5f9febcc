"""``flask ops export CODE`` and ``flask ops apply FILE``: programmes as code.

Both act as a named user (``--as EMAIL`` or the ``OPS_USER`` variable) with that
user's rights, exactly as in the forms and the API, and are audited under that name.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from jobs.cli import ops_cli

AS_USER = click.option("--as", "as_user", envvar="OPS_USER", required=True,
                       help="E-mail of the acting user (or OPS_USER); their rights apply.")


def _user(email: str):
    from portal.extensions import db
    from portal.models import User

    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.active:
        raise click.ClickException(f"--as: no active user with e-mail {email}")
    return user


@ops_cli.command("export")
@click.argument("code")
@AS_USER
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: standard output).")
def export_command(code: str, as_user: str, output: Path | None) -> None:
    """Write programme CODE as a JSON document (for git; `flask ops apply` reads it)."""
    from portal import access
    from portal.extensions import db
    from portal.models import MonitoringProgramme
    from portal.services.programme_documents import export_document

    user = _user(as_user)
    programme = db.session.scalar(select(MonitoringProgramme)
                                  .where(MonitoringProgramme.code == code.strip().upper()))
    if programme is None or not access.can(user, access.VIEW, programme):
        raise click.ClickException(f"code: no programme {code!r} that {user.email} may see")
    text = json.dumps(export_document(programme), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output} ({programme.code}, version "
                   f"{export_document(programme)['version']})", err=True)


@ops_cli.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@AS_USER
@click.option("--force", is_flag=True, help="Apply even if the programme changed since the "
              "document's version (overwrites those changes).")
def apply_command(file: Path, as_user: str, force: bool) -> None:
    """Create or update a programme from a JSON document (validated and audited)."""
    from portal.services import DomainError, json_text
    from portal.services.programme_documents import apply_document, export_document
    from portal.services.programme_edit import ValidationFailed

    user = _user(as_user)
    try:
        document = json_text.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{file}: not valid JSON ({error})") from None
    try:
        applied = apply_document(document, user, force=force)
    except ValidationFailed as failed:
        lines = [f"{field}: {message}" for field, found in failed.errors.items()
                 for message in found]
        raise click.ClickException("\n".join(lines)) from None
    except DomainError as error:
        raise click.ClickException(f"{error.field or 'error'}: {error.message}") from None
    except HTTPException as error:  # access.ActionForbidden
        raise click.ClickException(error.description or "not allowed") from None
    version = export_document(applied.programme)["version"]
    if applied.created:
        click.echo(f"created {applied.programme.code} (version {version})")
    elif applied.diff:
        click.echo(f"updated {applied.programme.code}: {', '.join(sorted(applied.diff))} "
                   f"(now version {version})")
    else:
        click.echo(f"{applied.programme.code} unchanged (version {version})")
