"""Sessions and refused tokens in the Python client, against a real node (PROTOCOL.md §4, §5.1).

Most tests share one node whose access tokens live 5 seconds, so refreshes happen within a test.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from taskroom.client import (
    ConnectionState,
    Event,
    NotSignedIn,
    StateChange,
    TaskroomAPI,
    TodoWebSocketClient,
    UnauthorizedError,
)
from tests.client.support import (
    PASSWORD,
    CountingTransport,
    as_logged,
    logged,
    new_account,
    quick_backoff,
    until,
    whole_log,
)
from tests.support.servers import RunningServer, start_server

TTL = 5
REFRESH = ("POST", "/auth/refresh")
# Long enough for any attempt to have ended; a client that loops for ever fails here instead of hanging.
GIVE_UP_WITHIN = 30


@pytest.fixture(scope="module")
def short_lived_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(f"sqlite:///{tmp_path_factory.mktemp('sessions') / 'node.db'}", jwt_ttl_seconds=TTL)
    yield server
    server.stop()


async def _refused_by_the_server(node: RunningServer, token: str) -> bool:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{node.api}/auth/me", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code == 401


def test_the_readme_pattern_stays_connected_and_writes_succeed_past_three_token_lifetimes(
    short_lived_node: RunningServer,
) -> None:
    transport = CountingTransport()

    async def scenario() -> None:
        async with TaskroomAPI(short_lived_node.base_url, transport=transport) as api:
            await new_account(api)
            workspace = (await api.create_workspace("Board"))["id"]
            first_token = api.token
            received: list[Event] = []
            states: list[StateChange] = []
            client = TodoWebSocketClient(short_lived_node.base_url, token=api.token_provider)
            client.on_task_created(received.append)
            client.on_state_change(states.append)
            async with client:
                started = time.monotonic()
                n = 0
                # Three lifetimes of the access token, writing all along.
                while time.monotonic() - started < 3 * TTL + 0.5:
                    n += 1
                    await api.create_task(workspace, f"task {n}")
                    await asyncio.sleep(0.25)
                log = await whole_log(api, workspace)
                await until(lambda: len(received) >= len(log), what="every event delivered")
                assert client.state is ConnectionState.OPEN
            assert first_token is not None and await _refused_by_the_server(short_lived_node, first_token)

        assert logged(received) == as_logged(log) and len(log) == n
        # Never lost: the tokens were renewed over the open socket, without a 4401.
        assert [s.state for s in states] == [
            ConnectionState.CONNECTING,
            ConnectionState.OPEN,
            ConnectionState.CLOSED,
        ]
        assert transport.count(*REFRESH) >= 3

    asyncio.run(scenario())


def test_a_string_token_the_server_refuses_ends_unauthorized_with_4401_without_retrying(
    short_lived_node: RunningServer,
) -> None:
    async def scenario() -> tuple[list[StateChange], list[Event], ConnectionState]:
        states: list[StateChange] = []
        errors: list[Event] = []
        client = TodoWebSocketClient(short_lived_node.ws_url, "not-a-valid-token", backoff=quick_backoff())
        client.on_state_change(states.append)
        client.on_error(errors.append)
        async with asyncio.timeout(GIVE_UP_WITHIN):
            with pytest.raises(UnauthorizedError) as raised:
                await client.connect()
        assert raised.value.close_code == 4401
        return states, errors, client.state

    states, errors, final = asyncio.run(scenario())
    assert final is ConnectionState.UNAUTHORIZED  # it stays, so the app can see why it stopped
    attempts = [s for s in states if s.attempt >= 1]
    assert 1 <= len(attempts) <= 3
    assert [e.data["code"] for e in errors] == ["UNAUTHORIZED"] * len(attempts)
    assert states[-1].state is ConnectionState.UNAUTHORIZED and states[-1].close_code == 4401


def test_a_provider_that_hands_back_the_refused_token_stops_at_once(short_lived_node: RunningServer) -> None:
    asked = 0

    def provider() -> str:
        nonlocal asked
        asked += 1
        return "the-same-bad-token"

    async def scenario() -> tuple[list[StateChange], list[Event]]:
        states: list[StateChange] = []
        errors: list[Event] = []
        client = TodoWebSocketClient(short_lived_node.ws_url, provider, backoff=quick_backoff())
        client.on_state_change(states.append)
        client.on_error(errors.append)
        async with asyncio.timeout(GIVE_UP_WITHIN):
            with pytest.raises(UnauthorizedError):
                await client.connect()
        return states, errors

    states, errors = asyncio.run(scenario())
    assert asked == 2  # asked again after the refusal, and the answer was not sent
    assert len(errors) == 1  # one AUTHENTICATE reached the server
    assert states[-1].state is ConnectionState.UNAUTHORIZED and states[-1].close_code == 4401


def test_a_provider_of_ever_new_refused_tokens_stops_after_three_connects(
    short_lived_node: RunningServer,
) -> None:
    numbers = itertools.count(1)

    async def scenario() -> tuple[list[StateChange], list[Event]]:
        states: list[StateChange] = []
        errors: list[Event] = []
        client = TodoWebSocketClient(
            short_lived_node.ws_url, lambda: f"bad-token-{next(numbers)}", backoff=quick_backoff()
        )
        client.on_state_change(states.append)
        client.on_error(errors.append)
        async with asyncio.timeout(GIVE_UP_WITHIN):
            with pytest.raises(UnauthorizedError):
                await client.connect()
        return states, errors

    states, errors = asyncio.run(scenario())
    assert [s.attempt for s in states if s.attempt >= 1] == [1, 2, 3]
    assert len(errors) == 3
    assert states[-1].state is ConnectionState.UNAUTHORIZED and states[-1].close_code == 4401


def test_racing_rest_calls_after_expiry_make_exactly_one_refresh(short_lived_node: RunningServer) -> None:
    transport = CountingTransport()

    async def scenario() -> None:
        async with TaskroomAPI(short_lived_node.base_url, transport=transport) as api:
            await new_account(api)
            workspace = (await api.create_workspace("Board"))["id"]
            expired, spent = api.token, api.refresh_token
            assert expired is not None and spent is not None
            deadline = time.monotonic() + 3 * TTL
            while not await _refused_by_the_server(short_lived_node, expired):
                assert time.monotonic() < deadline, "the access token never expired"
                await asyncio.sleep(0.2)

            results = await asyncio.gather(
                api.me(),
                api.list_workspaces(),
                api.create_task(workspace, "one"),
                api.create_task(workspace, "two"),
                api.get_workspace(workspace),
            )
            assert transport.count(*REFRESH) == 1
            assert sorted(t["title"] for t in await api.list_tasks(workspace)) == ["one", "two"]
            assert results[0]["email"].startswith("ada.")
            assert api.token != expired and api.refresh_token != spent  # rotated
            # The spent refresh token is worth nothing now, and the new one still works.
            async with httpx.AsyncClient() as http:
                replay = await http.post(f"{short_lived_node.api}/auth/refresh", json={"refreshToken": spent})
            assert replay.status_code == 401

    asyncio.run(scenario())


def test_a_401_from_rest_makes_racing_callers_share_one_refresh(tmp_path: Path) -> None:
    # The node comes back with another signing key: every access token is refused (401) while
    # the refresh tokens, kept in the database, still work.
    database = f"sqlite:///{tmp_path / 'node.db'}"
    transport = CountingTransport()

    async def scenario() -> None:
        # In threads: start_server runs the migrations with asyncio.run.
        node = await asyncio.to_thread(start_server, database, jwt_secret="the-first-signing-key-" + "0" * 32)
        api = TaskroomAPI(node.base_url, transport=transport)
        try:
            await new_account(api)
            workspace = (await api.create_workspace("Board"))["id"]
            port = node.port
            await asyncio.to_thread(node.stop)
            node = await asyncio.to_thread(
                start_server, database, port=port, jwt_secret="the-second-signing-key-" + "1" * 32
            )
            refused = api.token
            assert refused is not None and await _refused_by_the_server(node, refused)

            titles = [f"task {n}" for n in range(5)]
            await asyncio.gather(*(api.create_task(workspace, title) for title in titles))
            assert transport.count(*REFRESH) == 1
            assert sorted(t["title"] for t in await api.list_tasks(workspace)) == titles
            assert api.pending == []
        finally:
            await api.aclose()
            await asyncio.to_thread(node.stop)

    asyncio.run(scenario())


class GatedTransport(CountingTransport):
    """Holds every refresh request until `gate` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/refresh"):
            self.sent.append(REFRESH)
            await self.gate.wait()
            return await httpx.AsyncHTTPTransport.handle_async_request(self, request)
        return await super().handle_async_request(request)


