"""Presence of a service of many nodes, in Redis: the same contract as `MemoryPresence`.

Keys (under REDIS_PREFIX):
- `presence:{workspace}` — set of the user ids with an entry in the workspace;
- `presence:{workspace}:{user}` — hash, connection id -> `instance \\x1f status \\x1f lastSeen`;
- `presence-node:{instance}` — set of `workspace \\x1f user \\x1f connection`, what a node wrote,
  so that a survivor can sweep it when the node dies.

Each change is one Lua script (atomic): it reads the user's aggregate before, writes, and reads it
after, over the entries of live instances only (`redis_state.py`); entries of dead instances are
dropped on the way. That cleaning never loses an announcement: the sweeper of a dead instance
walks its `presence-node` set, not the hashes, and reports every user left with no live entry.

This node's own entries are also kept here in memory. They answer while Redis is unreachable
(this node's view only, as without Redis), and they are written back when the node had been
counted dead or missed Redis (`resync`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..redis_state import LUA_LIB, REDIS_ERRORS, KeyedLocks, RedisNodeState, text
from ..timeutil import format_timestamp, utcnow
from .presence import OFFLINE, MemoryPresence, PresenceMeta, UserPresence

_SEP = "\x1f"

# The user's aggregate over entries of live instances (`self` is alive whatever its score says:
# the caller's own entries count even while its heartbeat is late); dead entries are deleted.
_AGGREGATE = (
    LUA_LIB
    + """
local RANK = {online = 3, busy = 2, away = 1}
local function aggregate(nodes, user_key, oldest, self, alive)
  local fields = redis.call('HGETALL', user_key)
  local status, rank, last = false, -1, ''
  alive = alive or {}  -- instance -> alive, shared by the calls of one script
  for i = 1, #fields, 2 do
    local instance, st, seen = string.match(fields[i + 1], '^(.-)\\031(.-)\\031(.*)$')
    local live = alive[instance]
    if live == nil then
      live = instance == self or alive_since(nodes, instance, oldest)
      alive[instance] = live
    end
    if live then
      local r = RANK[st] or 0
      if r > rank then rank = r; status = st end
      if seen > last then last = seen end
    else
      redis.call('HDEL', user_key, fields[i])
    end
  end
  return status, last
end
"""
)

# KEYS: nodes, workspace users, user hash, node index.
# ARGV: ttl, instance, connection, status, lastSeen, workspace, user.
_TRACK = (
    _AGGREGATE
    + """
local oldest = now_ms() - tonumber(ARGV[1])
local bs, bl = aggregate(KEYS[1], KEYS[3], oldest, ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2] .. '\\031' .. ARGV[4] .. '\\031' .. ARGV[5])
redis.call('SADD', KEYS[2], ARGV[7])
redis.call('SADD', KEYS[4], ARGV[6] .. '\\031' .. ARGV[7] .. '\\031' .. ARGV[3])
local as, al = aggregate(KEYS[1], KEYS[3], oldest, ARGV[2])
return {bs or '', bl, as, al}
"""
)

# KEYS and ARGV 1-3, 6-7 as for _TRACK. Returns nil when the connection has no entry.
_UNTRACK = (
    _AGGREGATE
    + """
redis.call('SREM', KEYS[4], ARGV[6] .. '\\031' .. ARGV[7] .. '\\031' .. ARGV[3])
if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 0 then return false end
local oldest = now_ms() - tonumber(ARGV[1])
local bs, bl = aggregate(KEYS[1], KEYS[3], oldest, ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[3])
local as, al = aggregate(KEYS[1], KEYS[3], oldest, ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 0 then redis.call('SREM', KEYS[2], ARGV[7]) end
return {bs or '', bl, as or '', al}
"""
)

# KEYS: nodes, workspace users. ARGV: ttl, user hash key prefix, instance.
_USERS = (
    _AGGREGATE
    + """
local oldest = now_ms() - tonumber(ARGV[1])
local out, alive = {}, {}
for _, user in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[2] .. user
  local status, last = aggregate(KEYS[1], key, oldest, ARGV[3], alive)
  if status then
    table.insert(out, user); table.insert(out, status); table.insert(out, last)
  elseif redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[2], user)
  end
