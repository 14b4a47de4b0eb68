"""Health and metrics (PROTOCOL §2).

Health is always served (load balancers and orchestrators poll it; it shows status, node id,
uptime and the connection count). Metrics tell more (connection counts, traffic by type): `METRICS_ENABLED=false`
leaves their routes out, and `METRICS_TOKEN` puts them behind a bearer token of their own.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..errors import Unauthorized
from ..schemas import HealthOut
from .deps import ServicesDep

router = APIRouter(tags=["health"])
metrics_router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


async def require_metrics_token(services: ServicesDep, request: Request) -> None:
    """With METRICS_TOKEN set, the metrics answer only to `Authorization: Bearer <METRICS_TOKEN>`.

    The header is read here rather than through FastAPI's HTTPBearer, which would mark the routes
    as secured in the OpenAPI document whether or not a token is configured."""
    expected = services.settings.metrics_token
    if not expected:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        error = Unauthorized("metrics need Authorization: Bearer <METRICS_TOKEN>")
        error.headers = {"WWW-Authenticate": "Bearer"}
        raise error


@router.get(
    "/api/v1/ws/health",
    summary="Node health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "A dependency (database or broker) is down"}},
)
async def health(services: ServicesDep) -> JSONResponse:
    """200 while the database and the broker answer; 503 naming the check that failed. For load balancers and monitors: no authentication."""
    checks = {"database": "ok", "broker": "ok"}
    try:
        await services.db.ping()
    except Exception:  # any failure means the dependency is unusable; the log says why
        logger.exception("database health check failed")
        checks["database"] = "down"
    if services.realtime is not None and not await services.realtime.broker_healthy():
        checks["broker"] = "down"
    healthy = all(value == "ok" for value in checks.values())
    body = {
        "status": "ok" if healthy else "degraded",
        "nodeId": services.settings.node_id,
        "uptimeSeconds": round(services.metrics.uptime(), 3),
        "connections": services.metrics.connections,
        "checks": checks,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@metrics_router.get(
    "/api/v1/ws/metrics",
    summary="Node metrics (JSON)",
    response_model=dict[str, Any],
    dependencies=[Depends(require_metrics_token)],
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "nodeId": "node-1",
                        "connections": {"current": 3, "authenticated": 3, "peak": 5},
                    }
                }
            }
        }
    },
)
async def metrics_json(services: ServicesDep) -> JSONResponse:
    """Connections, rooms, messages, drops and latencies of this node. Behind `METRICS_TOKEN` when it is set; absent with `METRICS_ENABLED=false`."""
    return JSONResponse({"nodeId": services.settings.node_id, **services.metrics.snapshot()})


@metrics_router.get(
    "/metrics",
    summary="Node metrics (Prometheus)",
    dependencies=[Depends(require_metrics_token)],
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": "# TYPE taskroom_ws_connections gauge\ntaskroom_ws_connections 3\n",
                }
            },
        }
    },
)
async def metrics_prometheus(services: ServicesDep) -> Response:
    """The same figures as `/api/v1/ws/metrics` in the Prometheus text format, for scraping."""
    return Response(services.metrics.prometheus(), media_type="text/plain; version=0.0.4; charset=utf-8")
