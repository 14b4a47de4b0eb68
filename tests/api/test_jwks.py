"""Tokens of the app's own identity provider (PROTOCOL §5.2) on a real node.

The provider's key set is served by the test over loopback HTTP (tests/support/identity_provider.py),
which counts the node's requests. One node per backend is shared by the module; the tests that
watch the fetch count or take the provider down start their own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from taskroom.db.models import ExternalIdentity, User
from taskroom.services.external_identities import ExternalIdentityService
from tests.support.api import Api
from tests.support.identity_provider import (
    AUDIENCE,
    ISSUER,
    KeySetServer,
    SigningKey,
    claims,
    key_set_server,
    new_key,
)
from tests.support.servers import RunningServer, start_server
from tests.support.ws import WsClient
from tests.support.ydoc import YDocClient, doc_url

ALGORITHMS = ["RS256", "ES256", "EdDSA"]


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {algorithm: new_key(algorithm) for algorithm in ALGORITHMS}


@pytest.fixture(scope="module")
def idp(keys: dict[str, SigningKey]) -> Iterator[KeySetServer]:
    with key_set_server(*keys.values()) as server:
        yield server


@pytest.fixture(scope="module")
def idp_node(
    backend: str, database_factory: Callable[[str], str], idp: KeySetServer
) -> Iterator[RunningServer]:
    server = start_server(database_factory(backend), **idp.node_settings())
    yield server
    server.stop()


@pytest.fixture
def http(idp_node: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=idp_node.api, timeout=30) as client:
        yield client


def me(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


def unique_email(label: str = "ext") -> str:
    return f"{label}.{uuid.uuid4().hex[:10]}@example.test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def hand_signed_hs256(payload: dict[str, Any], kid: str, secret: bytes) -> str:
    """HS256 with the given bytes as the secret, built by hand (PyJWT refuses a PEM as an HMAC key)."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_segment(payload)}"
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def unsigned_with_kid(payload: dict[str, Any], kid: str) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_segment(payload)}."


