"""The key cache of the app's identity provider against a real JWKS on a loopback HTTP port.

Only the clock is the test's: the 30 s bound is shown by moving it, not by waiting.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import pytest

from taskroom.edge.jwks import JwksKeys, KeyUnavailable, parse_key_set
from tests.support.identity_provider import KeySetServer, SigningKey, key_set_server, new_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rsa_key() -> SigningKey:
    return new_key("RS256")


@pytest.fixture
def idp(rsa_key: SigningKey) -> Iterator[KeySetServer]:
    with key_set_server(rsa_key) as server:
        yield server


def test_keys_are_fetched_on_first_need_and_then_served_from_the_cache(
    idp: KeySetServer, rsa_key: SigningKey
) -> None:
    async def run() -> None:
        keys = JwksKeys(idp.url)
        assert idp.count() == 0
        for _ in range(5):
            key = await keys.key(rsa_key.kid)
            assert key.algorithm_name == "RS256"
        assert idp.count() == 1

    asyncio.run(run())


def test_a_rotated_key_is_found_by_the_next_refetch_and_not_before_30_seconds(
    idp: KeySetServer, rsa_key: SigningKey
) -> None:
    async def run() -> None:
        clock = Clock()
        keys = JwksKeys(idp.url, clock=clock)
        await keys.key(rsa_key.kid)
        rotated = new_key("ES256")
        idp.replace(rotated)
        clock.now += 29
        with pytest.raises(KeyUnavailable, match="no key of the identity provider has its kid"):
            await keys.key(rotated.kid)
        assert idp.count() == 1  # within 30 s of the last fetch: none
        clock.now += 1
        assert (await keys.key(rotated.kid)).algorithm_name == "ES256"
        assert idp.count() == 2
        with pytest.raises(KeyUnavailable):
            await keys.key(rsa_key.kid)  # withdrawn from the set: no longer trusted

    asyncio.run(run())


def test_concurrent_unknown_kids_share_one_fetch_and_a_flood_makes_one_per_30_seconds(
    idp: KeySetServer, rsa_key: SigningKey
) -> None:
    async def run() -> None:
        clock = Clock()
        keys = JwksKeys(idp.url, clock=clock)
        results = await asyncio.gather(
            *(keys.key(f"forged-{n}") for n in range(50)), keys.key(rsa_key.kid), return_exceptions=True
        )
        assert idp.count() == 1
        assert all(isinstance(result, KeyUnavailable) for result in results[:-1])
        assert not isinstance(results[-1], BaseException)
        for second in range(0, 90, 3):
            clock.now = 1000.0 + second
            for n in range(10):
                with pytest.raises(KeyUnavailable):
                    await keys.key(f"forged-{second}-{n}")
        # Fetches at 0 s (the first), 30 s and 60 s: one per 30 s whatever the flood.
        assert idp.count() == 3

    asyncio.run(run())


def test_while_the_url_is_down_cached_keys_keep_working(idp: KeySetServer, rsa_key: SigningKey) -> None:
    async def run() -> None:
        clock = Clock()
        keys = JwksKeys(idp.url, clock=clock, max_age=60)
        await keys.key(rsa_key.kid)
        idp.down = True
        clock.now += 61  # past the bound and the age: the next need tries the URL
        with pytest.raises(KeyUnavailable, match="no key of the identity provider has its kid"):
            await keys.key("unknown")
        assert idp.count() == 2
        assert (await keys.key(rsa_key.kid)).key_id == rsa_key.kid

    asyncio.run(run())


def test_with_no_key_cached_an_unreachable_url_is_a_clear_refusal() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def run() -> None:
        keys = JwksKeys(f"http://127.0.0.1:{port}/jwks.json", timeout=2)
        with pytest.raises(KeyUnavailable, match="keys cannot be fetched"):
            await keys.key("any")

    asyncio.run(run())


def test_old_keys_are_refreshed_in_the_background_so_a_withdrawn_key_stops_working(
    idp: KeySetServer, rsa_key: SigningKey
) -> None:
    async def run() -> None:
        clock = Clock()
        keys = JwksKeys(idp.url, clock=clock, max_age=300)
        await keys.key(rsa_key.kid)
        successor = new_key("EdDSA")
        idp.replace(successor)
        clock.now += 300
        await keys.key(rsa_key.kid)  # answered from the cache; the refresh starts beside it
        withdrawn = False
        for _ in range(250):  # until the refresh lands (the clock stands still: no other fetch)
            try:
                await keys.key(rsa_key.kid)
            except KeyUnavailable:
                withdrawn = True
                break
            await asyncio.sleep(0.02)
        assert withdrawn
        assert (await keys.key(successor.kid)).algorithm_name == "EdDSA"
        assert idp.count() == 2

    asyncio.run(run())


def test_a_key_set_larger_than_the_bound_is_refused(idp: KeySetServer, rsa_key: SigningKey) -> None:
    async def run() -> None:
        keys = JwksKeys(idp.url, max_bytes=200)
        with pytest.raises(KeyUnavailable, match="larger than 200 bytes"):
            await keys.key(rsa_key.kid)

    asyncio.run(run())


def test_each_key_is_pinned_to_its_type_s_algorithm() -> None:
    rsa, ec, ed = new_key("RS256"), new_key("ES256"), new_key("EdDSA")
    as_rs512 = {**new_key("RS256").public_jwk, "alg": "RS512"}
    as_hmac = {**new_key("RS256").public_jwk, "alg": "HS256"}
    secret = {"kty": "oct", "kid": "shared", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}
    encryption = {**new_key("RS256").public_jwk, "use": "enc"}
    no_kid = {name: value for name, value in new_key("ES256").public_jwk.items() if name != "kid"}
    body = json.dumps(
        {
            "keys": [
                rsa.public_jwk,
                ec.public_jwk,
                ed.public_jwk,
                as_rs512,
                as_hmac,
                secret,
                encryption,
                no_kid,
            ]
        }
    ).encode()
    parsed = parse_key_set(body)
    assert {kid: key.algorithm_name for kid, key in parsed.items()} == {
        rsa.kid: "RS256",
        ec.kid: "ES256",
        ed.kid: "EdDSA",
    }
    with pytest.raises(ValueError, match="no usable signing key"):
        parse_key_set(json.dumps({"keys": [secret]}).encode())
    with pytest.raises(ValueError, match="not JSON"):
        parse_key_set(b"<html>")


def test_the_verifier_claims_the_provider_s_tokens_by_their_header_or_issuer_and_leaves_ours() -> None:
    from taskroom.edge.jwks import JwksVerifier
    from tests.support.identity_provider import ISSUER, claims
    from tests.support.tokens import claims_for, signed, unsigned

    class NoAccounts:
        async def user_for(self, issuer: str, subject: str, email: str | None, name: str | None) -> str:
            raise AssertionError("claims() must not look anything up")

    # A URL nothing serves: claims() must not fetch either.
    verifier = JwksVerifier(JwksKeys("http://127.0.0.1:9/jwks.json"), ISSUER, "app", NoAccounts())
    key = new_key("ES256")
    assert verifier.claims(key.sign(claims()))
    assert verifier.claims(key.sign(claims(iss="https://other.test/")))  # refused later, by its iss
    assert verifier.claims(unsigned(claims()))  # our issuer, any algorithm: refused later, not passed on
    assert not verifier.claims(signed(claims_for("user-1")))  # this node's own HS256 token
    assert not verifier.claims(unsigned(claims_for("user-1")))
    assert not verifier.claims("not-a-jwt")
    assert not verifier.claims("abc.def.ghi")
