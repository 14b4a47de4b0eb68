"""Accounts gone behind the server's back: the API has no account deletion, an operator may."""

from __future__ import annotations

from sqlalchemy import delete

from taskroom.db.models import User
from tests.support.servers import RunningServer


def delete_account(node: RunningServer, user_id: str) -> None:
    """The account goes, straight from the node's database."""

    async def drop() -> None:
        async with node.app_state.services.db.transaction() as session:
            await session.execute(delete(User).where(User.id == user_id))

    node.call(drop)
