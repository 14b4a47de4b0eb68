"""Health and metrics (PROTOCOL §2)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..schemas import HealthOut
from .deps import ServicesDep

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


@router.get(
    "/api/v1/ws/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "A dependency (database or broker) is down"}},
)
async def health(services: ServicesDep) -> JSONResponse:
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


@router.get("/api/v1/ws/metrics", response_model=dict[str, Any])
async def metrics_json(services: ServicesDep) -> JSONResponse:
    return JSONResponse({"nodeId": services.settings.node_id, **services.metrics.snapshot()})


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics_prometheus(services: ServicesDep) -> Response:
    return Response(services.metrics.prometheus(), media_type="text/plain; version=0.0.4; charset=utf-8")
