"""Every step's complete log, kept with the run (the step row holds only an excerpt).

The worker writes ``WORK_ROOT/<run uuid>/logs/<ordering>.log`` when a step ends,
secrets already masked; the run page and the API read it back.
``STEP_LOG_RETENTION_DAYS`` bounds how long logs are kept (``flask ops cleanup-work``).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

#: A step that logs more than this keeps the start and the end, with a marker between.
MAX_LOG_BYTES = 20 * 1024 * 1024


def log_path(work_root: str | Path, run_uuid: str, ordering: int) -> Path:
    """Where the full log of step ``ordering`` of run ``run_uuid`` is kept."""
    return Path(work_root) / run_uuid / "logs" / f"{int(ordering)}.log"


def write(work_root: str | Path, run_uuid: str, ordering: int, text: str) -> None:
    """Keep a step's full log (already masked); a disk error is logged, never raised."""
    data = text.encode("utf-8", errors="replace")
    if len(data) > MAX_LOG_BYTES:
        half = MAX_LOG_BYTES // 2
        data = (data[:half] + f"\n… {len(data) - 2 * half} bytes left out …\n".encode()
                + data[-half:])
    path = log_path(work_root, run_uuid, ordering)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path)
    except OSError as error:
        log.warning("run %s: full log of step %d not kept: %s", run_uuid, ordering, error)


def read(work_root: str | Path, run_uuid: str, ordering: int) -> str | None:
    """The full log of a step, or None when it was never kept or is past retention."""
    try:
        return log_path(work_root, run_uuid, ordering).read_text(encoding="utf-8",
                                                                 errors="replace")
    except OSError:
        return None
