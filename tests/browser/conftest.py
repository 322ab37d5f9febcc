"""Browser fixtures: the portal served on 127.0.0.1, a real RQ worker, headless Chromium.

Chromium is the system one (/usr/bin/chromium); ``playwright install`` is never run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from portal import create_app
from tests.conftest import make_roots, settings_for

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> Path:
    """DATA_ROOT and friends, shared by the server, the worker and the test."""
    return make_roots(tmp_path_factory, "browser")


def _config(roots: Path) -> dict:
    return {**settings_for(roots), "SERVER_NAME": None, "RUN_DISPATCH_GRACE_SECONDS": 0}


@pytest.fixture
def app_config(roots) -> dict:
    """The seeding app uses the same folders as the served app and the worker."""
    return _config(roots)


@pytest.fixture(scope="module")
def live_server(roots, _schema) -> Iterator[str]:
    """Serve a separate app instance from a background thread; yield its base URL."""
    app = create_app("testing", _config(roots))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    """Headless system Chromium."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (the Makefile installs it)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context and page; CSP violations are collected in ``page.csp``."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.csp = []
    page.on("console", lambda message: "Content Security Policy" in message.text
            and page.csp.append(message.text))
    page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm uses window.confirm
    yield page
    context.close()


@pytest.fixture(scope="module")
def worker(roots):
    """A real ``flask jobs worker`` subprocess (the engine's), on the test DB and Redis."""
    from tests.engine.conftest import empty_queues, start_worker, stop_process_group

    empty_queues()
    process = start_worker(roots)
    yield process
    stop_process_group(process)
