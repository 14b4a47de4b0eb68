from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema

from ..errors import InvalidRefreshToken, NotFound, Unauthorized
from ..schemas import (
    AuthOut,
    LoginIn,
    LogoutIn,
    PasswordChangeIn,
    RefreshIn,
    RegisterIn,
    SessionList,
    UserOut,
)
from ..security.tokens import Claims, TokenError
from ..services.views import user_view
from . import refresh_cookie
from .deps import CurrentIdentity, PathId, ServicesDep, UserId, client_address, limit_registrations
from .responses import errors

router = APIRouter(prefix="/auth", tags=["auth"])


def _user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent")


@router.post(
    "/register",
    summary="Create an account",
    status_code=201,
    response_model=AuthOut,
    dependencies=[Depends(limit_registrations), Depends(refresh_cookie.header)],
    responses=errors(409, 422, 429),
)
async def register(
    body: RegisterIn, request: Request, services: ServicesDep
) -> dict[str, Any] | JSONResponse:
    """Creates an account and signs it in: the answer carries an access token (`Authorization: Bearer …`) for REST and for `AUTHENTICATE` on the WebSocket, and a refresh token that starts a session (in an HttpOnly cookie instead, with `X-Taskroom-Refresh: cookie`). 409 when the email is taken; 429 past the registrations allowed from one address."""
    answer = await services.users.register(body, _user_agent(request))
    return refresh_cookie.answer(request, answer, status_code=201)


@router.post(
    "/login",
    summary="Sign in",
    response_model=AuthOut,
    dependencies=[Depends(refresh_cookie.header)],
    responses=errors(401, 422, 429),
)
async def login(body: LoginIn, request: Request, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    """Checks the email and password and returns a fresh access token and a refresh token (a new session; in an HttpOnly cookie instead, with `X-Taskroom-Refresh: cookie`). Repeated failures on one account are refused with 429 and `Retry-After`."""
    answer = await services.users.login(body, client_address(request), _user_agent(request))
    return refresh_cookie.answer(request, answer)


@router.post(
    "/refresh",
    summary="Refresh a session",
    response_model=AuthOut,
    dependencies=[Depends(refresh_cookie.header)],
    # The body is required, as PROTOCOL.md §5.1 has it; only the cookie mode may leave it out.
    openapi_extra={"requestBody": {"required": True}},
    responses=errors(401, 422),
)
async def refresh(
    request: Request,
    services: ServicesDep,
    body: Annotated[
        RefreshIn | None,
        # Described as the contract has it (a body with a refresh token); only the cookie mode leaves it out.
        WithJsonSchema(RefreshIn.model_json_schema(by_alias=True)),
        Body(openapi_examples={"by refresh token": {"value": {"refreshToken": "trr_EXAMPLE"}}}),
    ] = None,
) -> dict[str, Any] | JSONResponse:
    """Exchanges a refresh token for a new access token and a new refresh token; the one presented is spent. A spent one presented again ends its whole session (reuse detection). 401 `INVALID_REFRESH_TOKEN` for an unknown, spent, expired or ended one.

    With `X-Taskroom-Refresh: cookie` and no body, the refresh token is the cookie's, and the new one goes back in the cookie."""
    token = body.refresh_token if body is not None else refresh_cookie.presented(request)
    if token is None:
        if refresh_cookie.wanted(request):
            raise InvalidRefreshToken("no refresh token: no body and no cookie")
        # The answer a missing body always had (PROTOCOL.md §5.1): the body is required here.
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    return refresh_cookie.answer(request, await services.sessions.refresh(token))


@router.post(
    "/logout",
    summary="Sign out",
    status_code=204,
    dependencies=[Depends(refresh_cookie.header)],
    responses=errors(401, 422),
)
async def logout(
    request: Request,
    services: ServicesDep,
    # A plain header, not the bearer scheme: the API description must not call this operation
    # secured, since a refresh token alone is enough.
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    body: Annotated[
        LogoutIn | None,
        Body(openapi_examples={"by refresh token": {"value": {"refreshToken": "trr_EXAMPLE"}}}),
    ] = None,
) -> Response:
    """End the session of the refresh token given, else that of the bearer token.

    With a refresh token no access token is needed: a client whose access token expired can
    still sign out. With `X-Taskroom-Refresh: cookie` the cookie's refresh token counts as given,
    and the answer clears the cookie."""
    refresh_token = body.refresh_token if body is not None else None
    if refresh_token is None:
        refresh_token = refresh_cookie.presented(request)
    claims: Claims | None = None
    if refresh_token is None:
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("give a refresh token or a bearer token")
        try:
            claims = services.tokens.verify(credential.strip())
        except TokenError as exc:
            raise Unauthorized(str(exc)) from exc
    await services.sessions.logout(claims, refresh_token)
    response = Response(status_code=204)
    if refresh_cookie.wanted(request):
        refresh_cookie.clear(request, response)
    return response


@router.get("/sessions", summary="The account's sessions", response_model=SessionList, responses=errors(401))
async def list_sessions(claims: CurrentIdentity, services: ServicesDep) -> dict[str, Any]:
    """The live sessions of the signed-in account; `current` marks the one of the bearer token."""
    return {"items": await services.sessions.list_live(claims)}


@router.delete(
    "/sessions/{session_id}", summary="End a session", status_code=204, responses=errors(401, 404, 422)
)
async def end_session(session_id: PathId, claims: CurrentIdentity, services: ServicesDep) -> Response:
    """Ends one of the account's sessions: its access tokens are refused at once. Another account's session id is a 404."""
    await services.sessions.end(claims.user_id, session_id)
    return Response(status_code=204)


@router.delete("/sessions", summary="End every other session", status_code=204, responses=errors(401))
async def end_other_sessions(claims: CurrentIdentity, services: ServicesDep) -> Response:
    """Ends every session of the account but the current one."""
    await services.sessions.end_others(claims.user_id, keep=claims.session_id)
    return Response(status_code=204)


@router.post(
    "/password", summary="Change the password", status_code=204, responses=errors(401, 403, 422, 429)
)
async def change_password(
    body: PasswordChangeIn, request: Request, claims: CurrentIdentity, services: ServicesDep
) -> Response:
    """Changes the password (the current one is checked; a wrong one is a 403 and counts as a failed login) and ends every other session."""
    await services.users.change_password(claims.user_id, claims.session_id, body, client_address(request))
    return Response(status_code=204)


@router.get("/me", summary="The signed-in account", response_model=UserOut, responses=errors(401))
async def me(user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    """The account the bearer token belongs to."""
    try:
        user = await services.users.get(user_id)
    except NotFound as exc:  # a token that outlived its account
        raise Unauthorized("the account of this token no longer exists") from exc
    return user_view(user)
