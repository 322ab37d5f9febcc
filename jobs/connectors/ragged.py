"""Find rows shorter than the header in delimited text, without splitting it into lines.

polars pads a short row with nulls silently, so the ingest counts each record's
separators itself. The bytes are scanned in fixed-size chunks with numpy (a file is
memory-mapped, never loaded), so the check costs a few vectorised passes and at most
a few chunks of memory whatever the file's size. Quoted fields are honoured: a
separator or a line break between quotes does not count (a doubled quote toggles
twice, so ``""`` escapes need no special case). When the quotes do not balance by
the end of the text, the check is skipped: polars reports such a file itself.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Bytes scanned at a time; the temporary arrays are a few times this size.
CHUNK_BYTES = 4 << 20
_WHITESPACE = b" \t\r\n\x0b\x0c"


@dataclass(frozen=True)
class ShortRows:
    """The first short record (its physical line number and field count) and how many."""

    line: int
    fields: int
    count: int


@dataclass
class _Scan:
    width: int
    skip: int
    records: int = 0  # complete records seen so far
    lines: int = 0  # line breaks seen so far (inside quotes too): for line numbers
    parity: int = 0  # 1 while inside a quoted field
    pending_seps: int = 0  # separators of the record under way
    pending_blank: bool = True  # the record under way is whitespace so far
    pending_line: int = 1  # physical line where the record under way starts
    first: tuple[int, int] | None = None
    count: int = 0

    def record(self, seps: int, blank: bool, line: int) -> None:
        """Count the last record (one without a line break)."""
        self.records += 1
        if self.records <= self.skip or blank or seps + 1 >= self.width:
            return
        self.count += 1
        if self.first is None:
            self.first = (line, seps + 1)


def find_short_rows(
    source: bytes | Path,
    width: int,
    *,
    separator: str = ",",
    quote_char: str | None = '"',
    lines_before_data: int = 1,
) -> ShortRows | None:
    """Return the records with fewer than ``width`` fields, or None when there are none.

    Args:
        source: the text (UTF-8 bytes) or the path of a file holding it.
        width: the header's number of fields.
        separator: the one-byte field separator.
        quote_char: the quote character, or None when fields are never quoted.
        lines_before_data: records (header, skipped lines) before the first data row.
    """
    if width < 2:
        return None
    scan = _Scan(width=width, skip=lines_before_data)
    sep = separator.encode()[0]
    quote = quote_char.encode()[0] if quote_char else None
    if isinstance(source, Path):
        if source.stat().st_size == 0:
            return None
        with source.open("rb") as handle, mmap.mmap(handle.fileno(), 0,
                                                    access=mmap.ACCESS_READ) as view:
            _scan_all(memoryview(view), scan, sep, quote)
    else:
        _scan_all(memoryview(source), scan, sep, quote)
    if scan.parity:
        return None  # unbalanced quotes: polars reports the file itself
    if scan.first is None:
        return None
    return ShortRows(line=scan.first[0], fields=scan.first[1], count=scan.count)


def _scan_all(view: memoryview, scan: _Scan, sep: int, quote: int | None) -> None:
    size = len(view)
    for start in range(0, size, CHUNK_BYTES):
        chunk = view[start : start + CHUNK_BYTES]
        _scan_chunk(np.frombuffer(chunk, dtype=np.uint8), chunk, scan, sep, quote)
        del chunk
    if not scan.pending_blank:  # a last record without a line break
        scan.record(scan.pending_seps, False, scan.pending_line)


def _scan_chunk(data: np.ndarray, raw: memoryview, scan: _Scan, sep: int,
                quote: int | None) -> None:
    """Count the separators of each record ending in this chunk (vectorised)."""
    newline = data == 10
    separators = data == sep
    quotes = data == quote if quote is not None else None
    if quotes is not None and (scan.parity or quotes.any()):
        inside = (np.cumsum(quotes, dtype=np.uint8) & 1).astype(bool)
        if scan.parity:
            inside = ~inside
        scan.parity = int(inside[-1])
        ends = np.flatnonzero(newline & ~inside)
        separators &= ~inside
        del inside
    else:
        ends = np.flatnonzero(newline)
    if not len(ends):
        seps_here = int(np.count_nonzero(separators))
        scan.pending_seps += seps_here
        scan.pending_blank = scan.pending_blank and not seps_here and _blank(raw)
        scan.lines += int(np.count_nonzero(newline))
        return
    # Separators per segment: each complete record, then the record under way (if any).
    bounds = np.concatenate(([0], ends + 1))
    bounds = bounds[bounds < len(data)]
    counts = np.add.reduceat(separators.view(np.uint8), bounds, dtype=np.int64)
    seps = counts[: len(ends)]
    tail_seps = int(counts[len(ends)]) if len(counts) > len(ends) else 0
    seps[0] += scan.pending_seps
    numbers = scan.records + np.arange(1, len(ends) + 1)
    short = np.flatnonzero((seps + 1 < scan.width) & (numbers > scan.skip))
    for index in short.tolist():
        begin = 0 if index == 0 else int(ends[index - 1]) + 1
        blank = (seps[index] == 0 and _blank(raw[begin:int(ends[index])])
                 and (index > 0 or scan.pending_blank))
        if blank:
            continue
        scan.count += 1
        if scan.first is None:
            line = (scan.pending_line if index == 0
                    else scan.lines + int(np.count_nonzero(newline[:begin])) + 1)
            scan.first = (line, int(seps[index]) + 1)
    scan.records += len(ends)
    tail = int(ends[-1]) + 1
    scan.pending_seps = tail_seps
    scan.pending_blank = not scan.pending_seps and _blank(raw[tail:])
    scan.lines += int(np.count_nonzero(newline))
    scan.pending_line = scan.lines + 1 - int(np.count_nonzero(newline[tail:]))


def _blank(text: memoryview) -> bool:
    """Whether ``text`` holds only whitespace (checked on short pieces only)."""
    if len(text) > 64:
        return False
    return not bytes(text).strip(_WHITESPACE)
