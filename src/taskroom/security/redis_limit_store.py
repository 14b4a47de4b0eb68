"""Limits counted in Redis, for every node of a service at once: the `LimitStore` contract.

Keys (under REDIS_PREFIX), each changed by one Lua script on the Redis clock, so checks and
updates are atomic across nodes:
- `limit:{key}` — a sliding window: sorted set of hit ids scored by time (ms), trimmed to the
  limit, expiring one window after its last hit;
- `bucket:{key}` — a token bucket: hash of tokens and time, expiring once it would be full again;
- `slots:{key}` — connection slots: hash, `instance \\x1f slot` -> '' (slots of dead instances,
  see `redis_state.py`, do not count and are dropped on the way); `slots-node:{instance}` lists a
  node's slots so that a survivor sweeps them when it dies.

When Redis cannot be reached (local mode, `redis_state.py`) the limits are this node's own (a
`MemoryLimitStore`), and nobody gets an error because of Redis. So that the service as a whole is
not looser meanwhile, the windows (failed logins, registrations, member additions) are stricter:
- every hit admitted by Redis is also counted here, so a switch to local mode starts from what
  this node already let in, not from zero;
- in local mode a node admits only its share of a limit: limit // (nodes alive at its last
  beat), at least 1;
- on the return to shared mode every hit this node counted within its window is written to Redis
  (`carry`; by hit id, so writing one twice counts it once, and a Redis restarted empty gets them
  back), so the shared count includes what was let in during the outage.
Token buckets and connection slots stay this node's own while Redis is away (slots are written
back on the return). A warning is logged and the health check says `degraded`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..redis_state import LUA_LIB, REDIS_ERRORS, KeyedLocks, RedisNodeState, text
from .limit_store import MemoryLimitStore, Window

# KEYS: the windows' keys. ARGV: hit id, then limit and window ms per key.
# Returns -1 when counted, else the ms to wait.
_HIT = (
    LUA_LIB
    + """
local now = now_ms()
local wait = -1
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now, 0)
  end
end
if wait >= 0 then return wait end
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZADD', key, now, ARGV[1])
  redis.call('ZREMRANGEBYRANK', key, 0, -(limit + 1))
  redis.call('PEXPIRE', key, window)
end
return -1
"""
)

# KEYS: bucket. ARGV: rate per second, burst, cost. Returns 1 when taken.
_TAKE = (
    LUA_LIB
    + """
local now = now_ms()
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]) or burst, tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local taken = 0
if tokens >= cost then tokens = tokens - cost; taken = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return taken
"""
)

# KEYS: a window. ARGV: window ms, then hit id and age ms per hit. Adds the hits (by id: one
# already there is counted once) where they would have been on the Redis clock.
_CARRY = (
    LUA_LIB
    + """
local now = now_ms()
local window = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local at = now - tonumber(ARGV[i + 1])
  if at > now - window then redis.call('ZADD', KEYS[1], at, ARGV[i]) end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], window) end
return 0
"""
)

_SLOTS_LIB = (
    LUA_LIB
    + """
-- Slots held by live instances (`self` counts as alive); the dead ones' are dropped.
local function held(nodes, key, oldest, self)
  local count, alive = 0, {}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    local instance = string.match(field, '^(.-)\\031')
    local live = alive[instance]
    if live == nil then
      live = instance == self or alive_since(nodes, instance, oldest)
      alive[instance] = live
    end
    if live then count = count + 1 else redis.call('HDEL', key, field) end
  end
  return count
end
"""
)

# KEYS: nodes, slots, node index. ARGV: ttl, instance, slot, limit (-1: no limit), key.
_OPEN = (
    _SLOTS_LIB
    + """
local field = ARGV[2] .. '\\031' .. ARGV[3]
if redis.call('HEXISTS', KEYS[2], field) == 0 then
  local limit = tonumber(ARGV[4])
  if limit >= 0 and held(KEYS[1], KEYS[2], now_ms() - tonumber(ARGV[1]), ARGV[2]) >= limit then
    return 0
  end
  redis.call('HSET', KEYS[2], field, '')
  redis.call('SADD', KEYS[3], ARGV[5] .. '\\031' .. ARGV[3])
end
return 1
"""
)

# KEYS: nodes, slots. ARGV: ttl, instance.
_COUNT = _SLOTS_LIB + "\nreturn held(KEYS[1], KEYS[2], now_ms() - tonumber(ARGV[1]), ARGV[2])\n"

# KEYS: nodes, the dead instance's index. ARGV: ttl, slots key prefix, dead instance.
_SWEEP = (
    LUA_LIB
    + """
if alive_since(KEYS[1], ARGV[3], now_ms() - tonumber(ARGV[1])) then return 0 end
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key, slot = string.match(member, '^(.-)\\031(.*)$')
  redis.call('HDEL', ARGV[2] .. key, ARGV[3] .. '\\031' .. slot)
