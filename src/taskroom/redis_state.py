"""One node's standing in the Redis of its service: its liveness, and the sweeping of dead nodes.

Shared state that belongs to a node's connections (presence entries, connection slots) names the
node's *instance*: NODE_ID plus a random part per start, so that a node restarted under the same
NODE_ID never inherits its dead predecessor's entries. An instance is alive while its score in
the `nodes` sorted set (the Redis clock at its last heartbeat, in ms) is younger than two
heartbeats. Readers ignore the entries of instances that are not alive; a surviving node claims
each dead instance (SET NX, so one sweeper wins) and removes what it left behind.

Two modes. In *shared* mode callers use Redis. A caller that fails calls `failed`: the node
switches to *local* mode, where every caller answers from this node's own view (see
`RedisPresence`, `RedisLimitStore`) and none touches Redis, so a hung Redis costs one timeout,
not one per frame. Only the heartbeat probes Redis then. When a probe gets through, the pools'
connections are dropped first (every one of them was opened before the outage and may be dead:
found one at a time, each would switch the node back to local mode), the node's entries are
written again, and only then does the node return to shared mode: once per outage. Each switch
is logged once and counted (`on_change`, the metric `taskroom_redis_mode_changes_total`).

A connection that breaks while in use is retried once on a new connection (every call here is
safe to repeat: hits carry ids, writes set values), and a connection idle for a while is pinged
before use, so one dead socket does not count as an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .durations import Seconds, to_milliseconds

logger = logging.getLogger(__name__)

# What a Redis call may raise when Redis is away or slow.
REDIS_ERRORS = (RedisError, OSError, TimeoutError)

# Seconds between the heartbeat's probes while in local mode (at most one heartbeat).
PROBE_SECONDS = 1.0
# A pooled connection idle this long is pinged before it carries a command.
HEALTH_CHECK_SECONDS = 5

SHARED, LOCAL = "shared", "local"


def client(url: str) -> redis.Redis:
    """A Redis client as every part of a node needs one: short timeouts (a limit check waits for
    Redis on a client's frame), one retry on a new connection when a pooled one turns out dead,
    and a ping before a long-idle connection is used."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
        health_check_interval=HEALTH_CHECK_SECONDS,
    )


# Lua shared by the scripts: the Redis clock (one clock for every node), and whether an instance
# is alive. Scripts reading TIME and then writing are replicated by effects (Redis >= 5 default).
LUA_LIB = """
redis.replicate_commands()  -- effects replication: a no-op on Redis 7, needed by 3.2 to 4
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function alive_since(nodes, instance, oldest)
  local score = redis.call('ZSCORE', nodes, instance)
  return score and tonumber(score) >= oldest
end
"""

# KEYS: nodes. ARGV: instance, ttl ms.
# Returns {1 when the instance was alive already else 0, instances alive now}.
_BEAT = (
    LUA_LIB
    + """
local now = now_ms()
local was = alive_since(KEYS[1], ARGV[1], now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
local alive = redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[2]), '+inf')
if was then return {1, alive} end
return {0, alive}
"""
)

# KEYS: nodes. ARGV: ttl ms, sweep-lock key prefix, this instance.
# Dead instances whose sweep lock this node took (the lock lasts a ttl: a sweeper that dies
# mid-way leaves the instance to the next one).
_CLAIM_DEAD = (
    LUA_LIB
    + """
local now = now_ms()
local claimed = {}
for _, instance in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])))) do
  if instance ~= ARGV[3] and redis.call('SET', ARGV[2] .. instance, ARGV[3], 'NX', 'PX', ARGV[1]) then
    table.insert(claimed, instance)
  end
end
return claimed
"""
)

