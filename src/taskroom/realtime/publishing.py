"""Everything this node puts on the broker: committed events, user notices, ephemeral frames.

The `EventPublisher` seam of the services: called after commit, it never raises (a lost publish
is repaired from the log by every node's safety net).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..services.publisher import CommittedEvent
from ..wire import MessageType
from .broker import Broker
from .codec import EPHEMERAL, EVENT, USER, BrokerMessage, encode_message

logger = logging.getLogger(__name__)


def room_channel(workspace_id: str) -> str:
    return f"ws:{workspace_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


class BrokerPublisher:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def publish_committed(self, events: Sequence[CommittedEvent]) -> None:
        for event in events:
            message = BrokerMessage(
                EVENT,
                event.type,
                event.envelope.encode(),
                workspace_id=event.workspace_id,
                seq=event.seq,
                subject_user_id=event.subject_user_id,
            )
            await self._publish(room_channel(event.workspace_id), message)
            if event.type == MessageType.WORKSPACE_MEMBER_ADDED and event.subject_user_id:
                # The added user's nodes may have no room for this workspace (so no subscription to
                # its channel): tell them on the user's own channel, with the seq to join from.
                await self._publish(
                    user_channel(event.subject_user_id),
                    BrokerMessage(
                        USER,
                        event.type,
                        message.frame,
                        workspace_id=event.workspace_id,
                        seq=event.seq,
                        subject_user_id=event.subject_user_id,
                        join_workspace_id=event.workspace_id,
                    ),
                )

    async def notify_user(self, user_id: str, envelope: str, join_workspace_id: str | None = None) -> None:
        message = BrokerMessage(
            USER,
            MessageType.WORKSPACE_CREATED if join_workspace_id else "",
            envelope.encode(),
            subject_user_id=user_id,
            join_workspace_id=join_workspace_id,
        )
        await self._publish(user_channel(user_id), message)

    async def publish_ephemeral(
        self, workspace_id: str, message_type: MessageType, frame: str, origin: str | None
    ) -> None:
        message = BrokerMessage(
            EPHEMERAL, message_type, frame.encode(), workspace_id=workspace_id, origin_connection_id=origin
        )
        await self._publish(room_channel(workspace_id), message)

    async def _publish(self, channel: str, message: BrokerMessage) -> None:
        try:
            await self._broker.publish(channel, encode_message(message))
        except Exception:  # the log still has logged events; ephemeral ones are best effort
            logger.exception("broker publish failed on %s", channel)
