"""The admission toolkit (taskroom.edge): the authenticator, the origin policy, connection slots.

Tokens are real (this node's TokenService, signed and verified); connection slots are counted in
this node's memory and, over two nodes, in a real Redis (as the document endpoint counts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import jwt
import pytest

from taskroom.durations import Seconds
from taskroom.edge.authenticator import API_KEY_EXPIRES_AT, AccessTokenVerifier, ApiKeyVerifier, Authenticator
from taskroom.edge.identity import Identity, Refusal, RefusalReason
from taskroom.edge.origins import OriginPolicy
from taskroom.edge.slots import ConnectionSlots, Crowded, Crowding
from taskroom.redis_state import RedisNodeState
from taskroom.security.limit_store import MemoryLimitStore
from taskroom.security.redis_limit_store import RedisLimitStore
from taskroom.security.tokens import TokenService
from taskroom.settings import Settings
from tests.support.redis_keys import drop_keys_async
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis

T = TypeVar("T")
SECRET = "edge-admission-tests-0123456789abcdef"


def run(scenario: Awaitable[T]) -> T:
    async def main() -> T:
        return await scenario

    return asyncio.run(main())


class Accounts:
    """The accounts that exist (the part of the user service the authenticator asks)."""

    def __init__(self, *user_ids: str) -> None:
        self.user_ids = set(user_ids)
        self.asked: list[str] = []

    async def exists(self, user_id: str) -> bool:
        self.asked.append(user_id)
        return user_id in self.user_ids


def tokens() -> TokenService:
    return TokenService(Settings(jwt_secret=SECRET))


def authenticator(accounts: Accounts, service: TokenService | None = None) -> Authenticator:
    return Authenticator([AccessTokenVerifier(service or tokens())], accounts)


def refusal(call: Awaitable[Identity]) -> Refusal:
    with pytest.raises(Refusal) as caught:
        run(call)
    return caught.value


# --- the authenticator -----------------------------------------------------------------------------


def test_a_valid_token_of_an_existing_account_gives_its_identity() -> None:
    service = tokens()
    issued = service.issue("user-1")
    identity = run(authenticator(Accounts("user-1"), service).authenticate(issued.token))
    assert identity.user_id == "user-1"
    assert identity.expires_at == issued.expires_at
    assert identity.token_id  # the jti, for a later session or revocation check
    assert (identity.session_id, identity.key_id) == (None, None)


def test_no_token_is_refused_as_missing() -> None:
    for missing in (None, ""):
        refused = refusal(authenticator(Accounts("user-1")).authenticate(missing))
        assert (refused.reason, str(refused)) == (RefusalReason.MISSING, "missing token")


def test_an_expired_token_is_refused_as_expired() -> None:
    service = tokens()
    expired = service.issue("user-1", ttl_seconds=-10).token
    refused = refusal(authenticator(Accounts("user-1"), service).authenticate(expired))
    assert (refused.reason, str(refused), refused.expired) == (RefusalReason.EXPIRED, "token expired", True)


def test_a_token_signed_with_another_key_is_refused_as_invalid() -> None:
    now = int(time.time())
    claims = {"sub": "user-1", "iat": now, "exp": now + 60, "jti": "x", "iss": "taskroom", "aud": "taskroom"}
    forged = jwt.encode(claims, "another-key-0123456789abcdef-0123456789", algorithm="HS256")
    refused = refusal(authenticator(Accounts("user-1")).authenticate(forged))
    assert refused.reason is RefusalReason.INVALID
    assert str(refused).startswith("invalid token: ")
    assert not refused.expired


def test_a_valid_token_of_a_deleted_account_is_refused() -> None:
    service = tokens()
    token = service.issue("gone").token
    refused = refusal(authenticator(Accounts("user-1"), service).authenticate(token))
    assert (refused.reason, str(refused)) == (
        RefusalReason.ACCOUNT_GONE,
        "invalid token: the account no longer exists",
    )


def test_verify_alone_does_not_ask_for_the_account() -> None:
    service = tokens()
    accounts = Accounts()
    identity = run(authenticator(accounts, service).verify(service.issue("user-1").token))
    assert identity.user_id == "user-1"
    assert accounts.asked == []


class ApiKeys:
    """A second kind of credential, recognised by its prefix (as API keys are)."""

    def __init__(self) -> None:
        self.verified: list[str] = []

    def claims(self, credential: str) -> bool:
        return credential.startswith("trk_")

    async def verify(self, credential: str) -> Identity:
        self.verified.append(credential)
        if credential != "trk_good":
            raise Refusal(RefusalReason.INVALID, "invalid token: unknown API key")
        return Identity("user-1", time.time() + 3600, key_id="key-1")


def test_each_credential_goes_to_the_first_verifier_that_claims_its_shape() -> None:
    service = tokens()
    keys = ApiKeys()
    edge = Authenticator([keys, AccessTokenVerifier(service)], Accounts("user-1"))

    by_key = run(edge.authenticate("trk_good"))
    assert (by_key.user_id, by_key.key_id) == ("user-1", "key-1")
    by_token = run(edge.authenticate(service.issue("user-1").token))
    assert (by_token.user_id, by_token.key_id) == ("user-1", None)
    assert keys.verified == ["trk_good"]  # the JWT never went to the key verifier
    assert str(refusal(edge.authenticate("trk_bad"))) == "invalid token: unknown API key"


class KeyTable:
    """The key store's port (`services/api_keys.py` behind it on a node): a key in force or not."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def holder(self, key: str) -> tuple[str, str] | None:
        self.asked.append(key)
        return ("key-1", "service-1") if key == "trk_live" else None


