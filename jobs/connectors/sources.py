"""Where input bytes come from, and the record kept of them (invariants 5 and 8).

Every byte an ingest reads goes through here: a source is resolved strictly inside
the programme's folder ``DATA_ROOT/<CODE>/`` or a shared folder granted to it
(``portal.services.source_paths`` says what a source may name), the bytes are
hashed and copied into the content-addressed store, and a replay reads the
recorded copy instead of the live source.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from jobs.steps.base import StepContext, StepError, sha256_bytes
from portal.services.source_paths import (
    SHARED_PREFIX,
    SourceFormError,
    clean_relative,
    split_source,
)

UTF8_BOM = b"\xef\xbb\xbf"


#: Bytes read at a time when a source is hashed and copied into the store.
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class RawInput:
    """One source's bytes, recorded in the store, with the URI and sha256 kept in lineage.

    ``path`` is the recorded copy (content-addressed, never altered): a parser reads
    it directly, so the bytes need not be held in memory. ``data`` reads them on
    first use (archives, descriptors) and keeps them as long as this object lives.
    """

    uri: str
    sha256: str
    size: int
    path: Path

    @cached_property
    def data(self) -> bytes:
        """The recorded bytes (read from the store on first use)."""
        return self.path.read_bytes()

    def head(self, count: int) -> bytes:
        """The first ``count`` bytes, read without loading the rest."""
        with self.path.open("rb") as handle:
            return handle.read(count)


def check_relative(relative: str, what: str = "source") -> PurePosixPath:
    """Refuse absolute paths, drive letters, NUL bytes and '..' segments.

    Args:
        relative: a path as written in a pipeline definition or an archive.
        what: how the path is named in the error message.

    Returns:
        The path as a PurePosixPath (backslashes read as separators).
    """
    try:
        return clean_relative(relative, what)
    except SourceFormError as error:
        raise StepError(str(error)) from None


def _where(ctx: StepContext, folder: str | None) -> str:
    """How a source's root is named in messages: never an absolute server path."""
    if folder is None:
        return f"DATA_ROOT/{ctx.programme_code}/ (the programme's folder)"
    return f"shared folder {folder!r}"


def resolve_source(ctx: StepContext, source: str, what: str = "source") -> Path:
    """Resolve ``source`` inside the programme's folder or a shared folder granted to it.

    ``ctx.data_root`` is the programme's namespace ``DATA_ROOT/<CODE>``;
    ``shared:<folder>/<path>`` resolves only through ``ctx.shared_folders`` (the grants
    the runner read at run start). Symlinks are followed and must stay inside the same
    root (a link into another programme's folder, or into a shared folder, is refused);
    a regular file with several names (a hard link) is refused, since it may be another
    programme's file.

    Returns:
        The resolved path of an existing regular file.
    """
    try:
        ref = split_source(source, what)
    except SourceFormError as error:
        raise StepError(str(error)) from None
    if ref.folder is None:
        base = ctx.data_root
    else:
        base = (ctx.shared_folders or {}).get(ref.folder)
        if base is None:
            raise StepError(f"{what} {source!r}: shared folder {ref.folder!r} is not granted "
                            "to this programme")
    where = _where(ctx, ref.folder)
    root = Path(base).resolve()
    target = (root / ref.path).resolve()
    if not target.is_relative_to(root):
        raise StepError(f"{what} {source!r} resolves outside {where} (symlink?): refused")
    if not target.exists():
        raise StepError(f"{what} {source!r} not found under {where}")
    if not target.is_file():
        raise StepError(f"{what} {source!r} is not a file")
    if target.stat().st_nlink > 1:
        raise StepError(f"{what} {source!r} is a hard link (the file has other names, "
                        "perhaps in another programme's folder): refused; copy the file instead")
    return target


def store_bytes(store_root: Path, data: bytes, sha256: str | None = None) -> Path:
    """Copy ``data`` into the content-addressed store; return its path.

    The file is written to a temporary name and renamed, so a reader never sees a
    partial copy and two workers storing the same input do not collide.
    """
    digest = sha256 or sha256_bytes(data)
    target = store_root / digest[:2] / digest
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def store_stream(store_root: Path, source: Path) -> tuple[Path, str, int]:
    """Copy the file ``source`` into the store in chunks, hashing as it goes.

    The bytes are hashed while they are written to a temporary file, which is then
    renamed to its sha256, so the recorded copy is exactly the bytes hashed even if
    the source changes meanwhile; at most one chunk is held in memory.

    Returns:
        The recorded copy's path, its sha256 and its size in bytes.
    """
    store_root.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=store_root, prefix=".part-")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as handle, source.open("rb") as reader:
            while block := reader.read(COPY_CHUNK):
                digest.update(block)
                handle.write(block)
                size += len(block)
        sha256 = digest.hexdigest()
        target = store_root / sha256[:2] / sha256
        if target.exists():
            Path(temp_name).unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target, sha256, size


