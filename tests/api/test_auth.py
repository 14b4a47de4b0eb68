"""Registration, login and the current user (PROTOCOL §2, Auth)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from tests.support.api import Api
from tests.support.tokens import SECRET

PASSWORD = "correct horse battery"


def fresh_email(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.test"


def register(http: httpx.Client, email: str, password: str = PASSWORD, name: str = "Ann") -> httpx.Response:
    return http.post("/auth/register", json={"email": email, "password": password, "name": name})


def login(http: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/auth/login", json={"email": email, "password": password})


def assert_auth_answer(body: dict[str, Any], email: str, name: str) -> None:
    assert set(body) == {"user", "accessToken", "tokenType", "expiresIn", "refreshToken", "refreshExpiresIn"}
    assert body["tokenType"] == "bearer"
    assert body["expiresIn"] == 3600
    assert set(body["user"]) == {"id", "email", "name", "createdAt"}
    assert body["user"]["email"] == email
    assert body["user"]["name"] == name
    assert body["user"]["createdAt"].endswith("Z")


def test_register_answers_201_with_user_and_a_working_bearer_token(api: Api) -> None:
    email = fresh_email()
    response = register(api.http, email, name="Ann Lee")
    assert response.status_code == 201
    body = response.json()
    assert_auth_answer(body, email, "Ann Lee")
    me = api.http.get("/auth/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status_code == 200
    assert me.json() == body["user"]


def test_issued_token_carries_the_promised_claims(api: Api) -> None:
    body = register(api.http, fresh_email()).json()
    claims = jwt.decode(
        body["accessToken"], SECRET, algorithms=["HS256"], audience="taskroom", issuer="taskroom"
    )
    assert claims["sub"] == body["user"]["id"]
    assert claims["exp"] - claims["iat"] == body["expiresIn"]
    assert claims["jti"]
    other = login(api.http, body["user"]["email"]).json()
    assert jwt.decode(other["accessToken"], options={"verify_signature": False})["jti"] != claims["jti"]


def test_email_is_stored_lower_case_and_login_ignores_its_case(api: Api) -> None:
    email = fresh_email("Mixed.Case").replace("example", "EXAMPLE")
    registered = register(api.http, email)
    assert registered.status_code == 201
    assert registered.json()["user"]["email"] == email.lower()
    response = login(api.http, email.upper())
    assert response.status_code == 200
    assert response.json()["user"]["id"] == registered.json()["user"]["id"]


def test_login_answers_200_with_the_register_shape(api: Api) -> None:
    email = fresh_email()
    user_id = register(api.http, email, name="Bo").json()["user"]["id"]
    response = login(api.http, email)
    assert response.status_code == 200
    body = response.json()
    assert_auth_answer(body, email, "Bo")
    assert body["user"]["id"] == user_id
    me = api.http.get("/auth/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.json()["id"] == user_id


@pytest.mark.parametrize("variant", [str, str.upper], ids=["same-case", "other-case"])
def test_register_with_a_taken_email_answers_409_and_keeps_the_first_account(
    api: Api, variant: Callable[[str], str]
) -> None:
    email = fresh_email()
    first = register(api.http, email, password="first password")
    response = register(api.http, variant(email), password="second password", name="Impostor")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ALREADY_EXISTS"
    still = login(api.http, email, password="first password")
    assert still.status_code == 200
    assert still.json()["user"] == first.json()["user"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "name": "A"}, {"email"}),
        ({"email": "two@@example.test", "password": PASSWORD, "name": "A"}, {"email"}),
        ({"email": "{email}", "password": "short", "name": "A"}, {"password"}),
        ({"email": "{email}", "password": PASSWORD, "name": ""}, {"name"}),
        ({"email": "{email}", "password": PASSWORD, "name": "   "}, {"name"}),
        ({"email": "{email}", "password": PASSWORD}, {"name"}),
        ({"password": PASSWORD, "name": "A"}, {"email"}),
        ({"email": "bad", "password": "x", "name": ""}, {"email", "password", "name"}),
    ],
    ids=[
        "bad-email",
        "double-at",
        "short-password",
        "empty-name",
        "blank-name",
        "missing-name",
        "missing-email",
        "all-bad",
    ],
)
def test_register_with_a_bad_body_answers_422_naming_the_fields_and_creates_nothing(
    api: Api, body: dict[str, str], fields: set[str]
) -> None:
    email = fresh_email()
    sent = {key: (email if value == "{email}" else value) for key, value in body.items()}
    response = api.http.post("/auth/register", json=sent)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert {entry["field"] for entry in error["fields"]} == fields
    # Nothing was written: the email is still free.
    assert register(api.http, email).status_code == 201


def test_me_without_a_token_answers_401(api: Api) -> None:
    response = api.http.get("/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


# Failed logins count per client address too, so these run on a private node: the shared node's
# other tests all log in from 127.0.0.1 and must never be throttled.


def test_login_with_a_wrong_password_or_unknown_email_answers_the_same_401(
    private_http: Callable[..., httpx.Client],
) -> None:
    http = private_http()
    email = fresh_email()
    register(http, email)
    wrong_password = login(http, email, password="not the password")
    unknown_email = login(http, fresh_email())
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert wrong_password.json() == unknown_email.json()


def test_login_answers_429_after_repeated_failures_even_with_the_right_password(
    private_http: Callable[..., httpx.Client],
) -> None:
    http = private_http(login_max_failures=3)
    email = fresh_email()
    register(http, email)
    for _ in range(3):
        assert login(http, email, password="guess").status_code == 401
    response = login(http, email)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"


def test_login_with_a_bad_body_answers_422(private_http: Callable[..., httpx.Client]) -> None:
    http = private_http()
    response = http.post("/auth/login", json={"email": "nope", "password": ""})
    assert response.status_code == 422
    assert {entry["field"] for entry in response.json()["error"]["fields"]} == {"email", "password"}


def test_one_address_failing_on_many_emails_is_throttled_at_its_own_limit(
    private_http: Callable[..., httpx.Client],
) -> None:
    http = private_http(login_max_failures=3, login_max_failures_per_client=4)
    victim = fresh_email()
    register(http, victim)
    for _ in range(4):
        assert login(http, fresh_email(), password="guess").status_code == 401
    response = login(http, victim)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"


def test_failures_on_one_email_do_not_lock_out_other_accounts_from_the_same_address(
    private_http: Callable[..., httpx.Client],
) -> None:
    http = private_http(login_max_failures=3)
    attacked, other = fresh_email(), fresh_email()
    register(http, attacked)
    register(http, other)
    for _ in range(3):
        assert login(http, attacked, password="guess").status_code == 401
    assert login(http, attacked).status_code == 429
    assert login(http, other).status_code == 200