def test_the_api_key_verifier_claims_its_prefix_and_names_the_key_and_its_service_user() -> None:
    table = KeyTable()
    verifier = ApiKeyVerifier(table)
    assert verifier.claims("trk_live") and not verifier.claims("eyJhbGciOi.x.y")
    assert not verifier.claims("trr_refresh") and not verifier.claims("tri_invite")
    identity = run(verifier.verify("trk_live"))
    assert (identity.user_id, identity.key_id, identity.session_id) == ("service-1", "key-1", None)
    assert identity.expires_at == API_KEY_EXPIRES_AT
    refused = refusal(verifier.verify("trk_deleted"))
    assert refused.reason is RefusalReason.INVALID
    assert table.asked == ["trk_live", "trk_deleted"]


def test_a_credential_no_verifier_claims_is_invalid() -> None:
    edge = Authenticator([ApiKeys()], Accounts("user-1"))
    assert refusal(edge.authenticate("not-a-key")).reason is RefusalReason.INVALID


def test_an_authenticator_needs_a_verifier() -> None:
    with pytest.raises(ValueError):
        Authenticator([], Accounts())


# --- the origin policy -----------------------------------------------------------------------------


def test_without_a_list_every_origin_and_none_is_allowed() -> None:
    policy = OriginPolicy.from_settings(Settings(jwt_secret=SECRET))
    assert all(policy.allows(origin) for origin in (None, "https://any.example", "null"))


def test_with_a_list_only_its_origins_are_allowed_and_a_missing_one_is_not() -> None:
    settings = Settings(jwt_secret=SECRET, ws_allowed_origins="https://app.example/, https://b.example")
    policy = OriginPolicy.from_settings(settings)
    assert policy.allows("https://app.example")
    assert policy.allows("https://app.example/")  # a trailing slash does not count
    assert policy.allows("https://b.example")
    assert not policy.allows(None)  # a browser always sends one; the list says browsers only
    assert not policy.allows("https://evil.example")
    assert not policy.allows("https://app.example.evil.example")
    assert not policy.allows("http://app.example")  # another scheme is another origin


# --- connection slots ------------------------------------------------------------------------------


def test_a_node_holds_at_most_its_limit_of_connections_whoever_they_are() -> None:
    async def scenario() -> None:
        slots = ConnectionSlots(MemoryLimitStore(), "doc-connections", "document", per_node=2, per_user=5)
        first = await slots.open("a")
        await slots.open("b")
        with pytest.raises(Crowded) as crowded:
            await slots.open("c")
        assert crowded.value.crowding is Crowding.NODE
        assert str(crowded.value) == "too many document connections on this node"
        await slots.close(first)
        await slots.open("c")
        assert slots.held == 2

    run(scenario())


def test_a_user_at_the_limit_is_refused_and_others_are_not() -> None:
    async def scenario() -> None:
        store = MemoryLimitStore()
        slots = ConnectionSlots(store, "doc-connections", "document", per_node=10, per_user=1)
        held = await slots.open("a")
        with pytest.raises(Crowded) as crowded:
            await slots.open("a")
        assert crowded.value.crowding is Crowding.USER
        assert str(crowded.value) == "too many document connections of this user"
        await slots.open("b")
        assert await store.slots("doc-connections:a") == 1  # the refused one took no slot
        assert slots.held == 2
        await slots.close(held)
        assert await store.slots("doc-connections:a") == 0

    run(scenario())


@contextlib.asynccontextmanager
async def two_nodes_on_one_redis() -> AsyncIterator[list[RedisLimitStore]]:
    prefix = fresh_prefix()
    states = [RedisNodeState(REDIS_URL, prefix, f"node-{n}", Seconds(0.1)) for n in range(2)]
    try:
        for state in states:
            await state.beat()
        yield [RedisLimitStore(state) for state in states]
    finally:
        for state in states:
            await state.close()
        await drop_keys_async(REDIS_URL, prefix)


def test_a_users_document_connections_are_counted_over_two_nodes_sharing_redis() -> None:
    require_redis()

    async def scenario() -> None:
        async with two_nodes_on_one_redis() as (store_a, store_b):
            make: Callable[[RedisLimitStore], ConnectionSlots] = lambda store: ConnectionSlots(  # noqa: E731
                store, "doc-connections", "document", per_node=100, per_user=2
            )
            node_a, node_b = make(store_a), make(store_b)
            on_a = await node_a.open("user-1")
            await node_b.open("user-1")
            with pytest.raises(Crowded) as crowded:  # the limit is the user's, over both nodes
                await node_a.open("user-1")
            assert crowded.value.crowding is Crowding.USER
            with pytest.raises(Crowded):
                await node_b.open("user-1")
            await node_b.open("user-2")  # another user's slots are their own
            await node_a.close(on_a)  # a slot freed on node A is free for node B
            await node_b.open("user-1")
            # The per-node count is each node's own: node A holds nothing now.
            assert (node_a.held, node_b.held) == (0, 3)

    run(scenario())
