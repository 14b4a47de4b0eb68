"""API keys for back-ends (PROTOCOL §5.3): one workspace, one role, one service user each.

A key acts as its own service user: a member of its one workspace with the key's role, so every
check that a person meets (roles, 404 for other workspaces) applies to it unchanged, and its
events name that user as `actorId`. Creating a key adds the member (`WORKSPACE_MEMBER_ADDED`);
deleting it removes the member (`WORKSPACE_MEMBER_REMOVED`) and the user, and tells the
listeners (the real-time layer closes the key's sockets 4401 on every node).

The key is shown once, in the answer that creates it. Only its SHA-256 is stored. A fast hash is
right here, unlike for passwords: the key carries 256 random bits, so nobody can guess it back
from its hash however fast they hash, and a plain digest is found by an indexed equality on
every request. `prefix` (the key's first characters) is kept in clear for lists.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import ApiKey, Member, User
from ..errors import NotFound
from ..schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, Role
from ..timeutil import utcnow
from ..wire import MessageType
from .access import require_role
from .database import Database
from .idempotency import AccessScope, IdempotencyKey
from .log import WorkspaceLog
from .views import member_view
from .writes import Reply, WriteOutcome, WriteRunner

logger = logging.getLogger(__name__)

# The prefix names what the secret is, in a leaked paste or a secret scanner's rules, and lets the
# log filter recognise one wherever it stands (logging_redaction.py).
KEY_PREFIX = "trk_"
KEY_BYTES = 32
# What lists show: the prefix and 8 characters (48 of the 256 bits), enough to tell keys apart.
SHOWN_CHARACTERS = len(KEY_PREFIX) + 8
SERVICE = "service"
# A service user has no password: the empty hash, which `PasswordService.verify` never accepts.
NO_PASSWORD = ""
# Service users need a unique email; `.invalid` is reserved (RFC 2606) and reaches nobody.
SERVICE_EMAIL_DOMAIN = "api-keys.invalid"
#: last_used_at is written at most this often per key and node: not a write per request.
LAST_USED_EVERY_SECONDS = 60.0

#: Called after keys were deleted (after the commit), with their ids.
KeysDeleted = Callable[[Sequence[str]], Awaitable[None]]

_BY_HASH = select(ApiKey.id, ApiKey.service_user_id).where(ApiKey.key_hash == bindparam("key_hash"))


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def is_api_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


@dataclass(slots=True)
class ApiKeyService:
    db: Database
    log: WorkspaceLog
    writes: WriteRunner
    _listeners: list[KeysDeleted] = field(default_factory=list)
    # key id -> when (monotonic) this node last wrote its last_used_at.
    _used_at: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    def on_keys_deleted(self, listener: KeysDeleted) -> None:
        """Call `listener(key_ids)` after keys are deleted: after the commit, before the events
        of the deletion are published (so a key's sockets close 4401, not on the removal)."""
        self._listeners.append(listener)

    # --- the credential -------------------------------------------------------------------------

    async def holder(self, key: str) -> tuple[str, str] | None:
        """(key id, service user id) of a key in force, None for any other string; notes the use."""
        async with self.db.rows() as reader:
            found = (await reader.execute(_BY_HASH, {"key_hash": key_digest(key)})).first()
        if found is None:
            return None
        key_id, user_id = str(found[0]), str(found[1])
        await self._note_use(key_id)
        return key_id, user_id

    async def _note_use(self, key_id: str) -> None:
        now = self.clock()
        last = self._used_at.get(key_id)
        if last is not None and now - last < LAST_USED_EVERY_SECONDS:
            return
        self._used_at[key_id] = now
        if len(self._used_at) > 10_000:  # bounded: forget the oldest half
            for stale in sorted(self._used_at, key=self._used_at.__getitem__)[:5_000]:
                del self._used_at[stale]
        try:
            async with self.db.transaction() as session:
                await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
        except Exception:  # a missed "last used" must never refuse the request
            logger.exception("could not record the use of API key %s", key_id)

    # --- reads ----------------------------------------------------------------------------------

    async def listed(self, actor_id: str, workspace_id: str) -> list[dict[str, Any]]:
        """The workspace's keys, oldest first: their prefixes, never the keys or their hashes."""
        async with self.db.read() as session:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            rows = await session.scalars(
                select(ApiKey)
                .where(ApiKey.workspace_id == workspace_id)
                .order_by(ApiKey.created_at, ApiKey.id)
            )
            return [_listed(key) for key in rows]

    # --- writes ---------------------------------------------------------------------------------

    async def create(
        self, actor_id: str, workspace_id: str, data: ApiKeyIn, idem: IdempotencyKey | None = None
    ) -> Reply:
        """A new key and its service user, a member of the workspace with the key's role.

        The key never enters the stored idempotency answer. A replay of that answer (a client
        that lost the first one) therefore gets a fresh secret for the same key: the first
        answer's secret stops working, as it exists nowhere but in that lost answer."""
        issued: list[str] = []

        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            await self.log.lock(session, workspace_id)
            now = utcnow()
            key_id = str(uuid.uuid4())
            secret = new_key()
            user = User(
                id=str(uuid.uuid4()),
                email=f"key-{key_id}@{SERVICE_EMAIL_DOMAIN}",
                name=data.name,
                password_hash=NO_PASSWORD,
                created_at=now,
                kind=SERVICE,
            )
            session.add(user)
            await session.flush()
            member = Member(workspace_id=workspace_id, user_id=user.id, role=data.role, joined_at=now)
            row = ApiKey(
                id=key_id,
                workspace_id=workspace_id,
                service_user_id=user.id,
                name=data.name,
                role=data.role,
                prefix=secret[:SHOWN_CHARACTERS],
                key_hash=key_digest(secret),
                created_at=now,
                created_by=actor_id,
                last_used_at=None,
            )
            session.add_all([member, row])
            await session.flush()
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.WORKSPACE_MEMBER_ADDED,
                {"workspaceId": workspace_id, "member": member_view(member, user), "actorId": actor_id},
                subject_user_id=user.id,
            )
            issued.append(secret)
            return WriteOutcome(201, _created(row, None), [event], scope=_admin_of(workspace_id))

        reply = await self.writes.run(work, idem)
        body = json.loads(reply.body)
        secret = issued[-1] if not reply.replayed else await self._reissue(workspace_id, body["id"])
        answer = json.dumps(_with_key(body, secret), separators=(",", ":"))
        return Reply(reply.status_code, answer, reply.replayed)

    async def _reissue(self, workspace_id: str, key_id: str) -> str:
        secret = new_key()
        async with self.db.transaction() as session:
            await self.log.lock(session, workspace_id)
            changed = await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
                .values(prefix=secret[:SHOWN_CHARACTERS], key_hash=key_digest(secret))
            )
            if getattr(changed, "rowcount", 0) != 1:
                raise NotFound("the API key this request created was deleted since")
        return secret

    async def delete(
        self, actor_id: str, workspace_id: str, key_id: str, idem: IdempotencyKey | None = None
    ) -> Reply:
        """The key stops counting at once: its member leaves, its user goes, its sockets close."""

        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            await self.log.lock(session, workspace_id)
            key = await session.get(ApiKey, key_id)
            # Another workspace's key is as unknown here as one that never existed.
            if key is None or key.workspace_id != workspace_id:
                raise NotFound("API key not found")
            user_id = key.service_user_id
            await session.execute(
                delete(Member).where(Member.workspace_id == workspace_id, Member.user_id == user_id)
            )
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.WORKSPACE_MEMBER_REMOVED,
                {"workspaceId": workspace_id, "userId": user_id, "actorId": actor_id},
                subject_user_id=user_id,
            )
            await session.execute(delete(ApiKey).where(ApiKey.id == key_id))
            await session.execute(delete(User).where(User.id == user_id))
            return WriteOutcome(
                204,
                None,
                [event],
                scope=_admin_of(workspace_id),
                before_publish=[lambda: self._tell([key_id])],
            )

        return await self.writes.run(work, idem)

    async def drop_with_workspace(
        self, session: AsyncSession, workspace_id: str
    ) -> Callable[[], Awaitable[None]] | None:
        """In the transaction deleting the workspace: its keys' service users go (the keys go by
        the cascade). Returns the step that revokes the keys after the commit (None: no keys)."""
        rows = (
            await session.execute(
                select(ApiKey.id, ApiKey.service_user_id).where(ApiKey.workspace_id == workspace_id)
            )
        ).all()
        if not rows:
            return None
        key_ids = [str(key_id) for key_id, _user in rows]
        await session.execute(delete(ApiKey).where(ApiKey.workspace_id == workspace_id))
        await session.execute(delete(User).where(User.id.in_([str(user) for _key, user in rows])))

        async def revoke() -> None:
            await self._tell(key_ids)

        return revoke

    async def _tell(self, key_ids: Sequence[str]) -> None:
        for key_id in key_ids:
            self._used_at.pop(key_id, None)
        for listener in self._listeners:
            try:
                await listener(key_ids)
            except Exception:  # a listener's failure must not fail the deletion
                logger.exception("a keys-deleted listener failed")


def _listed(key: ApiKey) -> dict[str, Any]:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        role=Role(key.role),
        prefix=key.prefix,
        created_at=key.created_at,
        created_by=key.created_by,
        last_used_at=key.last_used_at,
    ).wire()


def _created(key: ApiKey, secret: str | None) -> dict[str, Any]:
    """The creation answer; without the key, the form kept for an idempotent replay."""
    body = ApiKeyCreated(
        id=key.id,
        name=key.name,
        role=Role(key.role),
        key=secret or "",
        created_at=key.created_at,
        created_by=key.created_by,
    ).wire()
    if secret is None:
        del body["key"]
    return body


def _with_key(stored: dict[str, Any], secret: str) -> dict[str, Any]:
    return {
        "id": stored["id"],
        "name": stored["name"],
        "role": stored["role"],
        "key": secret,
        "createdAt": stored["createdAt"],
        "createdBy": stored["createdBy"],
    }


def _admin_of(workspace_id: str) -> AccessScope:
    return AccessScope(workspace_id, Role.ADMIN.value)
