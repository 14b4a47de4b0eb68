"""One node, built in one typed place: settings, storage, broker, presence, limits, hub and services.

`create_app` builds it in its lifespan; nothing else constructs these parts, and no module holds
them globally, so each test's server has a node of its own.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from .container import Services, build_services
from .documents.service import DocumentService
from .edge.audit import DOCUMENT, WEBSOCKET, RefusalLog
from .metrics import NodeMetrics
from .realtime.broker import Broker, MemoryBroker
from .realtime.codec import Revoked
from .realtime.commit_listener import CommitListener, CommitNotices
from .realtime.heartbeat import NodeHeartbeat
from .realtime.hub import Hub
from .realtime.presence import MemoryPresence, Presence
from .realtime.redis_broker import RedisBroker
from .realtime.redis_presence import RedisPresence
from .realtime.session import SessionFactory
from .realtime.transport import WS_PATH
from .redis_state import RedisNodeState
from .security.limit_store import LimitStore, MemoryLimitStore
from .security.redis_limit_store import RedisLimitStore
from .services.api_keys import KeysDeleted
from .services.database import Database
from .services.feeds import WorkspaceFeeds
from .services.log import WorkspaceLog
from .services.sessions import SessionsEnded
from .services.webhooks import WakingPublisher, WebhookWorker
from .settings import Settings


@dataclass(frozen=True, slots=True)
class SharedParts:
    """What the nodes of one service share: the broker, presence and the limits' counts."""

    broker: Broker
    presence: Presence
    limits: LimitStore
    # Set when the parts live outside this process: it keeps this node counted alive there.
    state: RedisNodeState | None = None
    presence_in_redis: RedisPresence | None = None
    limits_in_redis: RedisLimitStore | None = None


@dataclass(frozen=True, slots=True)
class Node:
    settings: Settings
    db: Database
    metrics: NodeMetrics
    hub: Hub
    services: Services
    sessions: SessionFactory
    # PostgreSQL only: SQLite serves one node, whose own publishes never miss.
    commit_listener: CommitListener | None
    # Shared task descriptions (WS /api/v1/tasks/{taskId}/doc).
    documents: DocumentService
    # Redis only: keeps this node counted alive, and sweeps the nodes that are not.
    heartbeat: NodeHeartbeat | None = None
    # Webhook deliveries (services/webhooks/worker.py).
    webhooks: WebhookWorker | None = None

    async def start(self) -> None:
        await self.hub.start()
        await self.documents.start()
        if self.commit_listener is not None:
            self.hub.spawn(self.commit_listener.run())
        if self.heartbeat is not None:
            await self.heartbeat.start()
        if self.webhooks is not None:
            await self.webhooks.start()

    async def stop(self) -> None:
        await self.hub.close_all()  # connections leave (and untrack) while Redis is still there
        await self.documents.stop()
        if self.heartbeat is not None:
            await self.heartbeat.stop()
        await self.hub.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
        await self.db.dispose()


def _in_process(_settings: Settings) -> SharedParts:
    return SharedParts(MemoryBroker(), MemoryPresence(), MemoryLimitStore())


def _redis(settings: Settings) -> SharedParts:
    assert settings.redis_url is not None
    state = RedisNodeState(
        settings.redis_url, settings.redis_prefix, settings.node_id, settings.ws_heartbeat_interval_seconds
    )
    presence = RedisPresence(state)
    limits = RedisLimitStore(state)
    return SharedParts(make_broker(settings), presence, limits, state, presence, limits)


# The shared parts are chosen by REDIS_URL's scheme; unset means this node alone, in-process.
BACKENDS: dict[str, Callable[[Settings], SharedParts]] = {
    "redis": _redis,
    "rediss": _redis,
    "unix": _redis,
}


def make_shared_parts(settings: Settings) -> SharedParts:
    if not settings.redis_url:
        return _in_process(settings)
    scheme = urlsplit(settings.redis_url).scheme
    if scheme not in BACKENDS:
        raise ValueError(f"REDIS_URL scheme {scheme!r} is not one of {', '.join(sorted(BACKENDS))}")
    return BACKENDS[scheme](settings)


