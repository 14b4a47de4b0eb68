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
    status_code=201,
    response_model=AuthOut,
    dependencies=[Depends(limit_registrations)],
    responses=errors(409, 422, 429),
)
async def register(body: RegisterIn, services: ServicesDep) -> dict[str, Any]:
    return await services.users.register(body)


@router.post("/login", response_model=AuthOut, responses=errors(401, 422, 429))
async def login(body: LoginIn, request: Request, services: ServicesDep) -> dict[str, Any]:
    return await services.users.login(body, client_address(request))


@router.get("/me", response_model=UserOut, responses=errors(401))
async def me(user_id: UserId, services: ServicesDep) -> dict[str, Any]:
    try:
        user = await services.users.get(user_id)
    except NotFound as exc:  # a token that outlived its account
        raise Unauthorized("the account of this token no longer exists") from exc
    return user_view(user)
