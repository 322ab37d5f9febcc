"""A large file read block by block gives the very table (or error) of the whole-file parse.

``jobs.connectors.blocks`` parses a file without quotes a block of lines at a time;
anything it cannot read exactly like the whole file goes back to the whole-file
parse. Each test compares both readings on text chosen to fall on block edges.
"""

from __future__ import annotations

import polars as pl
import pytest

from jobs.connectors import blocks, delimited
from jobs.steps.base import StepError, frame_fingerprint


def _lines(count: int, row=lambda i: b"%d,v%d,%s" % (i, i, b"a longer value" * (i % 3))):
    return b"".join(row(i) + b"\n" for i in range(count))


CASES = {
    "plain": b"id,name,note\n" + _lines(400),
    "crlf": b"id,name\r\n" + b"".join(b"%d,x\r\n" % i for i in range(400)),
    "bom": b"\xef\xbb\xbfid,name\n" + b"".join(b"%d,\xc3\xa9\xe6\xbc\xa2\n" % i
                                             for i in range(400)),
    "no final newline": b"id,name\n" + b"\n".join(b"%d,w" % i for i in range(400)),
    "repeated names": b"id,id\n" + b"".join(b"%d,q\n" % i for i in range(400)),
    "empty fields": b"a,b,c\n" + b",,\n" * 400,
    "blank lines": b"a,b\n" + b"".join(b"\n" if i % 50 == 0 else b"%d,q\n" % i
                                       for i in range(400)),
    "header only": b"a,b\n",
    "quoted line break": b"a,b\n" + _lines(200, lambda i: b'%d,"two\nlines"' % i),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("block_bytes", [1, 7, 100, 1 << 20])
def test_blocks_read_as_the_whole_file(tmp_path, monkeypatch, name, block_bytes):
    path = tmp_path / "data.csv"
    path.write_bytes(CASES[name])
    whole = delimited._parse(path, name, ",", '"', True, 0)
    parsed = blocks.parse_in_blocks(path, separator=",", quote_char='"',
                                    block_bytes=block_bytes)
    if name == "quoted line break":
        assert parsed is None  # left to the whole-file parse
    if parsed is not None:
        assert parsed.columns == whole.columns
        assert parsed.schema == whole.schema
        assert parsed.equals(whole)
        assert frame_fingerprint(parsed) == frame_fingerprint(whole)


@pytest.mark.parametrize("tail,words", [
    (b"7,8,9\n", "more fields than the header"),
    (b"7\n", "ragged rows: line 1502 has 1 field(s)"),
    (b"7,\xff\n", "utf-8"),
])
def test_a_bad_line_is_refused_in_the_usual_words(tmp_path, monkeypatch, tail, words):
    monkeypatch.setattr(delimited, "PARSE_FROM_FILE_BYTES", 1)
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 64)
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 1500 + tail + b"3,4\n")
    with pytest.raises(StepError) as from_path:
        delimited.read_delimited(path, "data.csv")
    with pytest.raises(StepError) as from_bytes:  # parsed whole
        delimited.read_delimited(path.read_bytes(), "data.csv")
    assert str(from_path.value) == str(from_bytes.value)
    assert words in str(from_path.value).lower()


def test_a_large_file_reads_as_its_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 4096)
    path = tmp_path / "data.csv"
    path.write_bytes(b"id,name,count\n" + _lines(40_000))
    assert path.stat().st_size >= delimited.PARSE_FROM_FILE_BYTES
    from_path = delimited.read_delimited(path, "data.csv")
    from_bytes = delimited.read_delimited(path.read_bytes(), "data.csv")
    assert from_path.n_chunks() > 1  # read in blocks
    assert from_path.equals(from_bytes)
    assert frame_fingerprint(from_path) == frame_fingerprint(from_bytes)
    assert from_path.schema == pl.Schema(dict.fromkeys(from_path.columns, pl.String))
