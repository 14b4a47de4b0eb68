"""Fixtures of the browser tests: Debian's headless Chromium driven by Playwright, against a real node
serving the board, on a SQLite file so that a node restarted on the same port keeps its data.

Without /usr/bin/chromium (`apt-get install -y chromium`) these tests skip, and fail under CI=true.
Screenshots of every page a test used go to test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.pages import BoardPage
from tests.support.api import Api
from tests.support.databases import IN_CI
from tests.support.servers import LoopbackAddresses, RunningServer, start_server

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def start_node(database_url: str, port: int = 0, **overrides: Any) -> RunningServer:
    """`start_server` on a thread of its own: Playwright's sync API keeps an event loop running on
    this one, and starting a node runs the migrations with `asyncio.run`. `overrides` are settings."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(start_server, database_url, port=port, **overrides).result()


class RestartableNode(LoopbackAddresses):
    """One node on a fixed port over one SQLite file: stopped and started again, clients find it."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.server: RunningServer | None = start_node(database_url)
        self.port = self.server.port

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def start(self) -> None:
        assert self.server is None, "the node is running"
        self.server = start_node(self.database_url, self.port)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's own browser download is not used: Debian's Chromium is what CI installs.
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def board_node(tmp_path: Path) -> Iterator[RestartableNode]:
    node = RestartableNode(f"sqlite:///{tmp_path / 'board.db'}")
    yield node
    node.stop()


@pytest.fixture
def board_api(board_node: RestartableNode) -> Iterator[Api]:
    api = Api(board_node.api)
    yield api
    api.close()


@pytest.fixture
def open_page(
    browser: Browser, board_node: RestartableNode, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], BoardPage]]:
    """A page in a browser context of its own (its own sessionStorage), as one person's browser."""
    opened: list[tuple[str, BoardPage]] = []

    def make(who: str, width: int = 1280, height: int = 800) -> BoardPage:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = BoardPage(context.new_page(), board_node.base_url)
        opened.append((who, page))
        return page

    yield make
    ARTIFACTS.mkdir(exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for who, board in opened:
        board.page.screenshot(path=str(ARTIFACTS / f"{test_name}-{who}.png"), full_page=True)
        board.page.context.close()
