"""Document traffic between nodes: each node's document updates and awareness, on a channel per task.

Documents have a broker of their own (the same kind as the hub's: in-process for one node, Redis
for several), so that a burst of typing never queues behind committed events in the hub's
consumer, and the hub knows nothing of documents. A payload is a one-line JSON header (origin
node, kind, the editing user) then the Yjs bytes as they are. A node skips its own messages when
the broker hands them back. Best effort, like every broker message: a lost update is read back
from the database by the node's periodic re-read (see `service.py`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..realtime.broker import Broker

logger = logging.getLogger(__name__)

UPDATE = "u"  # a Yjs document update
AWARENESS = "a"  # an awareness update


def document_channel(task_id: str) -> str:
    return f"doc:{task_id}"


@dataclass(frozen=True, slots=True)
class Relayed:
    task_id: str
    kind: str
    data: bytes
    user_id: str | None  # the editor of an update (the one its description change is credited to)
    node: str = ""  # the node that sent it (the owner of the awareness states it announces)


def encode(node_id: str, kind: str, data: bytes, user_id: str | None) -> bytes:
    header = json.dumps({"n": node_id, "k": kind, "u": user_id}, separators=(",", ":")).encode()
    return header + b"\n" + data


def decode(channel: str, payload: bytes) -> tuple[str, Relayed]:
    """(origin node, message); raises ValueError on a payload that is not one."""
    if not channel.startswith("doc:"):
        raise ValueError(f"not a document channel: {channel}")
    head, newline, data = payload.partition(b"\n")
    if not newline:
        raise ValueError("no header")
    header = json.loads(head)
    kind = header["k"]
    if kind not in (UPDATE, AWARENESS):
        raise ValueError(f"unknown kind {kind!r}")
    node = str(header["n"])
    return node, Relayed(channel[4:], kind, data, header.get("u"), node)


class DocumentRelay:
    def __init__(self, broker: Broker, node_id: str) -> None:
        self._broker = broker
        self._node_id = node_id
        self._failing = False

    async def start(self) -> None:
        await self._broker.start()

    async def close(self) -> None:
        await self._broker.close()

    async def subscribe(self, task_id: str) -> None:
        await self._broker.subscribe(document_channel(task_id))

    async def unsubscribe(self, task_id: str) -> None:
        await self._broker.unsubscribe(document_channel(task_id))

    async def publish(self, task_id: str, kind: str, data: bytes, user_id: str | None = None) -> None:
        try:
            await self._broker.publish(document_channel(task_id), encode(self._node_id, kind, data, user_id))
        except Exception as exc:  # the database still has every update; the re-read brings it
            if not self._failing:
                self._failing = True
                logger.warning("document relay failed (%r); other nodes re-read from the database", exc)
            return
        if self._failing:
            self._failing = False
            logger.info("document relay works again")

    async def run(self, receive: Callable[[Relayed], None]) -> None:
        """Hand every other node's message to `receive`, until the broker closes."""
        async for channel, payload in self._broker.messages():
            try:
                origin, message = decode(channel, payload)
                if origin != self._node_id:
                    receive(message)
            except Exception:  # one bad message must not stop the relay
                logger.exception("could not handle a document message on %s", channel)
