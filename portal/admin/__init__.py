"""Administration: users, institutions and memberships (admins only)."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

from portal.admin import shared_folders, views  # noqa: E402,F401
