"""Metrics: the metrics page with its SVG chart, and the Prometheus ``/metrics`` endpoint.

This blueprint also installs the per-request SQL statement counter (``X-Query-Count``)
when ``SQL_QUERY_COUNT_HEADER`` is on — the benchmark reads it.
"""

from flask import Blueprint

from portal.metrics.querycount import init_query_counter

bp = Blueprint("metrics", __name__)
bp.record_once(lambda state: init_query_counter(state.app))

from portal.metrics import views  # noqa: E402,F401
