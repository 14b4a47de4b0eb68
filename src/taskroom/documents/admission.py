"""Who may open a task's document: the edge's checks, then the caller's role in its workspace.

Origin (`WS_ALLOWED_ORIGINS`) and credential are checked by the same parts as `/api/v1/ws` and
REST (`taskroom.edge`). Then the task's workspace is watched (`watches.py`) before the caller's
role is read, so an access event that lands after the read is not missed: the admission carries
the workspace's access epoch, and a connection whose epoch is older is checked again on attach.
A refusal is an HTTP status, given before the WebSocket is accepted; an unknown task and a task
of a workspace the caller is not in answer the same 404, so existence does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..edge.authenticator import Authenticator
from ..edge.identity import Identity, Refusal
from ..edge.origins import OriginPolicy
from ..schemas import ROLE_RANK, Role
from .store import DocumentStore
from .watches import WorkspaceWatches


class Refused(Exception):
    """The upgrade is refused with this HTTP status (before the WebSocket is accepted)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Admission:
    user_id: str
    workspace_id: str
    can_edit: bool
    expires_at: float
    epoch: int  # the workspace's access epoch read before the role was
    # The credential's identity: its session (or API key) closes the socket 4401 when it ends.
    identity: Identity | None = None


def can_edit(role: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role.MEMBER]


class DocumentAdmission:
    def __init__(
        self,
        origins: OriginPolicy,
        authenticator: Authenticator,
        store: DocumentStore,
        watches: WorkspaceWatches,
    ) -> None:
        self._origins = origins
        self._authenticator = authenticator
        self._store = store
        self._watches = watches

    async def admit(self, task_id: str, token: str | None, origin: str | None = None) -> Admission:
        """Who is connecting and with what rights; raises `Refused` (403, 401, 404). On success
        the task's workspace is watched until `release(admission)`."""
        if not self._origins.allows(origin):
            raise Refused(403, "FORBIDDEN", "origin not allowed")  # as on WS /api/v1/ws
        try:
            identity = await self._authenticator.authenticate(token)
        except Refusal as refusal:
            raise Refused(401, "UNAUTHORIZED", str(refusal)) from None
        home = await self._store.task_workspace(task_id)
        if home is None:
            raise Refused(404, "NOT_FOUND", "task not found")
        epoch = await self._watches.hold(home)
        try:
            tasks, roles = await self._store.access([task_id], [identity.user_id], home)
            role = roles.get(identity.user_id)
            if task_id not in tasks or role is None:
                raise Refused(404, "NOT_FOUND", "task not found")  # existence does not leak
        except BaseException:
            await self._watches.let_go(home)
            raise
        return Admission(identity.user_id, home, can_edit(role), identity.expires_at, epoch, identity)

    async def release(self, admission: Admission) -> None:
        await self._watches.let_go(admission.workspace_id)