def make_broker(settings: Settings) -> Broker:
    """A broker for these settings, alone (the documents relay holds one beside the hub's).

    Only the broker: building the shared parts again would open a second set of Redis clients
    for presence and limits that nothing uses."""
    if not settings.redis_url:
        return MemoryBroker()
    return RedisBroker(settings.redis_url, settings.redis_prefix)


def build_node(settings: Settings) -> Node:
    db = Database(settings.database_url)
    log = WorkspaceLog()
    metrics = NodeMetrics()
    shared = make_shared_parts(settings)
    feeds = WorkspaceFeeds(db, log)
    hub = Hub(settings, feeds, shared.broker, shared.presence, metrics, shared.limits)
    webhooks = WebhookWorker(settings, db)
    # Every commit of this node wakes webhook delivery; on PostgreSQL so do other nodes' (below).
    publisher = WakingPublisher(hub.publisher, webhooks.wake)
    services = build_services(
        settings,
        db,
        log,
        publisher,
        metrics,
        realtime=hub,
        limit_store=shared.limits,
        wake_webhooks=webhooks.wake,
    )
    # Each socket endpoint counts and logs its own refusals (REST's are the services').
    ws_refusals = RefusalLog(WEBSOCKET, metrics.credential_refused).at(WS_PATH)
    doc_refusals = RefusalLog(DOCUMENT, metrics.credential_refused).at(DOC_PATH)
    sessions = SessionFactory(
        hub, metrics, hub.flusher, services.authenticator.observed(ws_refusals), feeds, settings
    )
    listener = (
        None
        if db.is_sqlite
        else CommitListener(settings.database_url, _WakingWebhooks(hub.safety_net, webhooks.wake))
    )
    # Documents get a broker of their own (see documents/relay.py).
    documents = DocumentService(
        settings,
        services,
        hub,
        shared.limits,
        make_broker(settings),
        services.authenticator.observed(doc_refusals),
        hub.revocations,
    )
    # Ended sessions close their sockets, on this node at once and on the others through the broker.
    services.sessions.on_sessions_ended(_closing_sockets_of(hub))
    # So do deleted API keys (before the removal of their member is published).
    services.api_keys.on_keys_deleted(_closing_key_sockets_of(hub))
    heartbeat = None
    if shared.state is not None:
        metrics.set_redis_mode(shared.state.mode, changed=False)
        shared.state.on_change = metrics.set_redis_mode
    if shared.state is not None and shared.presence_in_redis and shared.limits_in_redis:
        heartbeat = NodeHeartbeat(
            shared.state, shared.presence_in_redis, shared.limits_in_redis, hub.announcer
        )
    _sample_runtime(metrics, shared.presence, sessions)
    return Node(
        settings,
        db,
        metrics,
        hub,
        services,
        sessions,
        listener,
        documents,
        heartbeat,
        webhooks,
    )


def _closing_sockets_of(hub: Hub) -> SessionsEnded:
    async def ended(_user_id: str, session_ids: Sequence[str]) -> None:
        await hub.revoke(Revoked(session_ids=tuple(session_ids)))

    return ended


def _closing_key_sockets_of(hub: Hub) -> KeysDeleted:
    async def deleted(key_ids: Sequence[str]) -> None:
        await hub.revoke(Revoked(key_ids=tuple(key_ids)))

    return deleted


# A refusal comes before the task is known to exist: its log line names the route, not a task.
DOC_PATH = "/api/v1/tasks/{taskId}/doc"


class _WakingWebhooks:
    """Commit notices for the safety net that also wake webhook delivery on this node."""

    def __init__(self, notices: CommitNotices, wake: Callable[[], None]) -> None:
        self._notices = notices
        self._wake = wake

    def heard_commit(self, workspace_id: str, seq: int) -> None:
        self._notices.heard_commit(workspace_id, seq)
        self._wake()

    def catch_up_soon(self) -> None:
        self._notices.catch_up_soon()


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
