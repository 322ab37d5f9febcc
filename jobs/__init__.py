"""What workers run: tasks (take ids), the pipeline runner, the step registry and the steps."""

import os

# polars allocates with jemalloc, which by default keeps freed pages resident for ten
# seconds: each step of a run then starts on top of what the steps before it freed, and a
# worker's memory is its runs' high-water mark. Returning freed pages at once keeps the
# validate step of 1,000,000 rows ~12 MB lower at its peak (bench/bench_validation.py)
# for ~0.1 s more per million rows. Read when polars loads, so it is set before any step
# imports it; a setting in the environment wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0")
