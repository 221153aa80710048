"""Pages in Debian's chromium for the browser tests: the app served by a threaded server on a
free port, one page whose Content Security Policy reports are collected, and screenshots
kept in ``docs/`` on request (``LOYALTY_SAVE_SCREENSHOTS=1``)."""
from __future__ import annotations

import os
import shutil
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Shots:
    """Full-page screenshots in the test's tmp dir, copied to ``docs/`` on request."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.keep = tmp, os.environ.get("LOYALTY_SAVE_SCREENSHOTS") == "1"

    def take(self, page, name: str, prefix: str = "console", full_page: bool = True) -> Path:  # type: ignore[no-untyped-def]
        path = self.tmp / f"{prefix}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 5_000
        if self.keep:
            shutil.copy(path, DOCS / path.name)
        return path


@dataclass
class BrowserRun:
    """The served app's address, the browser, its first page and the CSP reports seen so far."""

    base: str
    browser: Any
    page: Any
    violations: list[str] = field(default_factory=list)


@contextmanager
def served_page(app: Any, width: int = 1280, height: int = 900, scale: float = 1) -> Iterator[BrowserRun]:
    """Serve ``app`` and open one page on it (``scale`` device pixels per CSS pixel); the browser
    and the server stop afterwards."""
    from playwright import sync_api

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=scale)
                run = BrowserRun(f"http://127.0.0.1:{port}", browser, page)
                page.on("console", lambda m: run.violations.append(m.text)
                        if "Content Security Policy" in m.text else None)
                yield run
            finally:
                browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=5)
