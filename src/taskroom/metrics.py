"""Node metrics, kept once and shown twice: JSON (`/api/v1/ws/metrics`) and Prometheus (`/metrics`).

Each app owns its registry (no process-global state), so several nodes can run in one process.
"""

from __future__ import annotations

import time
from collections import Counter as TallyCounter
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class NodeMetrics:
    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._connections = Gauge("taskroom_ws_connections", "Open WebSocket connections", registry=r)
        self._authenticated = Gauge(
            "taskroom_ws_connections_authenticated", "Authenticated connections", registry=r
        )
        self._peak = Gauge("taskroom_ws_connections_peak", "Most connections open at once", registry=r)
        self._opened = Counter("taskroom_ws_connections_opened", "Connections accepted", registry=r)
        self._rooms = Gauge("taskroom_ws_rooms", "Workspace rooms with a connection on this node", registry=r)
        self._in = Counter("taskroom_ws_messages_in", "Frames received", ["type"], registry=r)
        self._out = Counter("taskroom_ws_messages_out", "Frames sent", ["type"], registry=r)
        self._dropped = Counter("taskroom_ws_dropped", "Connections dropped as slow consumers", registry=r)
        self._rate_limited = Counter("taskroom_ws_rate_limited", "Frames refused by rate limits", registry=r)
        self._fanout = Histogram(
            "taskroom_ws_fanout_seconds",
            "From commit to the frame queued on every local connection",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._redis_shared = Gauge(
            "taskroom_redis_shared",
            "1 while this node uses Redis (shared mode), 0 while Redis is away (local mode)",
            registry=r,
        )
        self._redis_changes = Counter(
            "taskroom_redis_mode_changes",
            "Switches between shared mode (Redis) and local mode (this node's own state), by new mode",
            ["to"],
            registry=r,
        )
        self._auth_refused = Counter(
            "taskroom_auth_refused",
            "Credentials refused, by entry point (rest, ws, doc) and reason (edge/identity.py RefusalReason)",
            ["endpoint", "reason"],
            registry=r,
        )
        # Plain mirrors for the JSON view, so it needs no scraping of the registry.
        self.connections = 0
        self.authenticated = 0
        self.peak = 0
        self.opened = 0
        self.rooms = 0
        self.dropped = 0
        self.rate_limited = 0
        self.redis_mode: str | None = None  # None without Redis
        self.redis_changes: TallyCounter[str] = TallyCounter()
        self.messages_in: TallyCounter[str] = TallyCounter()
        self.messages_out: TallyCounter[str] = TallyCounter()
        self.auth_refused: TallyCounter[tuple[str, str]] = TallyCounter()
        self._fanout_count = 0
        self._fanout_sum = 0.0
        self._fanout_max = 0.0
        # Values read when shown rather than counted as they change (see `sample`).
        self._samples: dict[str, Callable[[], int]] = {}

    def sample(self, name: str, prometheus_name: str, description: str, read: Callable[[], int]) -> None:
        """Show `read()` under `runtime.<name>` in JSON and as a gauge: for state that the node
        already holds somewhere (tasks, presence entries), so nothing counts it on the hot path."""
        self._samples[name] = read
        Gauge(prometheus_name, description, registry=self.registry).set_function(read)

    def connection_opened(self) -> None:
        self.connections += 1
        self.opened += 1
        self.peak = max(self.peak, self.connections)
        self._connections.set(self.connections)
        self._opened.inc()
        self._peak.set(self.peak)

    def connection_closed(self, was_authenticated: bool) -> None:
        self.connections -= 1
        self._connections.set(self.connections)
        if was_authenticated:
            self.set_authenticated(-1)

    def set_authenticated(self, delta: int) -> None:
        self.authenticated += delta
        self._authenticated.set(self.authenticated)

    def set_rooms(self, count: int) -> None:
        self.rooms = count
        self._rooms.set(count)

    def message_in(self, message_type: str) -> None:
        self.messages_in[message_type] += 1
        self._in.labels(message_type).inc()

    def message_out(self, message_type: str, count: int = 1) -> None:
        self.messages_out[message_type] += count
        self._out.labels(message_type).inc(count)

    def connection_dropped(self) -> None:
        self.dropped += 1
        self._dropped.inc()

    def frame_rate_limited(self) -> None:
        self.rate_limited += 1
        self._rate_limited.inc()

    def credential_refused(self, endpoint: str, reason: str) -> None:
        self.auth_refused[(endpoint, reason)] += 1
        self._auth_refused.labels(endpoint, reason).inc()

    def fanout(self, seconds: float) -> None:
        self._fanout_count += 1
        self._fanout_sum += seconds
        self._fanout_max = max(self._fanout_max, seconds)
        self._fanout.observe(seconds)

    def set_redis_mode(self, mode: str, changed: bool = True) -> None:
        """The node's Redis mode (`shared` or `local`); `changed` False at the start, which is
        no switch (a node that starts without Redis is not counted as having lost it)."""
        self.redis_mode = mode
        self._redis_shared.set(1 if mode == "shared" else 0)
        if changed:
            self.redis_changes[mode] += 1
            self._redis_changes.labels(mode).inc()

    def uptime(self) -> float:
        return time.monotonic() - self.started_at

    def snapshot(self) -> dict[str, Any]:
        count = self._fanout_count
        return {
            "uptimeSeconds": round(self.uptime(), 3),
            "connections": {
                "current": self.connections,
                "authenticated": self.authenticated,
                "peak": self.peak,
                "totalOpened": self.opened,
            },
            "rooms": self.rooms,
            "messages": {
                "in": sum(self.messages_in.values()),
                "out": sum(self.messages_out.values()),
                "inByType": dict(self.messages_in),
                "outByType": dict(self.messages_out),
            },
            "dropped": self.dropped,
            "rateLimited": self.rate_limited,
            "fanoutLatency": {
                "count": count,
                "meanMs": round(self._fanout_sum / count * 1000, 3) if count else 0.0,
                "maxMs": round(self._fanout_max * 1000, 3),
            },
            "authRefused": _nested(self.auth_refused),
            "runtime": {name: read() for name, read in self._samples.items()},
            "redis": {
                "mode": self.redis_mode,
                "changes": {"local": self.redis_changes["local"], "shared": self.redis_changes["shared"]},
            },
        }

    def prometheus(self) -> bytes:
        return generate_latest(self.registry)


def _nested(tally: TallyCounter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """{(endpoint, reason): n} as {endpoint: {reason: n}} for the JSON view."""
    out: dict[str, dict[str, int]] = {}
    for (endpoint, reason), count in sorted(tally.items()):
        out.setdefault(endpoint, {})[reason] = count
    return out
