"""Parse a large delimited file block by block, so it is never held whole in memory.

polars parses a path by mapping the whole file: while the table is built, every
page of the file is resident next to it (a 100 MB file adds 100 MB to the peak).
In a file without quote characters every line break ends a record, so the file can
be read one block of whole lines at a time (``BLOCK_BYTES`` and the rest of the
line they end in: each block one read of exactly its size), each block parsed on its
own (the first with the header line, the others with the names it gave, every
column a string) and the parts joined without copying. The peak is then the table
plus one block.

A quoted field may hold a line break, so a file holding the quote character is left
to the whole-file parse, as is any block polars refuses (a block starting with a
short or blank line, a long row, bad bytes): the whole-file parse then reads or
refuses the file in its usual words.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

#: Bytes read (and parsed) at a time, plus the end of the block's last line.
BLOCK_BYTES = 8 << 20


def parse_in_blocks(path: Path, *, separator: str, quote_char: str | None,
                    block_bytes: int | None = None) -> pl.DataFrame | None:
    """The table of a UTF-8 file with a header line, parsed block by block.

    Args:
        path: the file (a BOM is allowed).
        separator: the one-character field separator.
        quote_char: the quote character, or None when fields are never quoted.
        block_bytes: bytes per block (plus the rest of the block's last line);
            ``BLOCK_BYTES`` when None.

    Returns:
        The table, every column typed String (chunks of each block), or None when
        the file must be parsed whole: it holds the quote character, or polars
        refuses a block.
    """
    quote = quote_char.encode() if quote_char else None
    parts: list[pl.DataFrame] = []
    names: list[str] | None = None
    with path.open("rb") as handle:
        start = 0
        while block := _next_block(handle, start, block_bytes or BLOCK_BYTES):
            start += len(block)
            if quote is not None and quote in block:
                return None
            try:
                part = _parse_block(block, separator, quote_char, names)
            except pl.exceptions.PolarsError:
                return None
            del block
            names = names or part.columns
            parts.append(part)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical", rechunk=False)


def _next_block(handle, start: int, block_bytes: int) -> bytes:  # noqa: ANN001 (a binary file)
    """The whole lines from ``start`` to the end of the line holding byte start+block_bytes.

    The block's end is found first (seek, then read the rest of that line), so the
    block itself is read in one piece of exactly its size: no copy to trim or extend it.
    """
    handle.seek(start + block_bytes)
    handle.readline()
    end = handle.tell()
    handle.seek(start)
    return handle.read(end - start)


def _parse_block(block: bytes, separator: str, quote_char: str | None,
                 names: list[str] | None) -> pl.DataFrame:
    """One block as strings: the first block has the header; the others take its names."""
    return pl.read_csv(
        block,
        separator=separator,
        quote_char=quote_char or None,
        has_header=names is None,
        schema=None if names is None else dict.fromkeys(names, pl.String),
        infer_schema=False,
        truncate_ragged_lines=False,
        raise_if_empty=True,
        glob=False,
    )
