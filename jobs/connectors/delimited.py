"""Parse delimited text (CSV, TSV, Darwin Core text files) into an all-string frame.

Everything is read as strings (``infer_schema=False``): a stray "n/a" in a count
column must not abort an ingest. Rules and compute steps cast what they need.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from jobs.connectors.blocks import parse_in_blocks
from jobs.connectors.ragged import find_short_rows
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


#: Files at least this large are parsed from the file itself, a block at a time
#: (``jobs.connectors.blocks``; memory-mapped by polars when quoted), rather than from
#: bytes in memory; smaller ones are simply read.
PARSE_FROM_FILE_BYTES = 1 << 20


def read_delimited(
    data: bytes | Path,
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
        data: the file's bytes, or its path (a recorded copy): a large UTF-8 file is
            then parsed in place, never held in memory as bytes.
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
    if isinstance(data, Path):
        if is_utf8(encoding) and eol != "\r" and data.stat().st_size >= PARSE_FROM_FILE_BYTES:
            return _read_file(data, name, separator, quote_char, has_header, skip_rows)
        data = data.read_bytes()
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
    frame = _parse(text, name, separator, quote_char, has_header, skip_rows)
    _refuse_short_rows(text, frame, name, separator, quote_char, skip_rows + int(has_header))
    return frame


def scan_delimited(path: Path, name: str, *, separator: str = ",",
                   quote_char: str | None = '"') -> pl.LazyFrame:
    """A large UTF-8 file as a lazy all-string table, read in batches by later steps.

    The file is checked first as :func:`read_delimited` checks it (empty, short rows:
    both by streaming scans), so a later step meets no surprise that the eager reading
    would have refused; long rows and bad bytes are reported when the table is read.
    """
    if not path.stat().st_size or not _head_has_text(path):
        raise StepError(f"{name}: the file is empty")
    frame = pl.scan_csv(path, separator=separator, quote_char=quote_char or None,
                        infer_schema=False, truncate_ragged_lines=False, raise_if_empty=True,
                        glob=False)
    try:
        width = len(frame.collect_schema())
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise StepError(f"{name}: cannot be parsed as delimited text: {first_line}") from None
    short = find_short_rows(path, width, separator=separator, quote_char=quote_char,
                            lines_before_data=1)
    if short is not None:
        raise StepError(
            f"{name}: ragged rows: line {short.line} has {short.fields} field(s) where "
            f"the header has {width} ({short.count} short line(s) in all)"
        )
    return frame


def _head_has_text(path: Path) -> bool:
    with path.open("rb") as handle:
        while block := handle.read(1 << 16):
            if block.removeprefix(UTF8_BOM).strip():
                return True
    return False


def _read_file(path: Path, name: str, separator: str, quote_char: str | None,
               has_header: bool, skip_rows: int) -> pl.DataFrame:
    """Parse a large UTF-8 file from disk, never holding it whole in memory if possible.

    A file with a header and no quote character is read a block at a time
    (``jobs.connectors.blocks``); any other is mapped whole by polars. A BOM is skipped
    by polars either way.
    """
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head.removeprefix(UTF8_BOM).strip() and not _head_has_text(path):
        raise StepError(f"{name}: the file is empty")
    frame = None
    if has_header and not skip_rows:
        frame = parse_in_blocks(path, separator=separator, quote_char=quote_char)
    if frame is None:
        frame = _parse(path, name, separator, quote_char, has_header, skip_rows)
    _refuse_short_rows(path, frame, name, separator, quote_char, skip_rows + int(has_header))
    return frame


def _parse(source: bytes | Path, name: str, separator: str, quote_char: str | None,
           has_header: bool, skip_rows: int) -> pl.DataFrame:
    try:
        return pl.read_csv(
            source,
            separator=separator,
            quote_char=quote_char or None,
            has_header=has_header,
            skip_rows=skip_rows,
            infer_schema=False,
            truncate_ragged_lines=False,
            raise_if_empty=True,
            glob=False,
        )
    except pl.exceptions.NoDataError:
        raise StepError(f"{name}: the file has no rows") from None
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).strip().splitlines()[0]
        if "utf-8" in first_line.lower():
            to_utf8(source.read_bytes() if isinstance(source, Path) else source, name)
        if "more fields" in first_line:
            first_line = "a row has more fields than the header (ragged rows)"
        raise StepError(f"{name}: cannot be parsed as delimited text: {first_line}") from None


def _refuse_short_rows(
    source: bytes | Path,
    frame: pl.DataFrame,
    name: str,
    separator: str,
    quote_char: str | None,
    lines_before_data: int,
) -> None:
    """Raise StepError when a line has fewer fields than the header.

    polars pads short rows with nulls silently. A short row always leaves the last
    column null, so the count (``jobs.connectors.ragged``, a chunked scan of the bytes)
    only runs when that column has nulls.
    """
    if (
        frame.width < 2
        or frame.height == 0
        or frame.get_column(frame.columns[-1]).null_count() == 0
    ):
        return
    short = find_short_rows(source, frame.width, separator=separator, quote_char=quote_char,
                            lines_before_data=lines_before_data)
    if short is not None:
        raise StepError(
            f"{name}: ragged rows: line {short.line} has {short.fields} field(s) where "
            f"the header has {frame.width} ({short.count} short line(s) in all)"
        )
