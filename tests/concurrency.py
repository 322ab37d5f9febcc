"""Run the same action in several threads at once, as concurrent requests or processes do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from portal.extensions import db


def at_once(app: Any, action: Callable[[], Any], threads: int, *,
            join_seconds: float = 120) -> list[Any]:
    """Call ``action`` from ``threads`` threads released together by a barrier.

    Each thread waits at the barrier before it touches the connection pool, then runs
    ``action`` in its own app context (its own session and connection) and removes the
    session afterwards. Returns what the calls returned, in the order they finished; a
    call that raised returns nothing (the test sees fewer results).
    """
    results: list[Any] = []
    barrier = threading.Barrier(threads)

    def run() -> None:
        barrier.wait(30)
        with app.app_context():
            try:
                results.append(action())
            finally:
                db.session.remove()

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(join_seconds)
    return results
