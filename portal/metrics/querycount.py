"""A request-scoped SQL statement counter, exposed as ``X-Query-Count`` (when enabled)."""

from __future__ import annotations

from flask import Flask, Response, g, has_request_context
from sqlalchemy import event

from portal.extensions import db


def init_query_counter(app: Flask) -> None:
    """Count statements per request and add the ``X-Query-Count`` response header.

    Only active when ``SQL_QUERY_COUNT_HEADER`` is set: it exists for the benchmark and
    for tests that prove a page's query count does not grow with its rows.
    """
    if not app.config.get("SQL_QUERY_COUNT_HEADER"):
        return
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def count_statement(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if has_request_context():
            g.sql_query_count = g.get("sql_query_count", 0) + 1

    @app.before_request
    def reset_count() -> None:
        g.sql_query_count = 0

    @app.after_request
    def add_header(response: Response) -> Response:
        response.headers["X-Query-Count"] = str(g.get("sql_query_count", 0))
        return response