def test_a_caller_cancelled_during_a_refresh_does_not_lose_the_new_tokens(
    short_lived_node: RunningServer,
) -> None:
    async def scenario() -> None:
        transport = GatedTransport()
        async with TaskroomAPI(short_lived_node.base_url, transport=transport) as api:
            await new_account(api)
            api.token_provider.token_refused(api.token or "")  # as a WebSocket client reports it
            caller = asyncio.create_task(api.me())
            await until(lambda: transport.count(*REFRESH) == 1, what="the refresh sent")
            caller.cancel()
            with pytest.raises(asyncio.CancelledError):
                await caller
            transport.gate.set()

            assert (await api.me())["email"].startswith("ada.")
            assert transport.count(*REFRESH) == 1  # the answer of the cancelled one was kept
            # Had its refresh token been lost, the next refresh would reuse a spent one and end
            # the session; it works.
            api.token_provider.token_refused(api.token or "")
            await api.token_provider()
            assert transport.count(*REFRESH) == 2
            assert (await api.me())["email"].startswith("ada.")

    asyncio.run(scenario())


def test_logout_ends_the_session_and_its_websocket_client_stops_as_unauthorized(
    short_lived_node: RunningServer,
) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(short_lived_node.base_url) as api:
            await new_account(api)
            refresh_token = api.refresh_token
            states: list[StateChange] = []
            client = TodoWebSocketClient(
                short_lived_node.base_url, api.token_provider, backoff=quick_backoff()
            )
            client.on_state_change(states.append)
            await client.connect()
            try:
                await api.logout()
                assert api.token is None and api.refresh_token is None
                await until(lambda: client.state is ConnectionState.UNAUTHORIZED, within=GIVE_UP_WITHIN)
            finally:
                await client.disconnect()
            with pytest.raises(NotSignedIn) as raised:
                await api.me()
            assert raised.value.status == 401
            async with httpx.AsyncClient() as http:
                answer = await http.post(
                    f"{short_lived_node.api}/auth/refresh", json={"refreshToken": refresh_token}
                )
            assert answer.status_code == 401

        lost = next(s for s in states if s.state is ConnectionState.RECONNECTING)
        assert lost.close_code == 4401
        assert states[-1].state is ConnectionState.UNAUTHORIZED and states[-1].close_code == 4401

    asyncio.run(scenario())


