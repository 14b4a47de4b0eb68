from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ..errors import NotFound, Unauthorized
from ..schemas import AuthOut, LoginIn, RegisterIn, UserOut
from ..services.views import user_view
from .deps import ServicesDep, UserId, client_address, limit_registrations
from .responses import errors

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register",
    summary="Create an account",
    status_code=201,
    response_model=AuthOut,
    dependencies=[Depends(limit_registrations)],
    responses=errors(409, 422, 429),
)
async def register(body: RegisterIn, services: ServicesDep) -> dict[str, Any]:
    """Creates an account and signs it in: the answer carries an access token (`Authorization: Bearer …`) for REST and for `AUTHENTICATE` on the WebSocket. 409 when the email is taken; 429 past the registrations allowed from one address."""
    return await services.users.register(body)


@router.post("/login", summary="Sign in", response_model=AuthOut, responses=errors(401, 422, 429))
async def login(body: LoginIn, request: Request, services: ServicesDep) -> dict[str, Any]:
    """Checks the email and password and returns a fresh access token. Repeated failures on one account are refused with 429 and `Retry-After`."""
    return await services.users.login(body, client_address(request))


@router.get("/me", summary="The signed-in account", response_model=UserOut, responses=errors(401))
async def me(user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    """The account the bearer token belongs to."""
    try:
        user = await services.users.get(user_id)
    except NotFound as exc:  # a token that outlived its account
        raise Unauthorized("the account of this token no longer exists") from exc
    return user_view(user)
