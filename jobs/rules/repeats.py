"""Find the rows repeating an earlier row's key, in little memory: hash first, confirm exactly.

The ``unique`` rule asks of every row whether an earlier row had the same key.
polars' ``is_first_distinct`` on text builds a hash table of every distinct key
(about 70 MB for a million 20-character ids). Here each key is hashed to 64 bits,
slice by slice, into one array (8 bytes a row) sorted in place to show which hashes
occur more than once; only the rows holding such a hash (the repeats and the rows
they repeat, plus any rare hash collision) are then compared on their real values,
in table order, with the rule's own expression. Equal keys have equal hashes, so no
repeat is missed, and different keys sharing a hash are told apart by that exact
comparison: the verdicts are those of the expression on the whole table, whatever
the data.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl

#: Rows hashed at a time (the temporary columns of one slice are all that is held).
SLICE_ROWS = 1 << 16
_IN_SCOPE = "__in_scope__"


def hashable(frame: pl.DataFrame, columns: list[str]) -> bool:
    """Whether equal keys of these columns are sure to have equal hashes (text, integers).

    (Floats are left to the expression: it counts -0.0 and 0.0 as one value.)
    """
    return all(frame.schema[c] == pl.String or frame.schema[c].is_integer() for c in columns)


def repeats_expr(columns: list[str]) -> pl.Expr:
    """True on each row with a value in a key column whose key an earlier row had."""
    key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
    keyed = pl.any_horizontal([pl.col(column).is_not_null() for column in columns])
    return keyed & ~key.is_first_distinct()


def repeated_rows(frame: pl.DataFrame, scope: pl.Series | None, *,
                  columns: list[str]) -> pl.Series:
    """``repeats_expr(columns)`` over the rows of ``scope`` (all rows when None).

    Args:
        frame: the table; ``columns`` must be ``hashable`` in it.
        scope: which rows take part (the rule's condition), or None for every row.
        columns: the key columns.

    Returns:
        A boolean mask as long as the table: true on each row in scope that repeats
        the key of an earlier row in scope.
    """
    keys = frame.select(columns)
    if scope is not None:
        keys = keys.with_columns(scope.alias(_IN_SCOPE))
    ordered = np.empty(frame.height if scope is None else int(scope.sum()), dtype=np.uint64)
    filled = 0
    for hashes in _slices(keys, columns):
        ordered[filled:filled + hashes.len()] = hashes.to_numpy()
        filled += hashes.len()
    ordered.sort()
    shared = pl.Series(ordered[1:][ordered[1:] == ordered[:-1]], dtype=pl.UInt64)
    del ordered
    candidates = pl.concat(list(_slices(keys, columns, shared.implode())))
    failing = keys[candidates].select(repeats_expr(columns)).to_series()
    mask = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    return mask.scatter(candidates.filter(failing), True)


def _slices(keys: pl.DataFrame, columns: list[str],
            shared: pl.Series | None = None) -> Iterator[pl.Series]:
    """Slice by slice, the key hashes of the rows in scope; or, given the ``shared``
    hashes, the indices (in the table) of the rows in scope holding one of them."""
    scoped = _IN_SCOPE in keys.columns
    key = _hash(columns)
    index = pl.int_range(pl.len(), dtype=pl.get_index_type())
    for offset in range(0, max(keys.height, 1), SLICE_ROWS):
        part = keys.slice(offset, SLICE_ROWS)
        if shared is None:
            expr = key.filter(pl.col(_IN_SCOPE)) if scoped else key
        else:
            hit = key.is_in(shared) & pl.col(_IN_SCOPE) if scoped else key.is_in(shared)
            expr = (index + offset).filter(hit)
        yield part.select(expr.alias("slice")).to_series()


def _hash(columns: list[str]) -> pl.Expr:
    """A 64-bit hash of the key: the column's, or its columns' combined (own seed each)."""
    combined = pl.col(columns[0]).hash(seed=0)
    for seed, column in enumerate(columns[1:], start=1):
        combined = combined ^ pl.col(column).hash(seed=seed)
    return combined
