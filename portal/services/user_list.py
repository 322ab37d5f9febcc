"""The admin's list of users: search by e-mail or name, filter by status, numbered pages."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import User
from portal.services.filters import Page

#: Users per page of the admin list.
USERS_PER_PAGE = 50


def list_users(q: str = "", *, status: str = "", page: int = 1,
               per_page: int = USERS_PER_PAGE) -> Page:
    """One page of users ordered by e-mail, with their institutions.

    Args:
        q: text found in the e-mail or the name (case-insensitive; ``%`` and ``_`` literal).
        status: ``"active"``, ``"deactivated"``, ``"admin"`` or ``""`` (everyone).
        page / per_page: the 1-based page and its size.

    Returns:
        A Page of User with the exact total (users are few; two statements).
    """
    query = select(User)
    q = q.strip()[:100]
    if q:
        like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(User.email).like(like, escape="\\"),
                                func.lower(User.name).like(like, escape="\\")))
    if status == "active":
        query = query.where(User.active.is_(True))
    elif status == "deactivated":
        query = query.where(User.active.is_(False))
    elif status == "admin":
        query = query.where(User.is_admin.is_(True))
    total = db.session.scalar(select(func.count()).select_from(
        query.with_only_columns(User.id).subquery())) or 0
    rows = db.session.scalars(
        query.options(selectinload(User.institutions)).order_by(User.email, User.id)
        .offset((page - 1) * per_page).limit(per_page)).all()
    return Page(list(rows), page, per_page, total)
