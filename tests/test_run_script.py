"""``make run`` (scripts/run.sh) refuses a busy port at once, with the reason."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_make_run_on_a_busy_port_fails_fast_and_says_why(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, capture_output=True,
                                text=True, timeout=120,
                                env={"PATH": "/usr/bin:/bin", "PORT": str(port),
                                     "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is not free" in result.stderr
    assert "PORT=" in result.stderr  # how to pick another one
    assert "running at" not in result.stdout


def test_make_run_refuses_a_port_that_is_not_a_number():
    result = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "PORT": "web"})
    assert result.returncode == 1
    assert "PORT='web' is not a port number" in result.stderr
