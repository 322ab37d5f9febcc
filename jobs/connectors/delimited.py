"""Parse delimited text (CSV, TSV, Darwin Core text files) into an all-string frame.

Everything is read as strings (``infer_schema=False``): a stray "n/a" in a count
column must not abort an ingest. Rules and compute steps cast what they need.
"""

from __future__ import annotations

import re

import polars as pl

from jobs.connectors.sources import UTF8_BOM, is_utf8, to_utf8
from jobs.steps.base import StepError

_ESCAPES = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\\\": "\\", "\\|": "|"}


def unescape(value: str) -> str:
    r"""Turn the escapes used in meta.xml and pipeline JSON (``\t``, ``\n``) into characters."""
    return _ESCAPES.get(value, value)


def separator_for(name: str, given: str | None = None) -> str:
    """Return the field separator: the given one, else tab for .tsv/.tab/.txt, else comma."""
    if given:
        separator = unescape(given)
    elif name.lower().endswith((".tsv", ".tab", ".txt")):
        separator = "\t"
    else:
        separator = ","
    if len(separator.encode()) != 1:
        raise StepError(f"{name}: separator {given!r} must be a single character")
    return separator


def read_delimited(
    data: bytes,
    name: str,
    *,
    separator: str = ",",
    quote_char: str | None = '"',
    has_header: bool = True,
    skip_rows: int = 0,
    encoding: str = "utf-8",
    eol: str = "\n",
) -> pl.DataFrame:
    """Parse delimited bytes into a frame of strings.

    Args:
        data: the file's bytes.
        name: the source's name, used in error messages.
        separator: one-character field separator.
        quote_char: the quote character, or None when fields are never quoted.
        has_header: whether the first (non-skipped) line holds column names.
        skip_rows: lines to skip before the header or the data.
        encoding: the declared text encoding.
        eol: the line terminator ("\\n" also accepts "\\r\\n"; "\\r" is translated).

    Returns:
        The table, every column typed String; without a header the columns are
        named ``column_1``, ``column_2``, ...

    Raises:
        StepError: undecodable bytes, a malformed quote, ragged rows, an empty file.
    """
    if is_utf8(encoding):
        # polars validates UTF-8 itself; the precise position is found only on failure.
        text = data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data
    else:
        text = to_utf8(data, name, encoding)
    if eol == "\r":
        text = text.replace(b"\r", b"\n")
    elif eol not in ("\n", "\r\n"):
        raise StepError(f"{name}: unsupported line terminator {eol!r}")
    if not text or text.isspace():
        raise StepError(f"{name}: the file is empty")
    try:
        frame = pl.read_csv(
            text,
            separator=separator,
            quote_char=quote_char or None,
            has_header=has_header,
            skip_rows=skip_rows,
            infer_schema=False,
            truncate_ragged_lines=False,
            raise_if_empty=True,
        )
    except pl.exceptions.NoDataError:
        raise StepError(f"{name}: the file has no rows") from None
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).strip().splitlines()[0]
        if "utf-8" in first_line.lower():
            to_utf8(text, name)
        if "more fields" in first_line:
            first_line = "a row has more fields than the header (ragged rows)"
        raise StepError(f"{name}: cannot be parsed as delimited text: {first_line}") from None
    _refuse_short_rows(text, frame, name, separator, quote_char, skip_rows + int(has_header))
    return frame


def _refuse_short_rows(
    text: bytes,
    frame: pl.DataFrame,
    name: str,
    separator: str,
    quote_char: str | None,
    lines_before_data: int,
) -> None:
    """Raise StepError when a line has fewer fields than the header.

    polars pads short rows with nulls silently. A short row always leaves the last
    column null, so the line-level count only runs when that column has nulls, and is
    skipped when quoted fields span lines (line numbers would no longer match rows).
    """
    if (
        frame.width < 2
        or frame.height == 0
        or frame.get_column(frame.columns[-1]).null_count() == 0
    ):
        return
    lines = pl.Series("line", text.decode("utf-8").split("\n")).slice(lines_before_data)
    counted = pl.DataFrame({"line": lines}).with_row_index("number", offset=lines_before_data + 1)
    body = pl.col("line").str.strip_chars_end("\r")
    if quote_char:
        quote = re.escape(quote_char)
        if counted.select((body.str.count_matches(quote) % 2 == 1).any()).item():
            return
        body = body.str.replace_all(f"{quote}[^{quote}]*{quote}", "")
    short = counted.with_columns(fields=body.str.count_matches(separator, literal=True) + 1).filter(
        (pl.col("line").str.strip_chars() != "") & (pl.col("fields") < frame.width)
    )
    if short.height:
        first = short.row(0, named=True)
        raise StepError(
            f"{name}: ragged rows: line {first['number']} has {first['fields']} field(s) where "
            f"the header has {frame.width} ({short.height} short line(s) in all)"
        )
