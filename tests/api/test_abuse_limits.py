"""Limits that keep the REST API from being used to lock people out, burn CPU or enumerate accounts.

Registrations are limited per client address, failed logins per (account, address) with a looser
ceiling per account, member additions per acting user; each refusal is 429 `RATE_LIMITED` with
`Retry-After`. Client addresses are set with `X-Forwarded-For`, which a node trusts from 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer

PASSWORD = "correct horse battery"


def fresh_email() -> str:
    return f"user.{uuid.uuid4().hex[:10]}@example.test"


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def register(http: httpx.Client, email: str, address: str = "10.0.0.1") -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "name": "Ann"}
    return http.post("/auth/register", json=body, headers=from_address(address))


def login(http: httpx.Client, email: str, address: str, password: str = PASSWORD) -> httpx.Response:
    return http.post(
        "/auth/login", json={"email": email, "password": password}, headers=from_address(address)
    )


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) >= 1


# --- registration -------------------------------------------------------------------------------


def test_registrations_from_one_address_are_limited_and_other_addresses_are_not(
    private_http: Callable[..., httpx.Client],
) -> None:
    http = private_http(register_max_per_client=3)
    taken = fresh_email()
    assert register(http, taken).status_code == 201
    assert register(http, taken).status_code == 409  # attempts count, taken emails included
    assert register(http, fresh_email()).status_code == 201
    refused_email = fresh_email()
    refused = register(http, refused_email)
    assert_rate_limited(refused)
    assert login(http, refused_email, "10.0.0.9").status_code == 401  # nothing was created
    assert register(http, fresh_email(), address="10.0.0.2").status_code == 201


def test_a_taken_email_is_refused_without_hashing_a_password(
    node_factory: Callable[..., RunningServer],
) -> None:
    node = node_factory()
    passwords = node.app_state.services.users.passwords
    hashed: list[str] = []
    original = passwords.hash

    async def counting_hash(password: str) -> str:
        hashed.append(password)
        return str(await original(password))

    passwords.hash = counting_hash
    with httpx.Client(base_url=node.api, timeout=30) as http:
        email = fresh_email()
        assert register(http, email).status_code == 201
        assert len(hashed) == 1
        again = register(http, email)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "ALREADY_EXISTS"
        assert len(hashed) == 1


class SlowTrackedHasher:
    """Wraps the node's argon2 hasher: each hash takes a while, and the most running at once is kept."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def _tracked(self, call: Callable[[], Any]) -> Any:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(0.15)
            return call()
        finally:
            with self.lock:
                self.running -= 1

    def hash(self, password: str) -> str:
        return str(self._tracked(lambda: self.inner.hash(password)))

    def verify(self, password_hash: str, password: str) -> bool:
        return bool(self._tracked(lambda: self.inner.verify(password_hash, password)))


def test_at_most_two_passwords_are_hashed_at_once_and_the_others_wait(
    node_factory: Callable[..., RunningServer],
) -> None:
    node = node_factory()
    passwords = node.app_state.services.users.passwords
    tracked = SlowTrackedHasher(passwords._hasher)
    passwords._hasher = tracked
    answers: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def one(n: int) -> None:
        with httpx.Client(base_url=node.api, timeout=60) as http:
            start.wait()
            if n % 2:
                status = register(http, fresh_email()).status_code
            else:
                status = login(http, fresh_email(), f"10.9.0.{n}").status_code
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == [201] * 4 + [401] * 4
    assert tracked.peak == 2


# --- login --------------------------------------------------------------------------------------


def test_failures_from_one_address_do_not_lock_the_owner_out_from_another(
    private_http: Callable[..., httpx.Client],
) -> None:
    http = private_http(login_max_failures=3)
    victim = fresh_email()
    assert register(http, victim).status_code == 201
    for _ in range(3):
        assert login(http, victim, "203.0.113.7", password="guess").status_code == 401
    # The guessing address is stopped, even with the right password...
    assert_rate_limited(login(http, victim, "203.0.113.7"))
    # ...and the owner, from their own address, is not.
    assert login(http, victim, "198.51.100.1").status_code == 200
    assert login(http, victim, "198.51.100.1", password="typo").status_code == 401
    assert login(http, victim, "198.51.100.1").status_code == 200


def test_guessing_spread_over_many_addresses_meets_the_per_account_ceiling(
    private_http: Callable[..., httpx.Client],
) -> None:
    http = private_http(login_max_failures=5)
    victim, bystander = fresh_email(), fresh_email()
    assert register(http, victim).status_code == 201
    assert register(http, bystander).status_code == 201
    failures = 0
    address = 0
    while True:
        response = login(http, victim, f"192.0.2.{address // 5}", password=f"guess-{failures}")
        if response.status_code == 429:
            break
        assert response.status_code == 401
        failures += 1
        address += 1
        assert failures <= 1000, "no per-account ceiling"
    assert failures >= 5 * 10  # far looser than the per-address limit
    assert_rate_limited(login(http, victim, "192.0.2.250"))
    assert login(http, bystander, "192.0.2.250").status_code == 200


def test_concurrent_guesses_cannot_all_slip_past_the_limit(
    private_http: Callable[..., httpx.Client],
) -> None:
    http = private_http(login_max_failures=3)
    victim = fresh_email()
    assert register(http, victim).status_code == 201
    answers: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def guess(n: int) -> None:
        with httpx.Client(base_url=http.base_url, timeout=60) as own:
            start.wait()
            status = login(own, victim, "203.0.113.9", password=f"guess-{n}").status_code
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == [401] * 3 + [429] * 9


# --- members ------------------------------------------------------------------------------------


def test_adding_members_is_limited_per_acting_user(private_http: Callable[..., httpx.Client]) -> None:
    http = private_http(member_add_max_per_minute=3)
    api = Api(str(http.base_url))
    try:
        owner, other_admin = api.register("Owner"), api.register("Admin")
        wid = owner.create_workspace()["id"]
        owner.add_member(wid, other_admin, "admin")  # 1
        path = f"/workspaces/{wid}/members"
        assert owner.post(path, json={"email": fresh_email(), "role": "member"}).status_code == 404  # 2
        assert owner.post(path, json={"email": fresh_email(), "role": "member"}).status_code == 404  # 3
        refused = owner.post(path, json={"email": api.register("Late").email, "role": "member"})
        assert_rate_limited(refused)
        # Another user has an allowance of their own.
        someone: ApiUser = api.register("Someone")
        assert other_admin.post(path, json={"email": someone.email, "role": "viewer"}).status_code == 201
        assert [m["email"] for m in owner.get(path).json()["items"]].count(someone.email) == 1
    finally:
        api.close()
