"""Sessions and refresh tokens (PROTOCOL §5.1) against a real node, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.api import Api
from tests.support.servers import RunningServer
from tests.support.ws import WsClient
from tests.support.ydoc import doc_url

PASSWORD = "correct horse battery"


def _register(http: httpx.Client, user_agent: str = "tests/1") -> dict[str, Any]:
    email = f"s.{uuid.uuid4().hex[:10]}@example.test"
    answer = http.post(
        "/auth/register",
        json={"email": email, "password": PASSWORD, "name": "S"},
        headers={"User-Agent": user_agent},
    )
    assert answer.status_code == 201, answer.text
    return {**answer.json(), "email": email}


def _login(http: httpx.Client, email: str, user_agent: str = "tests/2") -> dict[str, Any]:
    answer = http.post(
        "/auth/login", json={"email": email, "password": PASSWORD}, headers={"User-Agent": user_agent}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['accessToken']}"}


def _refresh(http: httpx.Client, token: str) -> httpx.Response:
    return http.post("/auth/refresh", json={"refreshToken": token})


def test_login_returns_a_refresh_token_that_rotates(api: Api) -> None:
    first = _register(api.http)
    assert len(first["refreshToken"]) >= 22 and first["refreshExpiresIn"] == 2592000
    answer = _refresh(api.http, first["refreshToken"])
    assert answer.status_code == 200, answer.text
    second = answer.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert second["user"]["id"] == first["user"]["id"]
    assert api.http.get("/auth/me", headers=_bearer(second)).status_code == 200
    assert _refresh(api.http, second["refreshToken"]).status_code == 200


def test_a_spent_refresh_token_ends_the_whole_session(api: Api) -> None:
    first = _register(api.http)
    second = _refresh(api.http, first["refreshToken"]).json()
    again = _refresh(api.http, first["refreshToken"])
    assert again.status_code == 401 and again.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"
    # The session is over: its newest refresh token and its access tokens no longer work.
    assert _refresh(api.http, second["refreshToken"]).json()["error"]["code"] == "INVALID_REFRESH_TOKEN"
    assert api.http.get("/auth/me", headers=_bearer(second)).status_code == 401
    assert api.http.get("/auth/me", headers=_bearer(first)).status_code == 401


def test_unknown_refresh_tokens_are_refused(api: Api) -> None:
    for token in ("trr_nothing-like-it", "x"):
        answer = _refresh(api.http, token)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"


def test_racing_refreshes_with_one_token_exactly_one_wins(node: RunningServer) -> None:
    with httpx.Client(base_url=node.api, timeout=30) as http:
        token = _register(http)["refreshToken"]
    racers = 8
    start = threading.Barrier(racers)

    def race(_: int) -> int:
        with httpx.Client(base_url=node.api, timeout=30) as own:
            start.wait()
            return _refresh(own, token).status_code

    with ThreadPoolExecutor(racers) as pool:
        statuses = list(pool.map(race, range(racers)))
    assert sorted(statuses) == [200] + [401] * (racers - 1)


def test_logout_ends_the_session_by_refresh_or_bearer_token(api: Api) -> None:
    first = _register(api.http)
    assert api.http.post("/auth/logout", json={"refreshToken": first["refreshToken"]}).status_code == 204
    assert api.http.get("/auth/me", headers=_bearer(first)).status_code == 401
    assert _refresh(api.http, first["refreshToken"]).status_code == 401
    other = _login(api.http, first["email"])
    assert api.http.post("/auth/logout", headers=_bearer(other)).status_code == 204
    assert api.http.get("/auth/me", headers=_bearer(other)).status_code == 401
    assert api.http.post("/auth/logout").status_code == 401


def test_session_list_and_ending_one_or_all_others(api: Api) -> None:
    first = _register(api.http, user_agent="laptop")
    second = _login(api.http, first["email"], user_agent="phone")
    third = _login(api.http, first["email"], user_agent="tablet")
    listed = api.http.get("/auth/sessions", headers=_bearer(first)).json()["items"]
    assert [(s["userAgent"], s["current"]) for s in listed] == [
        ("laptop", True),
        ("phone", False),
        ("tablet", False),
    ]
    phone = listed[1]["id"]
    assert api.http.delete(f"/auth/sessions/{phone}", headers=_bearer(first)).status_code == 204
    assert api.http.get("/auth/me", headers=_bearer(second)).status_code == 401
    assert api.http.get("/auth/me", headers=_bearer(third)).status_code == 200
    stranger = _register(api.http)
    assert api.http.delete(f"/auth/sessions/{listed[2]['id']}", headers=_bearer(stranger)).status_code == 404
    assert api.http.delete("/auth/sessions", headers=_bearer(first)).status_code == 204
    assert api.http.get("/auth/me", headers=_bearer(third)).status_code == 401
    assert api.http.get("/auth/me", headers=_bearer(first)).status_code == 200
    left = api.http.get("/auth/sessions", headers=_bearer(first)).json()["items"]
    assert [s["userAgent"] for s in left] == ["laptop"]


def test_password_change_ends_every_other_session(api: Api) -> None:
    first = _register(api.http)
    other = _login(api.http, first["email"])
    wrong = api.http.post(
        "/auth/password",
        json={"currentPassword": "not it at all", "newPassword": "a new long password"},
        headers=_bearer(first),
    )
    assert wrong.status_code == 403
    changed = api.http.post(
        "/auth/password",
        json={"currentPassword": PASSWORD, "newPassword": "a new long password"},
        headers=_bearer(first),
    )
    assert changed.status_code == 204, changed.text
    assert api.http.get("/auth/me", headers=_bearer(other)).status_code == 401
    assert api.http.get("/auth/me", headers=_bearer(first)).status_code == 200
    login = api.http.post("/auth/login", json={"email": first["email"], "password": "a new long password"})
    assert login.status_code == 200


def test_ending_sessions_is_announced_to_listeners(node: RunningServer, api: Api) -> None:
    heard: list[tuple[str, list[str]]] = []

    async def listen(user_id: str, session_ids: Any) -> None:
        heard.append((user_id, list(session_ids)))

    node.app_state.services.sessions.on_sessions_ended(listen)
    first = _register(api.http)
    api.http.post("/auth/logout", headers=_bearer(first))
    sid = node.app_state.services.tokens.verify(first["accessToken"]).session_id
    assert (first["user"]["id"], [sid]) in heard


def test_an_ended_sessions_token_is_refused_on_both_sockets(node: RunningServer, api: Api) -> None:
    """One authenticator for REST, AUTHENTICATE and the document endpoint: an ended session's
    access token opens neither socket, while a live session's token of the same account does."""
    first = _register(api.http)
    second = _login(api.http, first["email"])
    workspace = api.http.post("/workspaces", json={"name": "W"}, headers=_bearer(second)).json()
    task = api.http.post(
        f"/workspaces/{workspace['id']}/tasks", json={"title": "T"}, headers=_bearer(second)
    ).json()
    ended = api.http.post("/auth/logout", json={"refreshToken": first["refreshToken"]})
    assert ended.status_code == 204

    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("AUTHENTICATE", {"token": first["accessToken"]}, id="auth")
        error = ws.recv_type("ERROR")
        assert (error["data"]["code"], error["replyTo"]) == ("UNAUTHORIZED", "auth")
        assert ws.wait_closed() == 4401
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("AUTHENTICATE", {"token": second["accessToken"]}, id="auth")
        assert ws.recv_type("AUTHENTICATE")["data"]["success"] is True

    try:
        connect(doc_url(node.ws_url, task["id"], first["accessToken"]), open_timeout=10).close()
        raise AssertionError("the document endpoint admitted an ended session's token")
    except InvalidStatus as refused:
        assert refused.response.status_code == 401
    connect(doc_url(node.ws_url, task["id"], second["accessToken"]), open_timeout=10).close()