# KEYS: nodes. ARGV: ttl ms, the instance. Forgets it unless it came back meanwhile.
_FORGET = (
    LUA_LIB
    + """
if not alive_since(KEYS[1], ARGV[1], now_ms() - tonumber(ARGV[2])) then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""
)


class KeyedLocks:
    """One asyncio lock per key, alive while someone holds or waits for it.

    A node's calls about one connection must reach Redis in the order they were made; calls
    through a connection pool may overtake each other (a `track` and the `untrack` right after it
    would leave a ghost), so they take the connection's lock. Hand-written: it is these few lines.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def text(value: bytes | str) -> str:
    """A Redis reply as text (the client hands bytes back; its typing allows either)."""
    return value.decode() if isinstance(value, bytes) else value


class RedisNodeState:
    def __init__(self, url: str, prefix: str, node_id: str, heartbeat: Seconds) -> None:
        self.redis = client(url)
        self.prefix = prefix
        self.instance = f"{node_id}/{uuid.uuid4().hex[:8]}"
        self.heartbeat_seconds = heartbeat
        # Missing two beats counts as dead; survivors sweep on their next beat: within three.
        self.ttl_seconds = Seconds(2 * heartbeat)
        # The scripts count in milliseconds (Redis TIME), so they get the TTL in those.
        self.ttl_ms = to_milliseconds(self.ttl_seconds)
        self.nodes_key = self.key("nodes")
        self._beat = self.redis.register_script(_BEAT)
        self._claim = self.redis.register_script(_CLAIM_DEAD)
        self._forget = self.redis.register_script(_FORGET)
        # Local until the first beat gets through: the node starts serving after that beat.
        self.mode = LOCAL
        self._started = False  # the first entry into shared mode is no change of mode
        self._shared_since = 0.0
        self._dirty = False
        self._warned = False
        self.nodes_alive = 1  # live instances at the last beat: local limits take their share
        # Told the new mode, and whether it is a change (not the start): the node's metrics.
        self.on_change: Callable[[str, bool], None] = lambda _mode, _changed: None

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # --- modes ---------------------------------------------------------------------------------

    def usable(self) -> bool:
        """Whether callers use Redis (shared mode); else they answer from this node's view."""
        return self.mode == SHARED

    def shared_for(self) -> float:
        """Seconds since this node last entered shared mode (0 in local mode)."""
        return time.monotonic() - self._shared_since if self.mode == SHARED else 0.0

    def failed(self, what: str, exc: BaseException) -> None:
        self._dirty = True
        if not self._warned:  # once per outage (also when Redis is away from the start)
            self._warned = True
            logger.warning(
                "Redis unreachable (%s: %s): local mode, presence and limits are this node's own",
                what,
                exc,
            )
        if self.mode == SHARED:
            self.mode = LOCAL
            self.on_change(LOCAL, True)

    def take_dirty(self) -> bool:
        """Whether something failed to reach Redis since the last call (then write it all again)."""
        dirty, self._dirty = self._dirty, False
        return dirty

    async def drop_connections(self) -> None:
        """Close every pooled connection: the next call opens a new one."""
        with contextlib.suppress(*REDIS_ERRORS):
            await self.redis.connection_pool.disconnect()

    def back_in_shared_mode(self) -> None:
        """Redis answered and this node's entries are written again: callers use Redis again."""
        if self.mode == SHARED:
            return
        self.mode = SHARED
        self._shared_since = time.monotonic()
        self._warned = False
        if self._started:
            logger.warning("Redis is reachable again: shared mode")
        self.on_change(SHARED, self._started)
        self._started = True

    # --- liveness -------------------------------------------------------------------------------

    async def beat(self) -> bool:
        """Refresh this instance's liveness. False on the first beat, and when it had been counted
        dead (its entries may have been swept: the caller writes them again). Raises when Redis is away."""
        try:
            was_alive, alive = await self._beat(keys=[self.nodes_key], args=[self.instance, self.ttl_ms])
        except REDIS_ERRORS as exc:
            self.failed("heartbeat", exc)
            raise
        self.nodes_alive = max(1, int(alive))
        if not self._started and not self._dirty:
            self.back_in_shared_mode()  # the start: nothing was served without Redis yet
        return bool(was_alive)

    async def claim_dead(self) -> list[str]:
        """Dead instances this node has won the right to sweep."""
        claimed = await self._claim(
            keys=[self.nodes_key], args=[self.ttl_ms, self.key("sweeping", ""), self.instance]
        )
        return [item.decode() for item in claimed]

    async def forget(self, instance: str) -> None:
        await self._forget(keys=[self.nodes_key], args=[instance, self.ttl_ms])

    async def goodbye(self) -> None:
        """This instance stops: no longer alive (its connections were closed and untracked first)."""
        await self.redis.zrem(self.nodes_key, self.instance)

    async def close(self) -> None:
        await self.redis.aclose()
