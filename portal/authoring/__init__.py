"""Programme authoring: create, clone, archive; the data inbox; pipeline and rule
editors with rule preview; the generated step and rule reference (/docs)."""

from flask import Blueprint

bp = Blueprint("authoring", __name__)

from portal.authoring import editors, views  # noqa: E402,F401