def replay_path(ctx: StepContext, uri: str) -> Path | None:
    """Return the recorded copy of ``uri`` when the run is a replay, else None."""
    if ctx.replay_inputs and uri in ctx.replay_inputs:
        return Path(ctx.replay_inputs[uri])
    return None


def read_replay_copy(ctx: StepContext, uri: str) -> bytes | None:
    """The recorded bytes of ``uri`` when the run is a replay, else None."""
    recorded = replay_path(ctx, uri)
    if recorded is None:
        return None
    try:
        return recorded.read_bytes()
    except OSError as exc:
        raise StepError(f"replay copy of {uri!r} is unreadable: {exc}") from exc


def remember(ctx: StepContext, uri: str, data: bytes) -> RawInput:
    """Hash ``data``, copy it into the store and return it as a RawInput."""
    digest = sha256_bytes(data)
    path = store_bytes(ctx.store_root, data, digest)
    return RawInput(uri=uri, sha256=digest, size=len(data), path=path)


def read_data_file(ctx: StepContext, relative: str, what: str = "source") -> RawInput:
    """Read a source's file (or its recorded copy during a replay); see :func:`resolve_source`.

    Args:
        ctx: the step context (data_root, shared_folders, store_root, replay_inputs).
        relative: the source as written: a path relative to the programme's folder or
            ``shared:<folder>/<path>``; it is also the input's URI (never a server path).
        what: how the path is named in error messages.

    Returns:
        The input with its URI and sha256, already copied into the store (streamed:
        the file is never held in memory here; ``RawInput.path`` is the copy to parse).
    """
    try:
        ref = split_source(relative, what)
    except SourceFormError as error:
        raise StepError(str(error)) from None
    uri = f"{SHARED_PREFIX}{ref.folder}/{ref.path}" if ref.shared else str(ref.path)
    recorded = replay_path(ctx, uri)
    try:
        if recorded is not None:
            stored, digest, size = store_stream(ctx.store_root, recorded)
        else:
            stored, digest, size = store_stream(ctx.store_root,
                                                resolve_source(ctx, relative, what))
    except OSError as exc:
        if recorded is not None:
            raise StepError(f"replay copy of {uri!r} is unreadable: {exc}") from exc
        raise StepError(f"{what} {relative!r} is unreadable: {exc.strerror}") from exc
    return RawInput(uri=uri, sha256=digest, size=size, path=stored)


def lineage_entry(
    ctx: StepContext,
    raw: RawInput,
    frame: pl.DataFrame | pl.LazyFrame | None = None,
    table: str | None = None,
    rows: int | None = None,
) -> dict[str, Any]:
    """Append ``raw`` to ``ctx.lineage["inputs"]`` and return the entry.

    ``rows`` and ``columns`` describe the table read from it; they are None for an
    input that is not itself a table (a datapackage descriptor). ``table`` names the
    run table the input became (None for a vocabulary or a descriptor). ``rows`` gives
    the height of a lazy table (one read in batches).
    """
    if frame is not None and rows is None:
        rows = frame.height
    columns = None
    if frame is not None:
        columns = (frame.collect_schema().names() if isinstance(frame, pl.LazyFrame)
                   else list(frame.columns))
    entry = {
        "uri": raw.uri,
        "sha256": raw.sha256,
        "bytes": raw.size,
        "rows": rows,
        "columns": columns,
        "step": ctx.step_key,
        "table": table,
    }
    ctx.lineage.setdefault("inputs", []).append(entry)
    return entry


def is_utf8(encoding: str) -> bool:
    """Whether ``encoding`` names UTF-8 (any spelling)."""
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def to_utf8(data: bytes, name: str, encoding: str = "utf-8") -> bytes:
    """Return ``data`` as UTF-8 without a BOM; a StepError says where decoding fails.

    Args:
        data: the raw bytes.
        name: the source's name for the error message.
        encoding: the declared encoding (archives and packages may declare another).
    """
    try:
        if is_utf8(encoding):
            data = data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data
            data.decode("utf-8")
            return data
        return data.decode(encoding).encode("utf-8")
    except LookupError:
        raise StepError(f"{name}: unknown text encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StepError(
            f"{name}: not valid {encoding} text (byte 0x{data[exc.start]:02x} "
            f"at offset {exc.start}, line {line})"
        ) from None
