"""The API docs pages (`/docs`, Swagger UI; `/redoc`, ReDoc) with their files served by the node.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, which a node without internet access
cannot reach and a strict Content-Security-Policy would have to allow. The `fastapi-offline`
package ships those files; here they are served under `/docs/assets`, and each page is FastAPI's
own HTML pointed at them. Each page sets its own policy: the page's inline start-up script is
allowed by its SHA-256 hash (no 'unsafe-inline' for scripts), everything else comes from the node.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from .static_assets import AssetFiles

DOCS_URL: Final = "/docs"
REDOC_URL: Final = "/redoc"
OAUTH2_REDIRECT_URL: Final = "/docs/oauth2-redirect"
ASSETS_URL: Final = "/docs/assets"
ASSETS_DIR: Final = Path(str(files("fastapi_offline") / "static"))

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)

_COMMON = "default-src 'none'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; "
_CLOSING = "form-action 'self'; frame-ancestors 'none'"


def _hashes(html: str, kind: str) -> str:
    digests = (
        hashlib.sha256(body.encode("utf-8")).digest() for tag, body in _INLINE.findall(html) if tag == kind
    )
    return "".join(f" 'sha256-{base64.b64encode(digest).decode('ascii')}'" for digest in digests)


def swagger_policy(html: str) -> str:
    return f"{_COMMON}script-src 'self'{_hashes(html, 'script')}; style-src 'self'; {_CLOSING}"


def redoc_policy(html: str) -> str:
    # ReDoc styles its page by inserting <style> elements at run time (styled-components), which
    # CSP counts as inline styles, and runs its search index in a Worker made from a blob: URL.
    return (
        f"{_COMMON}script-src 'self'{_hashes(html, 'script')}; style-src 'self' 'unsafe-inline'; "
        f"worker-src blob:; {_CLOSING}"
    )


def _text(page: HTMLResponse) -> str:
    return bytes(page.body).decode("utf-8")


def _page(html: str, policy: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


def mount_api_docs(app: FastAPI) -> None:
    """Add the two docs pages, the OAuth2 redirect page of Swagger UI, and their files."""
    openapi_url = app.openapi_url
    assert openapi_url is not None, "the docs pages need the OpenAPI document"
    app.mount(ASSETS_URL, AssetFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = _text(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters=app.swagger_ui_parameters,
            )
        )
        return _page(html, swagger_policy(html))

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        html = _text(get_swagger_ui_oauth2_redirect_html())
        return _page(html, swagger_policy(html))

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = _text(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )
        return _page(html, redoc_policy(html))
