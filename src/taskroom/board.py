"""The web board (`static/board/`), served at `/` beside the API.

The board is plain files (HTML, CSS, ES modules; no build step) served by Starlette's StaticFiles
(with the project's content types and Cache-Control, `AssetFiles`).
It is mounted at `/` after every API route, and the mount steps aside for any path that another
route of the app claims, even one it would only answer with 405, and for the whole `/api/`
namespace: an unknown API path keeps the API's JSON 404 (and its trailing-slash redirects), and
mounts added later (`/client`) are reached whatever their order.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

from .static_assets import AssetFiles

BOARD_DIRECTORY = Path(__file__).parent / "static" / "board"
API_PREFIX = "/api/"


class BoardMount(Mount):
    """A `/` mount that matches only what no other route of `routes` matches."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        super().__init__("/", app=AssetFiles(directory=BOARD_DIRECTORY, html=True), name="board")
        self._routes = routes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path: str = scope["path"]
        if path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/"):
            return Match.NONE, {}
        for route in self._routes:
            if route is not self and route.matches(scope)[0] is not Match.NONE:
                return Match.NONE, {}
        return super().matches(scope)


def mount_board(routes: list[BaseRoute]) -> None:
    """Append the board's mount to `routes` (the app's router routes): call it after every other route."""
    routes.append(BoardMount(routes))
