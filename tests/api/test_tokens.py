"""Bearer tokens (PROTOCOL §2): only well-formed, unexpired tokens of our algorithm, issuer and audience pass."""

from __future__ import annotations

import uuid

import pytest

from tests.support.api import Api, ApiUser
from tests.support.tokens import BAD_TOKENS, claims_for, signed

# A read, a write and the identity endpoint: the check is the same dependency for every route.
ENDPOINTS = [("GET", "/auth/me"), ("GET", "/workspaces"), ("POST", "/workspaces")]


def call(user: ApiUser, method: str, path: str, headers: dict[str, str]) -> int:
    kwargs = {"json": {"name": "Should not exist"}} if method == "POST" else {}
    response = user.http.request(method, path, headers=headers, **kwargs)
    if response.status_code == 401:
        assert response.json()["error"]["code"] == "UNAUTHORIZED"
    return response.status_code


def test_a_token_crafted_with_the_right_secret_and_claims_is_accepted(api: Api) -> None:
    # The control case: the refusals below are caused by the one thing each of them breaks.
    user = api.register()
    token = signed(claims_for(user.id))
    response = user.http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["id"] == user.id


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_token_answers_401_everywhere_and_writes_nothing(api: Api, kind: str) -> None:
    user = api.register()
    token = BAD_TOKENS[kind](user.id)
    for method, path in ENDPOINTS:
        assert call(user, method, path, {"Authorization": f"Bearer {token}"}) == 401, (method, path)
    assert user.get("/workspaces").json()["items"] == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["no-header", "empty-header", "scheme-only", "basic-auth"],
)
def test_a_missing_bearer_token_answers_401_everywhere(api: Api, headers: dict[str, str]) -> None:
    user = api.register()
    for method, path in ENDPOINTS:
        response = user.http.request(method, path, headers=headers, json={"name": "x"})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert user.get("/workspaces").json()["items"] == []


def test_a_valid_token_of_an_account_that_does_not_exist_cannot_act(api: Api) -> None:
    # Same secret, but the account is gone (say, the database was reset while a client kept its token).
    user = api.register()
    ghost = {"Authorization": f"Bearer {signed(claims_for(str(uuid.uuid4())))}"}
    assert call(user, "GET", "/auth/me", ghost) == 401
    assert call(user, "POST", "/workspaces", ghost) == 401