end
return out
"""
)

# KEYS: nodes, the dead instance's index. ARGV: ttl, presence key prefix, dead instance.
# Returns workspace, user pairs left with no live entry. Nothing when the instance came back.
_SWEEP = (
    _AGGREGATE
    + """
local oldest = now_ms() - tonumber(ARGV[1])
if alive_since(KEYS[1], ARGV[3], oldest) then return {} end
local pairs_seen, targets = {}, {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local ws, user, conn = string.match(member, '^(.-)\\031(.-)\\031(.*)$')
  local user_key = ARGV[2] .. ws .. ':' .. user
  local value = redis.call('HGET', user_key, conn)
  if value and string.sub(value, 1, #ARGV[3] + 1) == ARGV[3] .. '\\031' then
    redis.call('HDEL', user_key, conn)
  end
  local pair = ws .. '\\031' .. user
  if not pairs_seen[pair] then
    pairs_seen[pair] = true
    table.insert(targets, {ws, user, user_key})
  end
end
local out, alive = {}, {}
for _, t in ipairs(targets) do
  local status = aggregate(KEYS[1], t[3], oldest, '', alive)
  if not status then
    table.insert(out, t[1]); table.insert(out, t[2])
    if redis.call('EXISTS', t[3]) == 0 then redis.call('SREM', ARGV[2] .. t[1], t[2]) end
  end
end
redis.call('DEL', KEYS[2])
return out
"""
)


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """A user's presence in a workspace before and after something happened to their entries."""

    workspace_id: str
    before: UserPresence | None
    after: UserPresence


class RedisPresence:
    def __init__(self, state: RedisNodeState) -> None:
        self._state = state
        self._redis = state.redis
        self._track = state.redis.register_script(_TRACK)
        self._untrack = state.redis.register_script(_UNTRACK)
        self._users = state.redis.register_script(_USERS)
        self._sweep = state.redis.register_script(_SWEEP)
        self._local = MemoryPresence()  # this node's entries: the answer while Redis is away
        self._mine: dict[tuple[str, str], PresenceMeta] = {}  # (workspace, connection) -> entry
        self._index = state.key("presence-node", state.instance)
        self._ordered = KeyedLocks()  # by connection: its changes reach Redis in order

    # --- the Presence contract ------------------------------------------------------------------

    async def track(self, workspace_id: str, meta: PresenceMeta) -> tuple[UserPresence | None, UserPresence]:
        async with self._ordered.hold(meta.connection_id):
            local = await self._local.track(workspace_id, meta)
            self._mine[(workspace_id, meta.connection_id)] = meta
            if self._state.usable():
                try:
                    return await self._track_in_redis(workspace_id, meta)
                except REDIS_ERRORS as exc:
                    self._state.failed("presence", exc)
            return local

    async def untrack(
        self, workspace_id: str, connection_id: str, now: str
    ) -> tuple[UserPresence, UserPresence] | None:
        async with self._ordered.hold(connection_id):
            local = await self._local.untrack(workspace_id, connection_id, now)
            meta = self._mine.pop((workspace_id, connection_id), None)
            if meta is None:
                return None
            if self._state.usable():
                try:
                    return await self._untrack_in_redis(workspace_id, meta.user_id, connection_id, now)
                except REDIS_ERRORS as exc:
                    self._state.failed("presence", exc)
            return local

    def entries(self) -> int:
        """This node's connections tracked in some workspace (a metric of this node)."""
        return len(self._mine)

    async def users(self, workspace_id: str) -> list[UserPresence]:
        if self._state.usable():
            try:
                flat = await self._users(
                    keys=[self._state.nodes_key, self._room_key(workspace_id)],
                    args=[self._state.ttl_ms, self._room_key(workspace_id) + ":", self._state.instance],
                )
            except REDIS_ERRORS as exc:
                self._state.failed("presence", exc)
            else:
                users = [
                    UserPresence(flat[i].decode(), flat[i + 1].decode(), flat[i + 2].decode())
                    for i in range(0, len(flat), 3)
                ]
                return sorted(users, key=lambda user: user.user_id)
        return await self._local.users(workspace_id)

    # --- what the heartbeat does ----------------------------------------------------------------

    async def resync(self) -> list[PresenceChange]:
        """Make Redis hold exactly this node's entries again (after it was counted dead or missed
        Redis); returns the changes that brings, for the others to hear."""
        changes: list[PresenceChange] = []
        now = self._now()
        for member in await self._redis.smembers(self._index):
            workspace_id, user_id, connection_id = text(member).split(_SEP, 2)
            async with self._ordered.hold(connection_id):
                if (workspace_id, connection_id) not in self._mine:
                    change = await self._untrack_in_redis(workspace_id, user_id, connection_id, now)
                    if change is not None:
                        changes.append(PresenceChange(workspace_id, *change))
        for key in list(self._mine):
            async with self._ordered.hold(key[1]):
                meta = self._mine.get(key)
                if meta is not None:  # not untracked meanwhile
                    before, after = await self._track_in_redis(key[0], meta)
                    changes.append(PresenceChange(key[0], before, after))
        return changes

    async def sweep(self, instance: str) -> list[PresenceChange]:
        """Remove a dead instance's entries; returns the users that left offline."""
        flat = await self._sweep(
            keys=[self._state.nodes_key, self._state.key("presence-node", instance)],
            args=[self._state.ttl_ms, self._state.key("presence", ""), instance],
        )
        now = self._now()
        return [
            PresenceChange(flat[i].decode(), None, UserPresence(flat[i + 1].decode(), OFFLINE, now))
            for i in range(0, len(flat), 2)
        ]

    async def goodbye(self) -> None:
        """This node stops: whatever it still holds goes (its connections were untracked first)."""
        await self._redis.delete(self._index)

    # --- Redis ----------------------------------------------------------------------------------

    def _room_key(self, workspace_id: str) -> str:
        return self._state.key("presence", workspace_id)

    def _keys(self, workspace_id: str, user_id: str) -> list[str]:
        room = self._room_key(workspace_id)
        return [self._state.nodes_key, room, f"{room}:{user_id}", self._index]

    async def _track_in_redis(
        self, workspace_id: str, meta: PresenceMeta
    ) -> tuple[UserPresence | None, UserPresence]:
        reply = await self._track(
            keys=self._keys(workspace_id, meta.user_id),
            args=[
                self._state.ttl_ms,
                self._state.instance,
                meta.connection_id,
                meta.status,
                meta.last_seen,
                workspace_id,
                meta.user_id,
            ],
        )
        before_status, before_seen, after_status, after_seen = (part.decode() for part in reply)
        before = UserPresence(meta.user_id, before_status, before_seen) if before_status else None
        return before, UserPresence(meta.user_id, after_status, after_seen)

    async def _untrack_in_redis(
        self, workspace_id: str, user_id: str, connection_id: str, now: str
    ) -> tuple[UserPresence, UserPresence] | None:
        reply = await self._untrack(
            keys=self._keys(workspace_id, user_id),
            args=[self._state.ttl_ms, self._state.instance, connection_id, "", "", workspace_id, user_id],
        )
        if reply is None:
            return None
        before_status, before_seen, after_status, after_seen = (part.decode() for part in reply)
        after = (
            UserPresence(user_id, after_status, after_seen)
            if after_status
            else UserPresence(user_id, OFFLINE, now)
        )
        return UserPresence(user_id, before_status, before_seen), after

    @staticmethod
    def _now() -> str:
        return format_timestamp(utcnow())
