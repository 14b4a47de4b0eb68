"""One node, built in one typed place: settings, storage, broker, presence, hub and services.

`create_app` builds it in its lifespan; nothing else constructs these parts, and no module holds
them globally, so each test's server has a node of its own.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .container import Services, build_services
from .metrics import NodeMetrics
from .realtime.broker import Broker, MemoryBroker
from .realtime.hub import Hub
from .realtime.presence import MemoryPresence, Presence
from .realtime.redis_broker import RedisBroker
from .realtime.session import SessionFactory
from .services.database import Database
from .services.feeds import WorkspaceFeeds
from .services.log import WorkspaceLog
from .settings import Settings


@dataclass(frozen=True, slots=True)
class Node:
    settings: Settings
    db: Database
    metrics: NodeMetrics
    broker: Broker
    presence: Presence
    hub: Hub
    services: Services
    sessions: SessionFactory

    async def start(self) -> None:
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        await self.db.dispose()


def _redis_broker(settings: Settings) -> Broker:
    assert settings.redis_url is not None
    return RedisBroker(settings.redis_url, settings.redis_prefix)


# The broker is chosen by REDIS_URL's scheme; unset means this node alone, in-process.
BROKERS: dict[str, Callable[[Settings], Broker]] = {
    "redis": _redis_broker,
    "rediss": _redis_broker,
    "unix": _redis_broker,
}


def make_broker(settings: Settings) -> Broker:
    if not settings.redis_url:
        return MemoryBroker()
    scheme = urlsplit(settings.redis_url).scheme
    if scheme not in BROKERS:
        raise ValueError(f"REDIS_URL scheme {scheme!r} is not one of {', '.join(sorted(BROKERS))}")
    return BROKERS[scheme](settings)


def build_node(settings: Settings) -> Node:
    db = Database(settings.database_url)
    log = WorkspaceLog()
    metrics = NodeMetrics()
    broker = make_broker(settings)
    presence = MemoryPresence()
    feeds = WorkspaceFeeds(db, log)
    hub = Hub(settings, feeds, broker, presence, metrics)
    services = build_services(settings, db, log, hub.publisher, metrics, realtime=hub)
    sessions = SessionFactory(hub, services.tokens, feeds, settings)
    _sample_runtime(metrics, presence, sessions)
    return Node(settings, db, metrics, broker, presence, hub, services, sessions)


def _sample_runtime(metrics: NodeMetrics, presence: Presence, sessions: SessionFactory) -> None:
    """What a soak test or an operator watches for leaks: all of it returns to its idle level."""
    metrics.sample(
        "asyncioTasks",
        "taskroom_asyncio_tasks",
        "asyncio tasks of the node's event loop",
        lambda: len(asyncio.all_tasks()),
    )
    metrics.sample(
        "pythonAllocatedBlocks",
        "taskroom_python_allocated_blocks",
        "Memory blocks Python's allocator holds (objects alive; unlike RSS, no allocator slack)",
        sys.getallocatedblocks,
    )
    metrics.sample(
        "presenceEntries",
        "taskroom_presence_entries",
        "Connections tracked in a workspace's presence",
        presence.entries,
    )
    metrics.sample(
        "pendingConnections",
        "taskroom_ws_connections_pending",
        "WebSockets not authenticated yet (counted per address against WS_MAX_PENDING_PER_ADDRESS)",
        sessions.pending.total,
    )
