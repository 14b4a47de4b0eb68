"""Everything this node publishes: committed events, user notices, ephemeral frames.

Local first: each message is handed to this node's own routing at once (`BrokerEventHandler`),
then, when other nodes share the broker, put on it for them (this node skips its own copy when
the broker hands it back). On the embedded default nothing else listens, so nothing is put on
the broker at all: a message is delivered once, here. This node's clients therefore never wait
for a broker round trip, and still hear each other while the broker is away. The
`EventPublisher` seam of the services: called after commit, it never raises (a lost publish is
repaired from the log by every node's safety net).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from ..events import LogEvent
from ..wire import MessageType
from .broker import Broker
from .codec import (
    BrokerEventHandler,
    BrokerMessage,
    Ephemeral,
    JoinFrom,
    Revoked,
    UserNotice,
    encode_message,
)

logger = logging.getLogger(__name__)


def room_channel(workspace_id: str) -> str:
    return f"ws:{workspace_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


# Every node subscribes to it at start: a revoked credential may have sockets on any node, and
# document sockets are subscribed to no user's channel.
REVOCATIONS_CHANNEL = "revocations"


class BrokerPublisher:
    def __init__(self, broker: Broker, node_id: str, local: BrokerEventHandler) -> None:
        self._broker = broker
        self._node_id = node_id
        self._local = local
        self._others = broker.shared  # False on the embedded default: nobody else to tell
        self._failing = False  # the broker refused the last publish: say so once, not per message

    async def publish_committed(self, events: Sequence[LogEvent]) -> None:
        for event in events:
            published_at = time.time()
            try:
                self._local.on_event(event, published_at)
            except Exception:  # never the publisher's problem: the log repairs a room that missed it
                logger.exception("local delivery failed for %s", event.workspace_id)
            await self._remote(room_channel(event.workspace_id), event, published_at)
            if event.type == MessageType.WORKSPACE_MEMBER_ADDED and event.subject_user_id:
                # The added user's connections may be in no room of this workspace (none on their
                # node, so no subscription to its channel): tell them on the user's own channel,
                # with the seq to join from.
                notice = UserNotice(event.subject_user_id, join=JoinFrom(event.workspace_id, event.seq - 1))
                try:
                    self._local.on_user_notice(notice)
                except Exception:
                    logger.exception("local delivery failed for a notice")
                await self._remote(user_channel(event.subject_user_id), notice, published_at)

    async def notify_user(
        self, user_id: str, envelope: str, frame_type: MessageType, join_workspace_id: str | None = None
    ) -> None:
        join = JoinFrom(join_workspace_id, 0) if join_workspace_id else None
        notice = UserNotice(user_id, envelope.encode(), frame_type, join)
        published_at = time.time()
        try:
            self._local.on_user_notice(notice)
        except Exception:
            logger.exception("local delivery failed for a notice")
        await self._remote(user_channel(user_id), notice, published_at)

    async def publish_ephemeral(
        self, workspace_id: str, message_type: MessageType, frame: str, origin: str | None
    ) -> None:
        message = Ephemeral(workspace_id, message_type, frame.encode(), origin)
        try:
            self._local.on_ephemeral(message)
        except Exception:
            logger.exception("local delivery failed on %s", workspace_id)
        await self._remote(room_channel(workspace_id), message, time.time())

    async def publish_revoked(self, revoked: Revoked) -> None:
        """Close the sockets of revoked credentials here at once, then on the other nodes.

        If the broker refuses the publish, only this node's sockets close now; those of the other
        nodes stay open until their access token expires (its timer closes them 4401) or they
        reconnect (and are refused). REST refuses the tokens at once either way: it reads the
        session from the database."""
        try:
            self._local.on_revoked(revoked)
        except Exception:
            logger.exception("local delivery failed for a revocation")
        await self._remote(REVOCATIONS_CHANNEL, revoked, time.time())

    async def _remote(self, channel: str, message: BrokerMessage, published_at: float) -> None:
        """Put the message on the broker for the other nodes (none on the embedded default)."""
        if not self._others:
            return
        try:
            await self._broker.publish(channel, encode_message(message, self._node_id, published_at))
        except Exception as exc:  # the log still has logged events; ephemeral ones are best effort
            if not self._failing:
                self._failing = True
                logger.warning("broker publish failed (%r); other nodes read events from the log", exc)
            return
        if self._failing:
            self._failing = False
            logger.info("broker publish works again")