def test_a_session_ended_elsewhere_stops_the_client_as_unauthorized_after_one_refused_refresh(
    short_lived_node: RunningServer,
) -> None:
    transport = CountingTransport()

    async def scenario() -> None:
        async with (
            TaskroomAPI(short_lived_node.base_url, transport=transport) as api,
            TaskroomAPI(short_lived_node.base_url) as elsewhere,
        ):
            account = await new_account(api)
            await elsewhere.login(account["email"], PASSWORD)
            client = TodoWebSocketClient(
                short_lived_node.base_url, api.token_provider, backoff=quick_backoff()
            )
            await client.connect()
            refreshed_before = transport.count(*REFRESH)  # the client's own renewals, if any yet
            try:
                async with httpx.AsyncClient() as http:
                    ended = await http.delete(
                        f"{short_lived_node.api}/auth/sessions",
                        headers={"Authorization": f"Bearer {elsewhere.token}"},
                    )
                assert ended.status_code == 204  # every session but that one
                await until(lambda: client.state is ConnectionState.UNAUTHORIZED, within=GIVE_UP_WITHIN)
            finally:
                await client.disconnect()
            # The refused token made the provider try its refresh token, once; the server refused it.
            assert transport.count(*REFRESH) == refreshed_before + 1
            assert api.refresh_token is None
            with pytest.raises(NotSignedIn):
                await api.list_workspaces()

    asyncio.run(scenario())


def test_a_provider_with_no_session_stops_the_client_before_it_connects(
    short_lived_node: RunningServer,
) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(short_lived_node.base_url) as api:
            errors: list[Event] = []
            client = TodoWebSocketClient(
                short_lived_node.base_url, api.token_provider, backoff=quick_backoff()
            )
            client.on_error(errors.append)
            async with asyncio.timeout(GIVE_UP_WITHIN):
                with pytest.raises(UnauthorizedError) as raised:
                    await client.connect()
            assert "the provider has no token" in str(raised.value)
            assert raised.value.close_code is None and errors == []  # nothing was sent
            assert client.state is ConnectionState.UNAUTHORIZED

    asyncio.run(scenario())


def test_a_refresh_token_kept_across_runs_resumes_the_session_once(short_lived_node: RunningServer) -> None:
    async def scenario() -> None:
        async with TaskroomAPI(short_lived_node.base_url) as first_run:
            account = await new_account(first_run)
            kept = first_run.refresh_token
        assert kept is not None
        async with TaskroomAPI(short_lived_node.base_url) as next_run:
            await next_run.resume(kept)
            assert (await next_run.me())["id"] == account["id"]
            assert next_run.refresh_token not in (None, kept)
        async with TaskroomAPI(short_lived_node.base_url) as replayed:
            with pytest.raises(NotSignedIn) as raised:
                await replayed.resume(kept)  # spent: and the server ends that session for it
            assert raised.value.code == "INVALID_REFRESH_TOKEN"
            assert replayed.token is None

    asyncio.run(scenario())
