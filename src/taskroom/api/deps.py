"""Request-scoped dependencies: the services, the caller, the write's idempotency key, the limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Path, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..edge.identity import Identity, Refusal, RefusalReason
from ..errors import TooManyRequests, Unauthorized, UnknownParameters
from ..schemas import NO_NUL
from ..services.idempotency import IdempotencyKey
from ..services.writes import Reply

if TYPE_CHECKING:
    from ..container import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated["Services", Depends(get_services)]
bearer = HTTPBearer(auto_error=False)


async def current_identity(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Identity:
    if credentials is None or credentials.scheme.lower() != "bearer":
        services.refusals.refused(RefusalReason.MISSING, route_of(request))
        raise Unauthorized("missing bearer token")
    try:
        identity = await services.authenticator.authenticate(credentials.credentials)
    except Refusal as refusal:
        services.refusals.refused(refusal.reason, route_of(request))
        raise Unauthorized(str(refusal)) from refusal
    return identity


def route_of(request: Request) -> str:
    """The route's template (`/api/v1/invitations/{token}/accept`), not the path: a path may carry a secret."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    return f"{request.scope.get('root_path', '')}{template}" if isinstance(template, str) else "-"


CurrentIdentity = Annotated[Identity, Depends(current_identity)]

# Route -> the query parameter names it declares (its own and its dependencies'), read once.
_DECLARED_QUERY: dict[int, frozenset[str]] = {}


def reject_unknown_query(request: Request) -> None:
    """422 naming every query parameter the route does not declare (PROTOCOL §7: never ignored)."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared = _DECLARED_QUERY.get(id(route))
    if declared is None:
        declared = frozenset(_query_names(dependant))
        _DECLARED_QUERY[id(route)] = declared
    unknown = [name for name in request.query_params if name not in declared]
    if unknown:
        raise UnknownParameters(unknown)


def _query_names(dependant: Dependant) -> list[str]:
    names = [param.alias for param in dependant.query_params]
    for sub in dependant.dependencies:
        names.extend(_query_names(sub))
    return names


KnownQuery = Depends(reject_unknown_query)


async def current_user_id(identity: CurrentIdentity) -> str:
    return identity.user_id


UserId = Annotated[str, Depends(current_user_id)]

# An id in the path: never NUL, which no stored id has and PostgreSQL cannot compare (422, not 500).
PathId = Annotated[str, Path(pattern=NO_NUL)]


def client_address(request: Request) -> str:
    """The peer's address (behind a trusted proxy, the one it forwarded: see docs/deployment.md)."""
    return request.client.host if request.client else "unknown"


async def limit_registrations(request: Request, services: ServicesDep) -> None:
    """REGISTER_MAX_PER_CLIENT attempts per address and window, taken emails included."""
    wait = await services.limits.registration(client_address(request))
    if wait is not None:
        raise TooManyRequests("too many registrations from this address; try again later", retry_after=wait)


async def limit_member_adds(services: ServicesDep, user_id: UserId) -> None:
    """MEMBER_ADD_MAX_PER_MINUTE per acting user: 404 vs 201 must not enumerate accounts quickly."""
    wait = await services.limits.member_add(user_id)
    if wait is not None:
        raise TooManyRequests("too many members added; try again later", retry_after=wait)


async def idempotency_key(
    request: Request,
    user_id: UserId,
    key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> IdempotencyKey | None:
    if not key:
        return None
    body = await request.body()
    return IdempotencyKey.for_request(user_id, key, request.method, request.url.path, body)


IdemKey = Annotated[IdempotencyKey | None, Depends(idempotency_key)]


def reply(result: Reply) -> Response:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    if result.status_code == 204:
        return Response(status_code=204, headers=headers)
    return Response(
        content=result.body, status_code=result.status_code, media_type="application/json", headers=headers
    )