# --- accepted everywhere ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_token_of_each_key_type_is_accepted_on_rest_and_creates_its_user(
    http: httpx.Client, keys: dict[str, SigningKey], algorithm: str
) -> None:
    email = unique_email(algorithm.lower())
    token = keys[algorithm].sign(claims(email=email, name=f"Ada {algorithm}"))
    response = me(http, token)
    assert response.status_code == 200, response.text
    user = response.json()
    assert (user["email"], user["name"]) == (email, f"Ada {algorithm}")
    # The user works like any other: it makes a workspace and finds it again.
    created = http.post(
        "/workspaces", json={"name": "IdP board"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["ownerId"] == user["id"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_token_of_each_key_type_is_accepted_by_authenticate(
    idp_node: RunningServer, http: httpx.Client, keys: dict[str, SigningKey], algorithm: str
) -> None:
    token = keys[algorithm].sign(claims(email=unique_email(), name="Grace"))
    user_id = me(http, token).json()["id"]
    with WsClient(idp_node.ws_url) as ws:
        answer = ws.authenticate(token)
    assert answer["success"] is True
    assert answer["userId"] == user_id


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_token_of_each_key_type_opens_the_document_endpoint(
    idp_node: RunningServer, http: httpx.Client, keys: dict[str, SigningKey], algorithm: str
) -> None:
    token = keys[algorithm].sign(claims(email=unique_email(), name="Doc editor"))
    auth = {"Authorization": f"Bearer {token}"}
    workspace = http.post("/workspaces", json={"name": "Docs"}, headers=auth).json()
    task = http.post(f"/workspaces/{workspace['id']}/tasks", json={"title": "Write"}, headers=auth).json()

    async def edit() -> str:
        async with (
            YDocClient(doc_url(idp_node.ws_url, task["id"], token)) as client,
            httpx.AsyncClient(base_url=idp_node.api, headers=auth, timeout=30) as rest,
        ):
            await asyncio.wait_for(client.synced.wait(), 10)
            client.insert(0, "Signed by the provider")
            deadline = time.monotonic() + 10
            while True:  # the task's description follows the document within a second
                description = str((await rest.get(f"/tasks/{task['id']}")).json()["description"])
                if description == "Signed by the provider" or time.monotonic() > deadline:
                    return description
                await asyncio.sleep(0.05)

    assert asyncio.run(edit()) == "Signed by the provider"


def test_the_node_s_own_tokens_keep_working_beside_the_provider_s(
    idp_node: RunningServer, http: httpx.Client
) -> None:
    api = Api(idp_node.api)
    try:
        local = api.register("Local")
        assert me(http, local.token).json()["id"] == local.id
        with WsClient(idp_node.ws_url) as ws:
            assert ws.authenticate(local.token)["userId"] == local.id
    finally:
        api.close()


# --- the user of (iss, sub) ------------------------------------------------------------------------


def test_the_profile_follows_the_claims_and_the_pair_names_one_user(
    http: httpx.Client, keys: dict[str, SigningKey]
) -> None:
    subject = f"sub-{uuid.uuid4().hex}"
    first = me(http, keys["RS256"].sign(claims(subject, email=unique_email("old"), name="Old Name")))
    assert first.status_code == 200, first.text
    new_email = unique_email("new")
    # Another key of the same provider, later claims: the same user, updated.
    later = me(http, keys["EdDSA"].sign(claims(subject, email=new_email, name="New Name")))
    assert later.json() == {**first.json(), "email": new_email, "name": "New Name"}
    # A token without the claims leaves the profile as it is.
    bare = me(http, keys["ES256"].sign(claims(subject)))
    assert bare.json() == later.json()
    # The same subject at another issuer would be another user; here another subject is.
    other = me(http, keys["RS256"].sign(claims(email=unique_email(), name="New Name")))
    assert other.json()["id"] != first.json()["id"]


def test_an_email_another_account_has_is_not_taken_over(
    idp_node: RunningServer, http: httpx.Client, keys: dict[str, SigningKey]
) -> None:
    api = Api(idp_node.api)
    try:
        local = api.register("Owner of the address")
        token = keys["ES256"].sign(claims(email=local.email, name="Impostor"))
        response = me(http, token)
        assert response.status_code == 200, response.text
        external = response.json()
        assert external["id"] != local.id
        assert external["email"] == f"{external['id']}@external.invalid"
        assert external["name"] == "Impostor"
        # The account that has the address is untouched and still signs in.
        login = api.http.post("/auth/login", json={"email": local.email, "password": "correct horse battery"})
        assert login.status_code == 200
        assert login.json()["user"]["id"] == local.id
        # An unverified address is not taken either.
        unverified = unique_email("unverified")
        user = me(http, keys["RS256"].sign(claims(email=unverified, email_verified=False))).json()
        assert user["email"] == f"{user['id']}@external.invalid"
    finally:
        api.close()


@pytest.mark.parametrize("password", ["decoy-password-for-timing", "", "correct horse battery"])
def test_a_user_of_the_provider_can_never_sign_in_with_a_password(
    http: httpx.Client, keys: dict[str, SigningKey], password: str
) -> None:
    email = unique_email("nopassword")
    assert me(http, keys["RS256"].sign(claims(email=email, name="No Password"))).status_code == 200
    response = http.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code in (401, 422), response.text
    assert "accessToken" not in response.text


def test_concurrent_first_uses_of_one_pair_create_one_user(
    idp_node: RunningServer, http: httpx.Client, keys: dict[str, SigningKey]
) -> None:
    subject, email = f"race-{uuid.uuid4().hex}", unique_email("race")
    token = keys["RS256"].sign(claims(subject, email=email, name="Racer"))

    def first_use(_: int) -> str:
        with httpx.Client(base_url=idp_node.api, timeout=30) as client:
            response = me(client, token)
            assert response.status_code == 200, response.text
            return str(response.json()["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(first_use, range(8)))
    assert len(ids) == 1

    # And straight at the service, where the two transactions do overlap on PostgreSQL.
    services = idp_node.app_state.services
    accounts = ExternalIdentityService(services.db)
    other_subject, other_email = f"race-{uuid.uuid4().hex}", unique_email("race")

    async def race() -> tuple[list[str], int, int]:
        found = await asyncio.gather(
            *(accounts.user_for(ISSUER, other_subject, other_email, "Racer") for _ in range(6))
        )
        async with services.db.read() as session:
            users = await session.scalar(
                select(func.count()).select_from(User).where(User.email == other_email)
            )
            links = await session.scalar(
                select(func.count())
                .select_from(ExternalIdentity)
                .where(ExternalIdentity.issuer == ISSUER, ExternalIdentity.subject == other_subject)
            )
        return list(found), int(users or 0), int(links or 0)

    found, users, links = idp_node.run_on_loop(race())
    assert len(set(found)) == 1
    assert (users, links) == (1, 1)


# --- refused ---------------------------------------------------------------------------------------


def _public_pem(key: SigningKey) -> bytes:
    return bytes(
        key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _bad_tokens(keys: dict[str, SigningKey]) -> dict[str, str]:
    rsa, ec = keys["RS256"], keys["ES256"]
    now = int(time.time())
    unpublished = new_key("RS256")
    impostor = SigningKey("RS256", rsa.kid, unpublished.private, unpublished.public_jwk)
    wrong_alg_for_key = SigningKey("ES256", rsa.kid, ec.private, ec.public_jwk)
    return {
        "alg-none": unsigned_with_kid(claims(), rsa.kid),
        "hs256-with-the-public-key-as-secret": hand_signed_hs256(claims(), rsa.kid, _public_pem(rsa)),
        "wrong-issuer": rsa.sign(claims(iss="https://someone-else.test/")),
        "wrong-audience": rsa.sign(claims(aud="another-app")),
        "expired": rsa.sign(claims(iat=now - 7200, exp=now - 3600)),
        "no-expiry": rsa.sign(claims(exp=None)),
        "no-subject": rsa.sign(claims(sub=None)),
        "unknown-kid": new_key("ES256").sign(claims()),
        "signed-by-another-key-with-a-known-kid": impostor.sign(claims()),
        "alg-disagrees-with-the-key": wrong_alg_for_key.sign(claims()),
    }


BAD = [
    "alg-none",
    "hs256-with-the-public-key-as-secret",
    "wrong-issuer",
    "wrong-audience",
    "expired",
    "no-expiry",
    "no-subject",
    "unknown-kid",
    "signed-by-another-key-with-a-known-kid",
    "alg-disagrees-with-the-key",
]


@pytest.mark.parametrize("case", BAD)
def test_a_bad_provider_token_is_refused_401_everywhere(
    idp_node: RunningServer, http: httpx.Client, keys: dict[str, SigningKey], case: str
) -> None:
    token = _bad_tokens(keys)[case]
    response = me(http, token)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    if case == "expired":
        assert "expired" in response.json()["error"]["message"]
    with WsClient(idp_node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("AUTHENTICATE", {"token": token})
        error = ws.recv_type("ERROR")
        assert error["data"]["code"] in ("UNAUTHORIZED", "TOKEN_EXPIRED")
        assert ws.wait_closed() == 4401
    assert _doc_refusal(doc_url(idp_node.ws_url, "any-task", token)) == 401


def _doc_refusal(url: str) -> int:
    async def attempt() -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, open_timeout=10):
                pass
        return refused.value.response.status_code

    return asyncio.run(attempt())


# --- fetching the keys: the bound, and the provider down ---------------------------------------------


def test_a_flood_of_forged_kids_fetches_the_key_set_once_and_cached_keys_outlive_the_provider(
    node_factory: Callable[..., RunningServer],
) -> None:
    key = new_key("EdDSA")
    with key_set_server(key) as provider:
        node = node_factory(**provider.node_settings())
        assert provider.count() == 0  # fetched on first need, not at start
        forgeries = [new_key("RS256").sign(claims()) for _ in range(5)]

        def attempt(token: str) -> int:
            with httpx.Client(base_url=node.api, timeout=30) as client:
                return me(client, token).status_code

        assert attempt(forgeries[0]) == 401
        assert provider.count() == 1
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(attempt, forgeries * 12))
        assert set(statuses) == {401}
        with WsClient(node.ws_url) as ws:
            ws.recv_type("CONNECT")
            ws.send("AUTHENTICATE", {"token": forgeries[1]})
            assert ws.recv_type("ERROR")["data"]["code"] == "UNAUTHORIZED"
        assert provider.count() == 1  # one fetch for the whole flood

        good = key.sign(claims(email=unique_email(), name="Kept"))
        assert attempt(good) == 200
        provider.down = True
        assert attempt(good) == 200
        assert attempt(key.sign(claims())) == 200
        assert provider.count() == 1


def test_with_the_provider_down_and_no_key_cached_a_token_is_refused_clearly_not_500(
    node_factory: Callable[..., RunningServer],
) -> None:
    key = new_key("RS256")
    with key_set_server(key) as provider:
        provider.down = True
        node = node_factory(**provider.node_settings())
        token = key.sign(claims())
        with httpx.Client(base_url=node.api, timeout=30) as client:
            response = me(client, token)
        assert response.status_code == 401, response.text
        assert "keys cannot be fetched" in response.json()["error"]["message"]
        with WsClient(node.ws_url) as ws:
            ws.recv_type("CONNECT")
            ws.send("AUTHENTICATE", {"token": token})
            assert ws.recv_type("ERROR")["data"]["code"] == "UNAUTHORIZED"
            assert ws.wait_closed() == 4401
        assert _doc_refusal(doc_url(node.ws_url, "any-task", token)) == 401
        assert provider.count() == 1  # one failed fetch; the next waits out the 30 s


def test_the_settings_refuse_a_plain_http_key_url_or_an_incomplete_triple() -> None:
    from pydantic import ValidationError

    from taskroom.settings import Settings, describe_invalid

    with pytest.raises(ValidationError) as plain:
        Settings(auth_jwks_url="http://id.example.test/jwks", auth_issuer=ISSUER, auth_audience=AUDIENCE)
    assert "AUTH_JWKS_URL: must be an https:// URL" in describe_invalid(plain.value)
    with pytest.raises(ValidationError) as partial:
        Settings(auth_jwks_url="https://id.example.test/jwks")
    assert "AUTH_ISSUER, AUTH_AUDIENCE not set" in describe_invalid(partial.value)
    for url in (
        "https://id.example.test/jwks",
        "http://127.0.0.1:8080/jwks",
        "http://[::1]/k",
        "http://localhost/k",
    ):
        assert Settings(auth_jwks_url=url, auth_issuer=ISSUER, auth_audience=AUDIENCE).auth_jwks_url == url
