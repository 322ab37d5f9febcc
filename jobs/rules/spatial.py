"""Coordinate rules: valid latitude/longitude, not the 0/0 placeholder, inside a box."""

from __future__ import annotations

from typing import Any

import polars as pl

from jobs.rules.base import RowCheck, RuleEnv, as_number, require, rule_check

DEFAULT_LATITUDE = "decimalLatitude"
DEFAULT_LONGITUDE = "decimalLongitude"


@rule_check("coordinates")
def coordinates(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> RowCheck:
    """Rows with coordinates have both, as numbers in range, not 0/0, inside ``bbox``.

    A row with neither coordinate passes (``not_null`` requires them when needed);
    a row with only one fails. ``bbox`` is ``[min_lon, min_lat, max_lon, max_lat]``.
    """
    lat_column = rule.get("latitude", DEFAULT_LATITUDE)
    lon_column = rule.get("longitude", DEFAULT_LONGITUDE)
    require(frame, lat_column, lon_column)
    derived = (as_number(frame, lat_column), as_number(frame, lon_column))
    lat, lon = derived[0].col, derived[1].col
    failing = (
        lat.is_null()
        | lon.is_null()
        | lat.is_nan()
        | lon.is_nan()
        | (lat.abs() > 90)
        | (lon.abs() > 180)
        | ((lat == 0) & (lon == 0))
    )
    what = "have missing, unreadable or out-of-range coordinates, or 0/0"
    bbox = rule.get("bbox")
    if bbox:
        min_lon, min_lat, max_lon, max_lat = bbox
        failing = failing | ~(lon.is_between(min_lon, max_lon) & lat.is_between(min_lat, max_lat))
        what += f", or lie outside [{min_lon:g}, {min_lat:g}, {max_lon:g}, {max_lat:g}]"
    present = pl.col(lat_column).is_not_null() | pl.col(lon_column).is_not_null()
    return RowCheck(present & failing, what, derived=derived)
