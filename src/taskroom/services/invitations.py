"""Invitations to a workspace by email, for people with or without an account (PROTOCOL §5.4).

An invitation is a link holding a bearer token. Whoever signs in with the invited email and
presents the token becomes a member; accepting takes the same write path as adding a member, so
its WORKSPACE_MEMBER_ADDED event reaches the room and the new member's open sockets join it.

The token is shown once, in the answer that creates it, and only its SHA-256 is stored. A fast
hash is right here, unlike for passwords: the token carries 256 random bits, so nobody can guess
it back from its hash however fast they hash, and a plain digest can be looked up by an index.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Invitation, Member, User, Workspace
from ..errors import AlreadyExists, Forbidden, Gone, NotFound, Unauthorized
from ..schemas import InvitationCreated, InvitationIn, InvitationOut, Role
from ..timeutil import ensure_utc, utcnow
from ..wire import MessageType
from .access import require_role
from .database import Database
from .idempotency import AccessScope, IdempotencyKey
from .log import WorkspaceLog
from .views import member_view, workspace_view
from .writes import Reply, WriteOutcome, WriteRunner

INVITATION_TTL = timedelta(days=7)
# The prefix names what the secret is, in a leaked paste or a secret scanner's rules, and lets the
# log filter recognise one wherever it stands (logging_redaction.py).
TOKEN_PREFIX = "tri_"
TOKEN_BYTES = 32


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class InvitationService:
    db: Database
    log: WorkspaceLog
    writes: WriteRunner

    async def pending(self, actor_id: str, workspace_id: str) -> list[dict[str, Any]]:
        """The invitations whose link still works, oldest first; never their tokens."""
        async with self.db.read() as session:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            rows = await session.scalars(
                _pending(utcnow())
                .where(Invitation.workspace_id == workspace_id)
                .order_by(Invitation.created_at, Invitation.id)
            )
            return [_listed(invitation) for invitation in rows]

    async def create(
        self, actor_id: str, workspace_id: str, data: InvitationIn, key: IdempotencyKey | None = None
    ) -> Reply:
        """A new invitation; one still pending for the same email is revoked (its link answers 410).

        The token never enters the stored idempotency answer. A replay of that answer therefore
        issues a fresh token for the same email and role, revoking the one the first answer held.
        """
        issued: list[str] = []

        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            await self.log.lock(session, workspace_id)
            user = await session.scalar(select(User).where(User.email == data.email))
            if user is not None and await session.get(Member, (workspace_id, user.id)) is not None:
                raise AlreadyExists("already a member of this workspace")
            invitation, token = await _issue(session, workspace_id, data.email, data.role, actor_id)
            issued.append(token)
            return WriteOutcome(201, _created(invitation, None), scope=_admin_of(workspace_id))

        reply = await self.writes.run(work, key)
        if not reply.replayed:
            return _with_token(reply, issued[-1])
        return await self._reissue(actor_id, workspace_id, json.loads(reply.body)["id"])

    async def _reissue(self, actor_id: str, workspace_id: str, invitation_id: str) -> Reply:
        async with self.db.transaction() as session:
            await self.log.lock(session, workspace_id)
            invitation = await session.get(Invitation, invitation_id)
            if invitation is None or not _is_pending(invitation, utcnow()):
                raise Gone("the invitation this request created was accepted or revoked since")
            fresh, token = await _issue(session, workspace_id, invitation.email, invitation.role, actor_id)
            body = _created(fresh, token)
        return Reply(201, json.dumps(body, separators=(",", ":")), replayed=True)

    async def revoke(
        self, actor_id: str, workspace_id: str, invitation_id: str, key: IdempotencyKey | None = None
    ) -> Reply:
        async def work(session: AsyncSession) -> WriteOutcome:
            await require_role(session, workspace_id, actor_id, Role.ADMIN)
            await self.log.lock(session, workspace_id)
            invitation = await session.get(Invitation, invitation_id)
            # Another workspace's invitation is as unknown here as one that never existed.
            if (
                invitation is None
                or invitation.workspace_id != workspace_id
                or invitation.accepted_at is not None
                or invitation.revoked_at is not None
            ):
                raise NotFound("invitation not found")
            invitation.revoked_at = utcnow()
            return WriteOutcome(204, None, scope=_admin_of(workspace_id))

        return await self.writes.run(work, key)

    async def accept(self, user_id: str, token: str, key: IdempotencyKey | None = None) -> Reply:
        """Membership for the caller, whose email must be the invited one (in any case).

        An accepted, revoked or expired invitation answers GONE. A caller who is a member already
        gets 200 with the membership they have (its role unchanged, no event) and the
        invitation counts as used.
        """
        digest = token_digest(token)

        async def work(session: AsyncSession) -> WriteOutcome:
            invitation = await session.scalar(select(Invitation).where(Invitation.token_hash == digest))
            if invitation is None:
                raise NotFound("no such invitation")
            workspace_id = invitation.workspace_id
            # Under the workspace lock, read again: of two accepts racing, the second sees the first.
            await self.log.lock(session, workspace_id)
            await session.refresh(invitation)
            user = await session.get(User, user_id)
            if user is None:
                raise Unauthorized("the account of this token no longer exists")
            if user.kind == "service":
                raise Forbidden("an API key acts in its own workspace only; it cannot join another")
            _require_usable(invitation, utcnow())
            if user.email.casefold() != invitation.email.casefold():
                raise Forbidden(
                    "this invitation was sent to another email address; sign in with that address"
                )
            now = utcnow()
            invitation.accepted_at = now
            invitation.accepted_by = user_id
            workspace = await session.get(Workspace, workspace_id)
            if workspace is None:  # the lock above found it; kept for the type checker
                raise NotFound("workspace not found")
            scope = AccessScope(workspace_id, Role.VIEWER.value)
            existing = await session.get(Member, (workspace_id, user_id))
            if existing is not None:
                body = {
                    "workspace": workspace_view(workspace, existing.role),
                    "member": member_view(existing, user),
                }
                return WriteOutcome(200, body, scope=scope)
            member = Member(workspace_id=workspace_id, user_id=user_id, role=invitation.role, joined_at=now)
            session.add(member)
            await session.flush()
            view = member_view(member, user)
            seq = await self.log.next_seq(session, workspace_id)
            await session.refresh(workspace, ["seq"])
            event = await self.log.append(
                session,
                workspace_id,
                MessageType.WORKSPACE_MEMBER_ADDED,
                # The actor is the one who joined: accepting is their act, the invitation the admin's.
                {"workspaceId": workspace_id, "member": view, "actorId": user_id},
                subject_user_id=user_id,
                seq=seq,
            )
            body = {"workspace": workspace_view(workspace, member.role), "member": view}
            return WriteOutcome(200, body, [event], scope=scope)

        return await self.writes.run(work, key)


async def _issue(
    session: AsyncSession, workspace_id: str, email: str, role: str, actor_id: str
) -> tuple[Invitation, str]:
    """A new pending invitation, after revoking any still pending for the same email: one live link each."""
    now = utcnow()
    await session.execute(
        update(Invitation)
        .where(
            Invitation.workspace_id == workspace_id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    token = new_token()
    invitation = Invitation(
        id=str(uuid.uuid4()),
        workspace_id=workspace_id,
        email=email,
        role=role,
        token_hash=token_digest(token),
        created_by=actor_id,
        created_at=now,
        expires_at=now + INVITATION_TTL,
    )
    session.add(invitation)
    await session.flush()
    return invitation, token


def _pending(now: datetime) -> Select[Invitation]:
    return select(Invitation).where(
        Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now
    )


def _is_pending(invitation: Invitation, now: datetime) -> bool:
    return (
        invitation.accepted_at is None
        and invitation.revoked_at is None
        and ensure_utc(invitation.expires_at) > now
    )


def _require_usable(invitation: Invitation, now: datetime) -> None:
    if invitation.accepted_at is not None:
        raise Gone("this invitation was accepted already")
    if invitation.revoked_at is not None:
        raise Gone("this invitation was revoked")
    if ensure_utc(invitation.expires_at) <= now:
        raise Gone("this invitation has expired; ask for a new one")


def _listed(invitation: Invitation) -> dict[str, Any]:
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=Role(invitation.role),
        created_by=invitation.created_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    ).wire()


def _created(invitation: Invitation, token: str | None) -> dict[str, Any]:
    """The creation answer; without a token, the form kept for an idempotent replay."""
    body = InvitationCreated(
        id=invitation.id,
        email=invitation.email,
        role=Role(invitation.role),
        token=token or "",
        expires_at=invitation.expires_at,
    ).wire()
    if token is None:
        del body["token"]
    return body


def _with_token(reply: Reply, token: str) -> Reply:
    stored = json.loads(reply.body)
    body = {"id": stored["id"], "email": stored["email"], "role": stored["role"], "token": token}
    body["expiresAt"] = stored["expiresAt"]
    return Reply(reply.status_code, json.dumps(body, separators=(",", ":")), reply.replayed)


def _admin_of(workspace_id: str) -> AccessScope:
    return AccessScope(workspace_id, Role.ADMIN.value)
