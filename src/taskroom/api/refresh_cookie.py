"""The refresh token in a cookie, for pages that must not be able to read it.

A page asks for this with the header `X-Taskroom-Refresh: cookie` on `POST /auth/login`,
`/auth/register` and `/auth/refresh`. The answer then carries the refresh token only in a cookie
(HttpOnly, so no page script reads it; SameSite=Strict, so no other site's page sends it; Secure
on https; its Path limited to the auth routes, so no other request carries it), and its JSON
body has no `refreshToken`. `POST /auth/refresh` with the header and no token in its body reads
the cookie; `POST /auth/logout` with the header ends the cookie's session and clears it.

The cookie is only read when the header is there. A cross-origin page cannot set that header
without a preflight, which CORS (cors.py) never grants for it, and a form cannot set it at all:
so no other site can make a browser spend the cookie. Without the header every answer is the
one of PROTOCOL.md §5.1, unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Header, Request, Response
from fastapi.responses import JSONResponse

HEADER: Final = "X-Taskroom-Refresh"
HEADER_VALUE: Final = "cookie"
COOKIE: Final = "taskroom_refresh"
# Below the mount point of the node (uvicorn's root_path, when it sits under a proxy's prefix).
COOKIE_PATH: Final = "/api/v1/auth"


def wanted(request: Request) -> bool:
    """Whether the request asks for the refresh token in a cookie."""
    return request.headers.get(HEADER, "").strip().lower() == HEADER_VALUE


def presented(request: Request) -> str | None:
    """The refresh token of the cookie, when the request asks for the cookie mode and has one."""
    if not wanted(request):
        return None
    value = request.cookies.get(COOKIE, "").strip()
    return value or None


def _path(request: Request) -> str:
    root = str(request.scope.get("root_path") or "").rstrip("/")
    return f"{root}{COOKIE_PATH}"


def answer(request: Request, body: dict[str, Any], status_code: int = 200) -> dict[str, Any] | JSONResponse:
    """A login, register or refresh answer: `body` as it is, or, in the cookie mode, `body`
    without its refresh token and that token in the cookie."""
    if not wanted(request):
        return body
    shown = {key: value for key, value in body.items() if key != "refreshToken"}
    response = JSONResponse(shown, status_code=status_code)
    response.set_cookie(
        COOKIE,
        str(body["refreshToken"]),
        max_age=int(body["refreshExpiresIn"]),
        path=_path(request),
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def clear(request: Request, response: Response) -> None:
    """Make the browser drop the cookie (logout, or a cookie the server refused)."""
    response.delete_cookie(
        COOKIE, path=_path(request), secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )


def header(
    x_taskroom_refresh: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description=(
                "`cookie`: the refresh token travels in an HttpOnly cookie (Path=/api/v1/auth) "
                "instead of the JSON body, and refresh and logout read it from there."
            ),
            examples=["cookie"],
        ),
    ] = None,
) -> str | None:
    """Describes the header in the API description; the routes read it from the request."""
    return x_taskroom_refresh
