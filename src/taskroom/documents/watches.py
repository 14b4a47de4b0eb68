"""The workspaces with document connections on this node, watched through the real-time layer.

A workspace with open document connections here is watched (`WorkspaceWatchPort`): its room
stays open on this node, so its membership and deletion events reach us in log order (the hub's
safety net repairs what the broker loses). Each such event bumps the workspace's access epoch
and asks for the connections of its documents to be checked again (`on_access_change`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ..events import LogEvent
from ..realtime.port import WatchHandle, WorkspaceWatchPort
from ..wire import MessageType

# Events after which the connections of a workspace's documents are checked again.
ACCESS_EVENTS = frozenset(
    {
        MessageType.WORKSPACE_MEMBER_REMOVED,
        MessageType.WORKSPACE_MEMBER_UPDATED,
        MessageType.WORKSPACE_DELETED,
        MessageType.TASK_DELETED,
    }
)


@dataclass(slots=True)
class WorkspaceWatch:
    handle: WatchHandle | None = None  # None while the first holder is still starting it
    ready: asyncio.Future[None] | None = None  # done once the watch is in place
    holders: int = 0
    epoch: int = 0  # access events seen; an admission that saw an older one checks again


class WorkspaceWatches:
    def __init__(self, port: WorkspaceWatchPort, on_access_change: Callable[[str], None]) -> None:
        self._port = port
        self._on_access_change = on_access_change
        self._watches: dict[str, WorkspaceWatch] = {}

    def epoch(self, workspace_id: str) -> int | None:
        """The workspace's access epoch, None when it is not watched."""
        watch = self._watches.get(workspace_id)
        return None if watch is None else watch.epoch

    async def hold(self, workspace_id: str) -> int:
        """Watch the workspace until `let_go`; its access epoch once the watch is in place
        (every access event after that moment reaches us: a role read now is checked against it)."""
        watch = self._watches.get(workspace_id)
        if watch is None:
            watch = self._watches[workspace_id] = WorkspaceWatch()
            watch.ready = asyncio.get_running_loop().create_future()
            watch.holders += 1
            try:
                watch.handle = await self._port.watch(workspace_id, self._listener(workspace_id))
            except BaseException as exc:
                # Gone at once, holders and all: the next admission tries afresh.
                if self._watches.get(workspace_id) is watch:
                    del self._watches[workspace_id]
                watch.ready.set_exception(exc)
                watch.ready.exception()  # retrieved: the other holders get it through their await
                raise
            watch.ready.set_result(None)
            return watch.epoch
        watch.holders += 1
        if watch.ready is not None and not watch.ready.done():
            try:
                await asyncio.shield(watch.ready)
            except asyncio.CancelledError:
                if self._watches.get(workspace_id) is watch:
                    await self.let_go(workspace_id)
                raise
            # Any other error: the watch failed to start and is gone (nothing to let go).
        return watch.epoch

    async def let_go(self, workspace_id: str) -> None:
        watch = self._watches.get(workspace_id)
        if watch is None:
            return
        watch.holders -= 1
        if watch.holders == 0:
            del self._watches[workspace_id]
            if watch.handle is not None:
                await watch.handle.close()

    def _listener(self, workspace_id: str) -> Callable[[LogEvent], None]:
        def on_event(event: LogEvent) -> None:
            watch = self._watches.get(workspace_id)
            if watch is None or event.type not in ACCESS_EVENTS:
                return
            watch.epoch += 1
            self._on_access_change(workspace_id)

        return on_event