end
redis.call('DEL', KEYS[2])
return 0
"""
)


class RedisLimitStore:
    def __init__(self, state: RedisNodeState) -> None:
        self._state = state
        self._redis = state.redis
        self._hit = state.redis.register_script(_HIT)
        self._take = state.redis.register_script(_TAKE)
        self._open = state.redis.register_script(_OPEN)
        self._count = state.redis.register_script(_COUNT)
        self._sweep = state.redis.register_script(_SWEEP)
        self._carry = state.redis.register_script(_CARRY)
        self._local = MemoryLimitStore()  # while Redis is away; windows mirror what Redis admitted
        self._mine: dict[str, str] = {}  # this node's open slots: slot id -> key
        self._index = state.key("slots-node", state.instance)
        self._ordered = KeyedLocks()  # by slot: opening and closing reach Redis in order

    async def hit(self, windows: Sequence[Window], hit_id: str) -> float | None:
        if self._state.usable():
            args: list[str | int] = [hit_id]
            for window in windows:
                args += [window.limit, math.ceil(window.seconds * 1000)]
            try:
                wait = int(await self._hit(keys=[self._key(w) for w in windows], args=args))
            except REDIS_ERRORS as exc:
                self._state.failed("limits", exc)
            else:
                if wait >= 0:
                    return wait / 1000
                self._local.record(windows, hit_id)
                return None
        return await self._local.hit(windows, hit_id, nodes=self._state.nodes_alive)

    async def take_back(self, window: Window, hit_id: str) -> None:
        await self._local.take_back(window, hit_id)
        if self._state.usable():
            try:
                await self._redis.zrem(self._key(window), hit_id)
            except REDIS_ERRORS as exc:
                self._state.failed("limits", exc)

    async def clear(self, window: Window) -> None:
        await self._local.clear(window)
        if self._state.usable():
            try:
                await self._redis.delete(self._key(window))
            except REDIS_ERRORS as exc:
                self._state.failed("limits", exc)

    async def take_tokens(self, key: str, rate: float, burst: float, cost: float) -> bool:
        if self._state.usable():
            try:
                bucket = self._state.key("bucket", key)
                return bool(await self._take(keys=[bucket], args=[rate, burst, cost]))
            except REDIS_ERRORS as exc:
                self._state.failed("limits", exc)
        return await self._local.take_tokens(key, rate, burst, cost)

    async def open_slot(self, key: str, slot_id: str, limit: int) -> bool:
        async with self._ordered.hold(slot_id):
            return await self._open_slot(key, slot_id, limit)

    async def _open_slot(self, key: str, slot_id: str, limit: int) -> bool:
        if self._state.usable():
            try:
                opened = await self._open_in_redis(key, slot_id, limit)
            except REDIS_ERRORS as exc:
                self._state.failed("limits", exc)
            else:
                if opened:
                    self._mine[slot_id] = key
                return opened
        # This node's own count; written to Redis (over the limit or not) once it is back.
        opened = await self._local.open_slot(key, slot_id, limit)
        if opened:
            self._mine[slot_id] = key
        return opened

    async def close_slot(self, key: str, slot_id: str) -> None:
        async with self._ordered.hold(slot_id):
            await self._close_slot(key, slot_id)

    async def _close_slot(self, key: str, slot_id: str) -> None:
        await self._local.close_slot(key, slot_id)
        if self._mine.pop(slot_id, None) is None:
            return
        if self._state.usable():
            try:
                await self._drop_in_redis(key, slot_id)
            except REDIS_ERRORS as exc:
                self._state.failed("limits", exc)

    async def slots(self, key: str) -> int:
        if self._state.usable():
            try:
                return int(
                    await self._count(
                        keys=[self._state.nodes_key, self._slots_key(key)],
                        args=[self._state.ttl_ms, self._state.instance],
                    )
                )
            except REDIS_ERRORS as exc:
                self._state.failed("limits", exc)
        return await self._local.slots(key)

    # --- what the heartbeat does ----------------------------------------------------------------

    async def resync(self) -> None:
        """Make Redis hold exactly this node's slots again (it was counted dead or missed Redis),
        and its windows' hits."""
        await self.carry()
        mine = {f"{key}\x1f{slot_id}" for slot_id, key in self._mine.items()}
        for member in await self._redis.smembers(self._index):
            if text(member) not in mine:
                key, slot_id = text(member).split("\x1f", 1)
                async with self._ordered.hold(slot_id):
                    if slot_id not in self._mine:
                        await self._drop_in_redis(key, slot_id)
        for slot_id in list(self._mine):
            async with self._ordered.hold(slot_id):
                held = self._mine.get(slot_id)
                if held is not None:  # not closed meanwhile
                    await self._open_in_redis(held, slot_id, -1)  # admitted already: no limit to check

    async def carry(self) -> None:
        """Write every hit counted here within its window to Redis (back from local mode)."""
        for key, seconds, hits in self._local.recent_hits():
            if not hits:
                continue
            args: list[str | int] = [math.ceil(seconds * 1000)]
            for age, hit_id in hits:
                args += [hit_id, math.floor(age * 1000)]
            await self._carry(keys=[self._state.key("limit", key)], args=args)

    async def sweep(self, instance: str) -> None:
        """Remove a dead instance's slots."""
        await self._sweep(
            keys=[self._state.nodes_key, self._state.key("slots-node", instance)],
            args=[self._state.ttl_ms, self._state.key("slots", ""), instance],
        )

    async def goodbye(self) -> None:
        await self._redis.delete(self._index)

    # --- Redis ----------------------------------------------------------------------------------

    def _key(self, window: Window) -> str:
        return self._state.key("limit", window.key)

    def _slots_key(self, key: str) -> str:
        return self._state.key("slots", key)

    async def _drop_in_redis(self, key: str, slot_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._slots_key(key), f"{self._state.instance}\x1f{slot_id}")
            pipe.srem(self._index, f"{key}\x1f{slot_id}")
            await pipe.execute()

    async def _open_in_redis(self, key: str, slot_id: str, limit: int) -> bool:
        return bool(
            await self._open(
                keys=[self._state.nodes_key, self._slots_key(key), self._index],
                args=[self._state.ttl_ms, self._state.instance, slot_id, limit, key],
            )
        )
