"""Files the server hands out as they are: the JavaScript client under `/client` (PROTOCOL §4),
the board at `/` and the API docs' files.

None of these names carries a hash of its content, so a browser may keep a copy but must ask
again each time (`no-cache`); the ETag makes that question a 304 without a body.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

STATIC_DIR: Final = Path(__file__).parent / "static"
CLIENT_MODULE: Final = "taskroom.js"


def _client_dir() -> Path:
    """Where the JavaScript client's files are: one copy, kept in `clients/js/` (the npm package).

    A wheel carries them as the package data of `taskroom.static.client` (pyproject.toml maps that
    package to `clients/js/`); a source checkout, editable installs included, has them only at the
    top of the repository.
    """
    installed = STATIC_DIR / "client"
    if (installed / CLIENT_MODULE).is_file():
        return installed
    return Path(__file__).resolve().parents[2] / "clients" / "js"


CLIENT_DIR: Final = _client_dir()

# The platform's MIME table decides otherwise: `.ts` is a Qt translation file on Linux, and `.js` is
# `application/javascript` on some systems. Longest suffix first.
CONTENT_TYPES: Final = (
    (".d.ts", "application/typescript; charset=utf-8"),
    (".ts", "application/typescript; charset=utf-8"),
    (".mjs", "text/javascript; charset=utf-8"),
    (".js", "text/javascript; charset=utf-8"),
)

CACHE_CONTROL: Final = "no-cache"


class AssetFiles(StaticFiles):
    """Starlette's static files (ETag, Last-Modified, 304), with the content types of CONTENT_TYPES
    and CACHE_CONTROL."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        name = os.fspath(full_path)
        media_type = next((kind for suffix, kind in CONTENT_TYPES if name.endswith(suffix)), None)
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=media_type,
            headers={"Cache-Control": CACHE_CONTROL},
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class ClientFiles(AssetFiles):
    """The client's module and declarations only: their directory is also the npm package, whose
    package.json, README and (after a local `npm install`) node_modules are not the node's to serve."""

    SERVED: Final = frozenset({CLIENT_MODULE, "taskroom.d.ts", "store.js", "store.d.ts"})

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in self.SERVED:
            return "", None
        return super().lookup_path(path)
