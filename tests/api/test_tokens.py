"""Bearer tokens (PROTOCOL §2): only well-formed, unexpired tokens of our algorithm, issuer and audience pass."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from tests.support.api import Api, ApiUser
from tests.support.tokens import claims_for, hmac_signed_with_header, signed, unsigned

# Each maker builds, for a real user id, a token that must be refused.
BAD_TOKENS: dict[str, Callable[[str], str]] = {
    "garbage": lambda _uid: "this-is-not-a-jwt",
    "three-garbage-segments": lambda _uid: "abc.def.ghi",
    "wrong-signature": lambda uid: signed(
        claims_for(uid), secret="another-secret-that-is-long-enough-0123456789"
    ),
    "expired": lambda uid: signed(claims_for(uid, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
    "alg-none": lambda uid: unsigned(claims_for(uid)),
    "alg-none-with-signature": lambda uid: unsigned(claims_for(uid)) + "c2lnbmF0dXJl",
    "foreign-alg-HS512": lambda uid: signed(claims_for(uid), algorithm="HS512"),
    "foreign-alg-RS256-header": lambda uid: hmac_signed_with_header(claims_for(uid), "RS256"),
    "wrong-issuer": lambda uid: signed(claims_for(uid, iss="someone-else")),
    "wrong-audience": lambda uid: signed(claims_for(uid, aud="another-app")),
    "no-expiry": lambda uid: signed(claims_for(uid, exp=None)),
    "no-issuer": lambda uid: signed(claims_for(uid, iss=None)),
    "no-audience": lambda uid: signed(claims_for(uid, aud=None)),
    "no-token-id": lambda uid: signed(claims_for(uid, jti=None)),
    "no-subject": lambda uid: signed(claims_for(uid, sub=None)),
    "empty-subject": lambda uid: signed(claims_for(uid, sub="")),
}

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
