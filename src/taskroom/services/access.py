"""The one membership check every workspace-scoped use case goes through."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Member
from ..errors import Forbidden, NotFound
from ..schemas import ROLE_RANK, Role


async def require_role(session: AsyncSession, workspace_id: str, user_id: str, minimum: Role) -> Member:
    """A non-member gets NOT_FOUND (existence does not leak); a member below `minimum` gets FORBIDDEN."""
    member = await session.get(Member, (workspace_id, user_id))
    if member is None:
        raise NotFound("workspace not found")
    if ROLE_RANK[Role(member.role)] < ROLE_RANK[minimum]:
        raise Forbidden(f"this needs the {minimum.value} role or higher")
    return member
