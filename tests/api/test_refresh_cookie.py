"""The refresh token in an HttpOnly cookie (`X-Taskroom-Refresh: cookie`), against a real node.

One `taskroom serve` process for the module, logging at debug, so the last test can read its log
for every cookie value the others saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from tests.support.processes import NodeProcess

PASSWORD = "correct horse battery"
COOKIE_MODE = {"X-Taskroom-Refresh": "cookie"}
# Every refresh token a cookie carried in this module: none may reach the node's log.
SEEN: list[str] = []


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    path: Path = tmp_path_factory.mktemp("refresh-cookie") / "node.db"
    process = NodeProcess(f"sqlite:///{path}", log_level="debug")
    yield process
    process.stop()


@pytest.fixture
def http(node: NodeProcess) -> Iterator[httpx.Client]:
    # No cookie jar of httpx's own: each test says which cookie it sends.
    with httpx.Client(base_url=node.api, timeout=30) as client:
        yield client


def refresh_cookie(response: httpx.Response) -> dict[str, str]:
    """The attributes of the `taskroom_refresh` Set-Cookie of `response`, with its `value`."""
    lines = [line for line in response.headers.get_list("set-cookie") if line.startswith("taskroom_refresh=")]
    assert len(lines) == 1, response.headers.get_list("set-cookie")
    parsed = SimpleCookie()
    parsed.load(lines[0])
    morsel = parsed["taskroom_refresh"]
    attributes = {key: str(morsel[key]) for key in morsel if morsel[key] != ""}
    attributes["value"] = morsel.value
    attributes["raw"] = lines[0]
    if morsel.value:
        SEEN.append(morsel.value)
    return attributes


def register(http: httpx.Client, headers: dict[str, str] | None = None) -> tuple[str, httpx.Response]:
    email = f"cookie.{uuid.uuid4().hex[:10]}@example.test"
    answer = http.post(
        "/auth/register", json={"email": email, "password": PASSWORD, "name": "C"}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return email, answer


def login(http: httpx.Client, email: str, headers: dict[str, str] | None = None) -> httpx.Response:
    answer = http.post("/auth/login", json={"email": email, "password": PASSWORD}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


def refresh_with(http: httpx.Client, value: str) -> httpx.Response:
    return http.post("/auth/refresh", headers={**COOKIE_MODE, "Cookie": f"taskroom_refresh={value}"})


def test_login_and_register_put_the_refresh_token_in_a_strict_httponly_cookie_only(
    http: httpx.Client,
) -> None:
    email, registered = register(http, COOKIE_MODE)
    logged_in = login(http, email, COOKIE_MODE)
    for answer in (registered, logged_in):
        body = answer.json()
        assert "refreshToken" not in body
        assert body["accessToken"] and body["refreshExpiresIn"] > 0
        cookie = refresh_cookie(answer)
        assert cookie["value"].startswith("trr_")
        assert cookie["value"] not in answer.text
        assert cookie["httponly"] is not None and "HttpOnly" in cookie["raw"]
        assert cookie["samesite"] == "strict"
        assert cookie["path"] == "/api/v1/auth"
        assert cookie["max-age"] == str(body["refreshExpiresIn"])
        assert "Secure" not in cookie["raw"], "plain http: a Secure cookie would never come back"
    assert refresh_cookie(registered)["value"] != refresh_cookie(logged_in)["value"]


def test_the_cookie_is_secure_when_the_request_is_https(http: httpx.Client) -> None:
    email, _ = register(http)
    # The node trusts X-Forwarded-Proto from the loopback proxy (uvicorn's forwarded_allow_ips).
    answer = login(http, email, {**COOKIE_MODE, "X-Forwarded-Proto": "https"})
    assert "Secure" in refresh_cookie(answer)["raw"]


def test_without_the_header_the_answers_are_those_of_the_contract(http: httpx.Client) -> None:
    email, registered = register(http)
    answer = login(http, email)
    for response in (registered, answer):
        assert response.json()["refreshToken"].startswith("trr_")
        assert not response.headers.get_list("set-cookie")
    refreshed = http.post("/auth/refresh", json={"refreshToken": answer.json()["refreshToken"]})
    assert refreshed.status_code == 200
    assert refreshed.json()["refreshToken"].startswith("trr_")
    assert not refreshed.headers.get_list("set-cookie")
    # A cookie without the header is not read: the body is required as it always was.
    cookie_login = login(http, email, COOKIE_MODE)
    value = refresh_cookie(cookie_login)["value"]
    missing = http.post("/auth/refresh", headers={"Cookie": f"taskroom_refresh={value}"})
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "VALIDATION_ERROR"
    # … and that cookie is still good.
    assert refresh_with(http, value).status_code == 200


def test_refresh_reads_the_cookie_and_rotates_it(http: httpx.Client) -> None:
    email, _ = register(http)
    first = refresh_cookie(login(http, email, COOKIE_MODE))["value"]
    answer = refresh_with(http, first)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "refreshToken" not in body
    second = refresh_cookie(answer)
    assert second["value"] != first
    assert second["path"] == "/api/v1/auth" and second["samesite"] == "strict"
    me = http.get("/auth/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status_code == 200 and me.json()["email"] == email
    third = refresh_with(http, second["value"])
    assert third.status_code == 200
    assert refresh_cookie(third)["value"] not in {first, second["value"]}


def test_a_spent_cookie_presented_again_ends_the_session(http: httpx.Client) -> None:
    email, _ = register(http)
    spent = refresh_cookie(login(http, email, COOKIE_MODE))["value"]
    rotated = refresh_with(http, spent)
    fresh = refresh_cookie(rotated)["value"]
    access = rotated.json()["accessToken"]
    reused = refresh_with(http, spent)
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"
    # The whole session ended: its newest refresh token and its access token are refused too.
    assert refresh_with(http, fresh).status_code == 401
    assert http.get("/auth/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_the_header_without_a_cookie_or_body_is_refused_as_an_invalid_refresh_token(
    http: httpx.Client,
) -> None:
    answer = http.post("/auth/refresh", headers=COOKIE_MODE)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"


def test_logout_ends_the_cookies_session_and_clears_the_cookie(http: httpx.Client) -> None:
    email, _ = register(http)
    answer = login(http, email, COOKIE_MODE)
    value = refresh_cookie(answer)["value"]
    access = answer.json()["accessToken"]
    # No access token needed: the cookie names the session.
    out = http.post("/auth/logout", headers={**COOKIE_MODE, "Cookie": f"taskroom_refresh={value}"})
    assert out.status_code == 204
    cleared = refresh_cookie(out)
    assert cleared["value"] == ""
    assert cleared["max-age"] == "0"
    assert cleared["path"] == "/api/v1/auth"
    assert refresh_with(http, value).status_code == 401
    assert http.get("/auth/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_logout_with_a_bearer_token_and_the_header_clears_the_cookie_too(http: httpx.Client) -> None:
    email, _ = register(http)
    access = login(http, email, COOKIE_MODE).json()["accessToken"]
    out = http.post("/auth/logout", headers={**COOKIE_MODE, "Authorization": f"Bearer {access}"})
    assert out.status_code == 204
    assert refresh_cookie(out)["value"] == ""
    assert http.get("/auth/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_no_cookie_value_reaches_the_node_log(node: NodeProcess, http: httpx.Client) -> None:
    # The values of every test that ran before it are in SEEN too (the file's order runs it last).
    email, _ = register(http)
    value = refresh_cookie(login(http, email, COOKIE_MODE))["value"]
    refresh_with(http, value)
    refresh_with(http, value)  # reuse: logged as a warning, without the token
    assert len(SEEN) >= 2
    log = node.log_text()
    assert "/auth/refresh" in log  # the requests were logged, without their cookies
    for seen in SEEN:
        assert seen not in log
