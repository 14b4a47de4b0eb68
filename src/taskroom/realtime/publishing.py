"""Everything this node publishes: committed events, user notices, ephemeral frames.

Local first: each message is handed to this node's own routing at once, then put on the broker
for the other nodes (this node skips its own copy when the broker hands it back). This node's
clients therefore never wait for a broker round trip, and still hear each other while the broker
is away. The `EventPublisher` seam of the services: called after commit, it never raises (a lost
publish is repaired from the log by every node's safety net).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..services.publisher import CommittedEvent
from ..wire import MessageType
from .broker import Broker
from .codec import EPHEMERAL, EVENT, USER, BrokerMessage, encode_message

logger = logging.getLogger(__name__)


def room_channel(workspace_id: str) -> str:
    return f"ws:{workspace_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


LocalDelivery = Callable[[BrokerMessage], None]


class BrokerPublisher:
    def __init__(self, broker: Broker, node_id: str, local: LocalDelivery) -> None:
        self._broker = broker
        self._node_id = node_id
        self._local = local
        self._failing = False  # the broker refused the last publish: say so once, not per message

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
        message = replace(message, published_at=time.time(), origin_node_id=self._node_id)
        try:
            self._local(message)
        except Exception:  # never the publisher's problem: the log repairs a room that missed it
            logger.exception("local delivery failed on %s", channel)
        try:
            await self._broker.publish(channel, encode_message(message))
        except Exception as exc:  # the log still has logged events; ephemeral ones are best effort
            if not self._failing:
                self._failing = True
                logger.warning("broker publish failed (%r); other nodes read events from the log", exc)
            return
        if self._failing:
            self._failing = False
            logger.info("broker publish works again")
