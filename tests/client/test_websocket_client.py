"""`TodoWebSocketClient` against real nodes: order, resume across a killed node, token refresh."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from taskroom.client import (
    ApiError,
    ConnectionState,
    Event,
    StateChange,
    TaskroomAPI,
    TodoWebSocketClient,
    WriteQueued,
    WriteRequest,
)
from taskroom.client.tokens import TokenSource
from tests.client.support import PASSWORD, as_logged, logged, new_account, quick_backoff, until, whole_log
from tests.support.processes import NodeProcess
from tests.support.servers import RunningServer


def test_events_reach_their_handlers_in_log_order_whether_handlers_are_plain_or_async(
    sqlite_node: RunningServer,
) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(sqlite_node.base_url) as api:
            await new_account(api)
            workspace = (await api.create_workspace("Board"))["id"]
            seen: list[Event] = []
            client = TodoWebSocketClient(sqlite_node.ws_url, api.token or "", [workspace])

            @client.on_task_created
            async def slow_handler(event: Event) -> None:
                await asyncio.sleep(0.05)  # later frames must wait for it
                seen.append(event)

            client.on_task_updated(seen.append)
            client.on_task_completed(seen.append)
            client.on_task_moved(seen.append)
            client.on_workspace_updated(seen.append)
            client.on_task_deleted(seen.append)
            client.on_task_restored(seen.append)
            client.on_comment_added(seen.append)
            client.on_comment_updated(seen.append)
            client.on_comment_deleted(seen.append)

            async with client:
                assert client.state is ConnectionState.OPEN
                first = await api.create_task(workspace, "first")
                second = await api.create_task(workspace, "second")
                await api.update_task(first["id"], title="first, renamed")
                await api.complete_task(second["id"])
                await api.move_task(first["id"], "in_progress")
                await api.update_workspace(workspace, name="Renamed board")
                await api.delete_task(second["id"])
                await api.restore_task(second["id"])
                comment = await api.add_comment(second["id"], "Back again")
                await api.update_comment(comment["id"], "Back again, edited")
                await api.delete_comment(comment["id"])
                log = await whole_log(api, workspace)
                await until(lambda: len(seen) >= len(log), what="every event delivered")
                synced = await client.sync(workspace)
            assert client.state is ConnectionState.CLOSED

        assert logged(seen) == as_logged(log)
        assert [e.type for e in seen] == [
            "TASK_CREATED",
            "TASK_CREATED",
            "TASK_UPDATED",
            "TASK_COMPLETED",
            "TASK_MOVED",
            "WORKSPACE_UPDATED",
            "TASK_DELETED",
            "TASK_RESTORED",
            "COMMENT_ADDED",
            "COMMENT_UPDATED",
            "COMMENT_DELETED",
        ]
        assert seen[0].data["task"]["title"] == "first"
        assert seen[7].data["task"]["id"] == seen[1].data["task"]["id"]
        assert seen[9].data["comment"]["body"] == "Back again, edited"
        assert seen[10].data["commentId"] == seen[8].data["comment"]["id"]
        assert seen[2].data["changes"] == ["title"]
        # Everything was delivered already: a sync finds nothing new and delivers nothing twice.
        assert synced.events == [] and synced.latest_seq == log[-1]["seq"]
        assert len(seen) == len(log)

    asyncio.run(scenario())


def test_presence_typing_and_cursors_reach_the_other_members(sqlite_node: RunningServer) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(sqlite_node.base_url) as ada_api, TaskroomAPI(sqlite_node.base_url) as bo_api:
            ada = await new_account(ada_api, "Ada")
            bo = await new_account(bo_api, "Bo")
            workspace = (await ada_api.create_workspace("Board"))["id"]
            await ada_api.add_member(workspace, bo["email"])
            task = await ada_api.create_task(workspace, "shared")

            seen_by_bo: list[Event] = []
            ada_client = TodoWebSocketClient(sqlite_node.base_url, ada_api.token or "")
            bo_client = TodoWebSocketClient(sqlite_node.base_url, bo_api.token or "")
            for register in (
                bo_client.on_presence_state,
                bo_client.on_user_presence,
                bo_client.on_user_typing,
                bo_client.on_cursor_position,
            ):
                register(seen_by_bo.append)
            errors: list[Event] = []
            ada_client.on_error(errors.append)

            async with bo_client, ada_client:
                await until(lambda: any(e.type == "PRESENCE_STATE" for e in seen_by_bo))
                await ada_client.update_presence(workspace, "busy")
                assert await ada_client.set_typing(workspace, task["id"], True)
                assert await ada_client.send_cursor(workspace, task["id"], {"line": 3, "column": 14})
                await ada_client.set_typing(workspace, "no-such-task", True)  # refused by the server
                await until(lambda: {"USER_TYPING", "CURSOR_POSITION"} <= {e.type for e in seen_by_bo})
                await until(lambda: bool(errors), what="the refusal reached on_error")

        from_ada = [e for e in seen_by_bo if e.data.get("userId") == ada["id"]]
        presence = [e.data["status"] for e in from_ada if e.type == "USER_PRESENCE"]
        assert "busy" in presence
        typing = next(e for e in from_ada if e.type == "USER_TYPING")
        assert typing.data == {
            "workspaceId": workspace,
            "taskId": task["id"],
            "userId": ada["id"],
            "isTyping": True,
        }
        cursor = next(e for e in from_ada if e.type == "CURSOR_POSITION")
        assert cursor.data["position"] == {"line": 3, "column": 14}
        assert errors[0].data["code"] == "INVALID_MESSAGE"

    asyncio.run(scenario())


def test_a_node_killed_and_restarted_under_writes_costs_the_client_no_event_and_no_duplicate(
    node_process: Callable[..., NodeProcess],
) -> None:
    # On the embedded SQLite file: a node restarting is probed for health while the client's
    # queued writes arrive, which once shared one SQLite connection between the two (a 500,
    # "cannot start a transaction within a transaction"; tests/unit/test_sqlite_transactions.py).
    node = node_process()

    refused: list[tuple[WriteRequest, ApiError]] = []

    async def scenario() -> None:
        async with (
            TaskroomAPI(node.base_url, on_refused=lambda r, e: refused.append((r, e))) as api,
            TaskroomAPI(node.base_url) as observer_api,
        ):
            ada = await new_account(api, "Ada")
            bo = await new_account(observer_api, "Bo")
            workspace = (await api.create_workspace("Board"))["id"]

            tokens_given = 0
            # Closed while the node restarts, so that events are committed while the client is
            # away for sure: they can reach it only through its resume.
            reconnect_allowed = asyncio.Event()
            reconnect_allowed.set()

            async def provider() -> str:
                nonlocal tokens_given
                tokens_given += 1
                await reconnect_allowed.wait()
                return api.token or ""

            received: list[Event] = []
            states: list[StateChange] = []
            client = TodoWebSocketClient(node.base_url, provider, backoff=quick_backoff())
            client.on_any(lambda e: received.append(e) if e.seq is not None else None)
            client.on_state_change(states.append)
            # Bo watches Ada's status: after the restart it is "away" again only if Ada's client re-sends it.
            ada_status: dict[str, str] = {}
            observer = TodoWebSocketClient(node.base_url, observer_api.token or "", backoff=quick_backoff())
            observer.on_presence_state(
                lambda e: ada_status.update({u["userId"]: u["status"] for u in e.data["users"]})
            )
            observer.on_user_presence(lambda e: ada_status.__setitem__(e.data["userId"], e.data["status"]))

            writes = 0
            stop_writing = asyncio.Event()

            async def write_on() -> None:
                nonlocal writes
                while not stop_writing.is_set():
                    writes += 1
                    # While the node is down the write waits in the queue (WriteQueued), with its key.
                    with contextlib.suppress(WriteQueued):
                        await api.create_task(workspace, f"task {writes}")
                    await asyncio.sleep(0.05)

            async with client, observer:
                # Added while both are connected: the client follows the workspace from its first event.
                await api.add_member(workspace, bo["email"])
                await client.update_presence(workspace, "away")
                await until(lambda: ada_status.get(ada["id"]) == "away")
                writer = asyncio.create_task(write_on())
                await until(lambda: len(received) >= 10)
                reconnect_allowed.clear()
                await asyncio.to_thread(node.kill)
                ada_status.clear()
                await until(lambda: len(api.pending) >= 5, what="writes queued while the node is down")
                await asyncio.to_thread(node.start)
                written_after_restart = writes
                await until(lambda: writes >= written_after_restart + 5 and not api.pending)
                assert client.state is ConnectionState.RECONNECTING
                delivered_before_resume = len(received)
                committed_before_resume = len(await whole_log(api, workspace))
                reconnect_allowed.set()
                await until(
                    lambda: client.state is ConnectionState.OPEN, what="the client reconnected by itself"
                )
                written_after_reconnect = writes
                await until(lambda: writes >= written_after_reconnect + 5)  # live again
                stop_writing.set()
                await writer
                assert (await api.flush_queue()).remaining == 0
                log = await whole_log(api, workspace)
                await until(lambda: len(received) >= len(log), what="every event delivered")
                await until(lambda: ada_status.get(ada["id"]) == "away", what="presence re-sent")

        assert refused == []
        assert logged(received) == as_logged(log)
        assert delivered_before_resume < committed_before_resume  # those came through the resume
        titles = [e["data"]["task"]["title"] for e in log if e["type"] == "TASK_CREATED"]
        assert sorted(titles) == sorted(f"task {n}" for n in range(1, writes + 1))  # each write once
        lost = [s for s in states if s.state is ConnectionState.RECONNECTING and s.attempt == 0]
        assert len(lost) == 1
        assert tokens_given >= 2  # asked again for the new connection

    asyncio.run(scenario())


def test_an_expiring_token_is_refreshed_through_the_provider_and_asked_again_after_a_4401(
    sqlite_node_factory: Callable[..., RunningServer],
) -> None:
    node = sqlite_node_factory(jwt_ttl_seconds=3)

    async def scenario() -> None:
        async with TaskroomAPI(node.base_url) as auth:
            account = await new_account(auth)

            async def log_in() -> str:
                return str((await auth.login(account["email"], PASSWORD))["accessToken"])

            asked_in_state: list[ConnectionState] = []

            async def provider() -> str:
                asked_in_state.append(client.state)
                if len(asked_in_state) == 3:
                    return "not-a-valid-token"  # the second refresh is refused: ERROR, close 4401
                return await log_in()

            async with TaskroomAPI(node.base_url, token=log_in) as api:
                workspace = (await api.create_workspace("Board"))["id"]
                received: list[Event] = []
                states: list[StateChange] = []
                client = TodoWebSocketClient(node.base_url, provider, backoff=quick_backoff())
                client.on_any(lambda e: received.append(e) if e.seq is not None else None)
                client.on_state_change(states.append)
                async with client:
                    n = 0
                    while len(asked_in_state) < 5:  # connect, refresh, refused refresh, reconnect, refresh
                        n += 1
                        await api.create_task(workspace, f"task {n}")
                        await asyncio.sleep(0.1)
                    log = await whole_log(api, workspace)
                    await until(lambda: len(received) >= len(log), what="every event delivered")

        assert logged(received) == as_logged(log)
        assert len(log) == n
        # The first refresh went over the open socket; the refused one ended it with 4401 and the
        # provider was asked again for the next connection.
        assert asked_in_state[:4] == [
            ConnectionState.CONNECTING,
            ConnectionState.OPEN,
            ConnectionState.OPEN,
            ConnectionState.RECONNECTING,
        ]
        losses = [s for s in states if s.state is ConnectionState.RECONNECTING and s.attempt == 0]
        assert [s.close_code for s in losses] == [4401]

    asyncio.run(scenario())


def _spacing(states: list[StateChange]) -> list[float]:
    starts = [s.at for s in states if s.attempt >= 1]
    return [later - earlier for earlier, later in itertools.pairwise(starts)]


async def _attempts_against(url: str, token: TokenSource, floor: float, window: float) -> list[StateChange]:
    states: list[StateChange] = []
    client = TodoWebSocketClient(url, token, backoff=_floor_backoff(floor))
    client.on_state_change(states.append)
    connecting = asyncio.create_task(client.connect())
    await asyncio.sleep(window)
    connecting.cancel()
    await asyncio.gather(connecting, return_exceptions=True)
    await client.disconnect()
    return states


def _floor_backoff(floor: float) -> Any:
    from taskroom.client import Backoff

    # A base far below the floor: most jitter draws are under it, so the floor is what holds.
    return Backoff(base=0.005, cap=1.0, floor=floor, healthy_after=1.0)


# asyncio may run a timer up to its clock resolution early; nanoseconds on Linux.
CLOCK_SLACK = 1e-6


def _new_bad_tokens() -> Callable[[], str]:
    """A provider of tokens never refused before, so a refusing server is tried three times."""
    numbers = itertools.count(1)
    return lambda: f"not-a-valid-token-{next(numbers)}"


def test_a_server_that_refuses_every_token_is_retried_no_faster_than_the_floor(
    sqlite_node: RunningServer,
) -> None:
    floor = 0.15
    states = asyncio.run(_attempts_against(sqlite_node.ws_url, _new_bad_tokens(), floor, window=1.5))
    spacing = _spacing(states)
    assert len(spacing) == 2, states  # three connects refused in a row: then it stops
    assert min(spacing) >= floor - CLOCK_SLACK
    assert all(s.state is not ConnectionState.OPEN for s in states)
    assert {s.close_code for s in states if s.attempt >= 2} == {4401}


async def _close_every_websocket_with(code: int) -> tuple[Any, str]:
    from websockets.asyncio.server import ServerConnection, serve

    async def refuse(connection: ServerConnection) -> None:
        await connection.close(code, "go away")

    server = await serve(refuse, "127.0.0.1", 0)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/api/v1/ws"


def test_servers_that_close_at_once_are_retried_no_faster_than_the_floor() -> None:
    floor = 0.1

    async def scenario() -> dict[str, list[StateChange]]:
        results: dict[str, list[StateChange]] = {}
        for code in (1008, 1013, 4401):
            server, url = await _close_every_websocket_with(code)
            token = _new_bad_tokens() if code == 4401 else "token"  # a refused string stops at once
            try:
                results[f"close {code}"] = await _attempts_against(url, token, floor, window=0.8)
            finally:
                server.close()
                await server.wait_closed()

        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        tcp = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        try:
            results["tcp hang-up"] = await _attempts_against(f"ws://127.0.0.1:{port}", "token", floor, 0.8)
        finally:
            tcp.close()
            await tcp.wait_closed()
        return results

    for name, states in asyncio.run(scenario()).items():
        spacing = _spacing(states)
        assert len(spacing) >= 2, (name, states)
        assert min(spacing) >= floor - CLOCK_SLACK, name
        assert all(s.state is not ConnectionState.OPEN for s in states), name


def test_a_member_removed_stops_following_the_workspace_and_hears_of_new_ones(
    sqlite_node: RunningServer,
) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(sqlite_node.base_url) as ada_api, TaskroomAPI(sqlite_node.base_url) as bo_api:
            await new_account(ada_api, "Ada")
            bo = await new_account(bo_api, "Bo")
            workspace = (await ada_api.create_workspace("Board"))["id"]
            frames: list[Event] = []
            client = TodoWebSocketClient(sqlite_node.base_url, bo_api.token or "")
            client.on_any(frames.append)
            async with client:
                await ada_api.add_member(workspace, bo["email"])
                await until(lambda: client.last_seq(workspace) == 1, what="Bo follows the workspace")
                await client.update_presence(workspace, "busy")
                await ada_api.remove_member(workspace, bo["id"])
                await until(lambda: any(e.type == "WORKSPACE_MEMBER_REMOVED" for e in frames))
                assert client.last_seq(workspace) is None
                own = await bo_api.create_workspace("Bo's own")
                await until(lambda: any(e.type == "WORKSPACE_CREATED" for e in frames))
                await bo_api.create_task(own["id"], "mine")
                await until(lambda: client.last_seq(own["id"]) == 1, what="the new workspace is followed")
                assert client.positions() == {own["id"]: 1}

        types = [e.type for e in frames if e.type not in ("PRESENCE_STATE", "USER_PRESENCE")]
        assert types == [
            "WORKSPACE_MEMBER_ADDED",
            "WORKSPACE_MEMBER_REMOVED",
            "WORKSPACE_CREATED",
            "TASK_CREATED",
        ]

    asyncio.run(scenario())


def test_a_notification_reaches_on_notification_and_the_rest_calls_read_and_mark_it(
    sqlite_node: RunningServer,
) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(sqlite_node.base_url) as ada_api, TaskroomAPI(sqlite_node.base_url) as bo_api:
            await new_account(ada_api, "Ada")
            bo = await new_account(bo_api, "Bo")
            workspace = (await ada_api.create_workspace("Board"))["id"]
            await ada_api.add_member(workspace, bo["email"])
            task = await ada_api.create_task(workspace, "Plan")
            notes: list[Event] = []
            client = TodoWebSocketClient(sqlite_node.base_url, bo_api.token or "")
            client.on_notification(notes.append)
            async with client:
                await until(lambda: client.last_seq(workspace) is not None, what="Bo follows the workspace")
                await ada_api.add_comment(task["id"], f"@{{{bo['id']}}} have a look")
                await until(lambda: len(notes) == 1, what="the NOTIFICATION frame")
            inbox = await bo_api.notifications(unread=True)
            assert notes[0].seq is None
            assert notes[0].data == {"notification": inbox["items"][0], "unreadCount": 1}
            await bo_api.mark_notifications_read()
            assert (await bo_api.notifications(unread=True))["unreadCount"] == 0
            page = await bo_api.comments_page(task["id"], limit=1)
            assert [c["mentions"] for c in page["items"]] == [[bo["id"]]] and page["nextCursor"] is None

    asyncio.run(scenario())
