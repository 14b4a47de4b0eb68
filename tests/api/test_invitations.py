"""Invitations by email, for people with or without an account (PROTOCOL §5.4)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from taskroom.db.models import Invitation
from tests.api.test_concurrency import run_in_threads
from tests.realtime.clients import eventually
from tests.support.api import Api, ApiUser
from tests.support.observe import events_of, members_of, workspace_state
from tests.support.processes import NodeProcess
from tests.support.servers import RunningServer

CREATED_FIELDS = {"id", "email", "role", "token", "expiresAt"}
LISTED_FIELDS = {"id", "email", "role", "createdBy", "createdAt", "expiresAt"}
PASSWORD = "correct horse battery"


def new_email(name: str = "invitee") -> str:
    return f"{name}.{uuid.uuid4().hex[:10]}@example.test"


def invite(admin: ApiUser, workspace_id: str, email: str, role: str = "member") -> dict[str, Any]:
    response = admin.post(f"/workspaces/{workspace_id}/invitations", json={"email": email, "role": role})
    assert response.status_code == 201, response.text
    return dict(response.json())


def pending(admin: ApiUser, workspace_id: str) -> list[dict[str, Any]]:
    response = admin.get(f"/workspaces/{workspace_id}/invitations")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def register_as(api: Api, email: str, name: str = "Invitee") -> ApiUser:
    response = api.http.post("/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert response.status_code == 201, response.text
    body = response.json()
    return ApiUser(body["user"]["id"], body["user"]["email"], name, body["accessToken"], api.http)


def accept(user: ApiUser, token: str, **kwargs: Any) -> Any:
    return user.post(f"/invitations/{token}/accept", **kwargs)


def stored_invitation(node: RunningServer, invitation_id: str) -> Invitation:
    async def read() -> Invitation:
        async with node.app_state.services.db.read() as session:
            row: Invitation = await session.get_one(Invitation, invitation_id)
            return row

    return node.call(read)


def expire(node: RunningServer, invitation_id: str) -> None:
    """The invitation's seven days are over (moved into the past, as waiting a week would)."""

    async def move() -> None:
        async with node.app_state.services.db.transaction() as session:
            past = datetime.now(UTC) - timedelta(seconds=1)
            await session.execute(
                update(Invitation).where(Invitation.id == invitation_id).values(expires_at=past)
            )

    node.call(move)


# --- creating and listing ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_an_admin_invites_an_email_without_an_account_and_sees_the_token_once(api: Api, role: str) -> None:
    alice, admin = api.register("Alice"), api.register("Admin")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, admin, "admin")
    email = new_email()
    before = datetime.now(UTC)
    created = invite(admin, workspace_id, email.upper(), role)
    assert set(created) == CREATED_FIELDS
    assert (created["email"], created["role"]) == (email, role)
    assert created["token"].startswith("tri_") and len(created["token"]) >= 40
    expires = datetime.fromisoformat(created["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(days=7) - timedelta(minutes=1) < expires - before < timedelta(days=7, minutes=1)
    [listed] = pending(alice, workspace_id)
    assert set(listed) == LISTED_FIELDS
    assert listed["id"] == created["id"]
    assert (listed["email"], listed["role"], listed["createdBy"]) == (email, role, admin.id)
    assert created["token"] not in str(pending(admin, workspace_id))


def test_the_token_is_stored_only_as_its_sha256(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    created = invite(alice, workspace_id, new_email(), "member")
    row = stored_invitation(node, created["id"])
    assert row.token_hash == hashlib.sha256(created["token"].encode()).hexdigest()

    async def anywhere() -> list[str]:
        # Every text column of every table: the token itself is kept nowhere.
        async with node.app_state.services.db.read() as session:
            found = []
            for table in ("workspace_invitations", "idempotency_keys", "workspace_events"):
                rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
                found += [table for r in rows if created["token"] in " ".join(map(str, r))]
            return found

    assert node.call(anywhere) == []


def test_inviting_again_revokes_the_pending_link_and_lists_one_invitation(api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    first = invite(alice, workspace_id, email, "viewer")
    second = invite(alice, workspace_id, email, "admin")
    assert [(i["id"], i["role"]) for i in pending(alice, workspace_id)] == [(second["id"], "admin")]
    invitee = register_as(api, email)
    assert accept(invitee, first["token"]).json()["error"]["code"] == "GONE"
    assert accept(invitee, second["token"]).json()["member"]["role"] == "admin"


def test_inviting_someone_who_is_a_member_answers_409_and_invites_nobody(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob, "viewer")
    response = alice.post(
        f"/workspaces/{workspace_id}/invitations", json={"email": bob.email.upper(), "role": "admin"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (409, "ALREADY_EXISTS")
    assert pending(alice, workspace_id) == []


BAD_BODIES: list[tuple[dict[str, Any], set[str]]] = [
    ({"email": "someone@example.test", "role": "owner"}, {"role"}),
    ({"email": "someone@example.test", "role": "superuser"}, {"role"}),
    ({"email": "someone@example.test"}, {"role"}),
    ({"email": "not-an-email", "role": "member"}, {"email"}),
    ({"role": "member"}, {"email"}),
    ({"email": "someone@example.test", "role": "member", "token": "mine"}, {"token"}),
]


@pytest.mark.parametrize(
    ("body", "fields"), BAD_BODIES, ids=["owner", "unknown-role", "no-role", "bad-email", "no-email", "extra"]
)
def test_a_bad_invitation_body_answers_422_and_invites_nobody(
    api: Api, body: dict[str, Any], fields: set[str]
) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    before = workspace_state(alice, workspace_id)
    response = alice.post(f"/workspaces/{workspace_id}/invitations", json=body)
    assert response.status_code == 422
    assert {entry["field"] for entry in response.json()["error"]["fields"]} == fields
    assert pending(alice, workspace_id) == []
    assert workspace_state(alice, workspace_id) == before


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_below_admin_nobody_invites_lists_or_revokes(api: Api, role: str) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    alice.add_member(workspace_id, bob, role)
    created = invite(alice, workspace_id, new_email())
    path = f"/workspaces/{workspace_id}/invitations"
    answers = [
        bob.post(path, json={"email": new_email(), "role": "viewer"}),
        bob.get(path),
        bob.delete(f"{path}/{created['id']}"),
    ]
    assert [(r.status_code, r.json()["error"]["code"]) for r in answers] == [(403, "FORBIDDEN")] * 3
    assert [i["id"] for i in pending(alice, workspace_id)] == [created["id"]]


def test_a_non_member_gets_404_for_every_invitation_route(api: Api) -> None:
    alice, mallory = api.register("Alice"), api.register("Mallory")
    workspace_id = alice.create_workspace()["id"]
    created = invite(alice, workspace_id, new_email())
    path = f"/workspaces/{workspace_id}/invitations"
    answers = [
        mallory.post(path, json={"email": new_email(), "role": "viewer"}),
        mallory.get(path),
        mallory.delete(f"{path}/{created['id']}"),
    ]
    assert [r.status_code for r in answers] == [404, 404, 404]
    assert [i["id"] for i in pending(alice, workspace_id)] == [created["id"]]


def test_one_workspace_never_sees_or_revokes_another_workspaces_invitation(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    alices = alice.create_workspace("Alice's")["id"]
    bobs = bob.create_workspace("Bob's")["id"]
    email = new_email()
    created = invite(alice, alices, email)
    invite(bob, bobs, new_email())
    assert [i["id"] for i in pending(bob, bobs)] != [created["id"]]
    assert created["id"] not in [i["id"] for i in pending(bob, bobs)]
    response = bob.delete(f"/workspaces/{bobs}/invitations/{created['id']}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "NOT_FOUND")
    assert [i["id"] for i in pending(alice, alices)] == [created["id"]]
    assert accept(register_as(api, email), created["token"]).status_code == 200


# --- revoking ----------------------------------------------------------------------------------


def test_a_revoked_invitation_leaves_the_list_and_its_link_answers_410(api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    created = invite(alice, workspace_id, email)
    response = alice.delete(f"/workspaces/{workspace_id}/invitations/{created['id']}")
    assert response.status_code == 204
    assert pending(alice, workspace_id) == []
    again = alice.delete(f"/workspaces/{workspace_id}/invitations/{created['id']}")
    assert again.status_code == 404
    invitee = register_as(api, email)
    refused = accept(invitee, created["token"])
    assert (refused.status_code, refused.json()["error"]["code"]) == (410, "GONE")
    assert invitee.get(f"/workspaces/{workspace_id}").status_code == 404


# --- accepting ---------------------------------------------------------------------------------


def test_a_person_without_an_account_signs_up_and_accepts(api: Api) -> None:
    alice = api.register("Alice")
    workspace = alice.create_workspace("Launch")
    email = new_email()
    created = invite(alice, workspace["id"], email, "viewer")
    invitee = register_as(api, email.upper())  # the same address in another case
    response = accept(invitee, created["token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"workspace", "member"}
    assert (body["workspace"]["id"], body["workspace"]["name"], body["workspace"]["role"]) == (
        workspace["id"],
        "Launch",
        "viewer",
    )
    assert (body["member"]["userId"], body["member"]["email"], body["member"]["role"]) == (
        invitee.id,
        email,
        "viewer",
    )
    assert body["member"] in members_of(alice, workspace["id"])
    assert invitee.get(f"/workspaces/{workspace['id']}").json() == body["workspace"]
    assert pending(alice, workspace["id"]) == []


def test_accepting_logs_one_member_added_event_by_the_one_who_joined(api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    created = invite(alice, workspace_id, email)
    invitee = register_as(api, email)
    body = accept(invitee, created["token"]).json()
    [event] = events_of(alice, workspace_id)
    assert event["type"] == "WORKSPACE_MEMBER_ADDED"
    assert event["data"] == {"workspaceId": workspace_id, "member": body["member"], "actorId": invitee.id}
    assert body["workspace"]["seq"] == event["seq"]


def test_an_existing_account_accepts_too(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    created = invite(alice, workspace_id, bob.email, "admin")
    assert accept(bob, created["token"]).json()["member"]["role"] == "admin"
    assert bob.get(f"/workspaces/{workspace_id}").json()["role"] == "admin"


def test_another_account_cannot_accept_and_the_invitation_stays_usable(api: Api) -> None:
    alice, mallory = api.register("Alice"), api.register("Mallory")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    created = invite(alice, workspace_id, email)
    before = workspace_state(alice, workspace_id)
    response = accept(mallory, created["token"])
    assert (response.status_code, response.json()["error"]["code"]) == (403, "FORBIDDEN")
    assert email not in response.text  # the invited address is not told to whoever holds the link
    assert workspace_state(alice, workspace_id) == before
    assert mallory.get(f"/workspaces/{workspace_id}").status_code == 404
    assert accept(register_as(api, email), created["token"]).status_code == 200


def test_an_accepted_invitation_answers_410_the_second_time(api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    created = invite(alice, workspace_id, email)
    invitee = register_as(api, email)
    assert accept(invitee, created["token"]).status_code == 200
    before = workspace_state(alice, workspace_id)
    again = accept(invitee, created["token"])
    assert (again.status_code, again.json()["error"]["code"]) == (410, "GONE")
    assert workspace_state(alice, workspace_id) == before


def test_an_expired_invitation_answers_410_and_is_no_longer_listed(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    created = invite(alice, workspace_id, email)
    expire(node, created["id"])
    assert pending(alice, workspace_id) == []
    invitee = register_as(api, email)
    response = accept(invitee, created["token"])
    assert (response.status_code, response.json()["error"]["code"]) == (410, "GONE")
    assert invitee.get(f"/workspaces/{workspace_id}").status_code == 404


def test_an_unknown_token_answers_404(api: Api) -> None:
    bob = api.register("Bob")
    for token in ("tri_" + "A" * 43, "nonsense", "%00"):
        response = accept(bob, token)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "NOT_FOUND"), token


def test_accepting_needs_a_signed_in_caller(api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    created = invite(alice, workspace_id, email)
    response = api.http.post(f"/invitations/{created['token']}/accept")
    assert response.status_code == 401
    assert accept(register_as(api, email), created["token"]).status_code == 200


def test_a_member_already_accepting_keeps_their_role_and_nothing_is_logged(api: Api) -> None:
    alice, bob = api.register("Alice"), api.register("Bob")
    workspace_id = alice.create_workspace()["id"]
    created = invite(alice, workspace_id, bob.email, "admin")
    alice.add_member(workspace_id, bob, "viewer")  # added directly meanwhile
    before = workspace_state(alice, workspace_id)
    response = accept(bob, created["token"])
    assert response.status_code == 200
    assert (response.json()["member"]["role"], response.json()["workspace"]["role"]) == ("viewer", "viewer")
    assert workspace_state(alice, workspace_id) == before
    assert pending(alice, workspace_id) == []  # the invitation is used
    assert accept(bob, created["token"]).status_code == 410


def test_racing_accepts_of_one_link_add_the_member_once(api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    created = invite(alice, workspace_id, email)
    invitee = register_as(api, email)
    tabs = [invitee.on_own_connection() for _ in range(4)]
    statuses: list[int] = []
    try:
        run_in_threads(4, lambda i: statuses.append(accept(tabs[i], created["token"]).status_code))
    finally:
        for tab in tabs:
            tab.http.close()
    assert sorted(statuses) == [200, 410, 410, 410]
    assert [e["type"] for e in events_of(alice, workspace_id)] == ["WORKSPACE_MEMBER_ADDED"]
    assert [m["userId"] for m in members_of(alice, workspace_id)] == [alice.id, invitee.id]


# --- retries -------------------------------------------------------------------------------------


def test_a_retried_accept_with_its_key_answers_the_same_and_adds_once(api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    created = invite(alice, workspace_id, email)
    invitee = register_as(api, email)
    headers = {"Idempotency-Key": "accept-1"}
    first, second = (accept(invitee, created["token"], headers=headers) for _ in range(2))
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert [e["type"] for e in events_of(alice, workspace_id)] == ["WORKSPACE_MEMBER_ADDED"]


def test_a_retried_creation_answers_a_fresh_token_and_the_first_one_stops_working(api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    path = f"/workspaces/{workspace_id}/invitations"
    headers = {"Idempotency-Key": "invite-1"}
    first = alice.post(path, json={"email": email, "role": "member"}, headers=headers)
    second = alice.post(path, json={"role": "member", "email": email}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert set(second.json()) == CREATED_FIELDS
    assert second.json()["token"] != first.json()["token"]
    assert [i["id"] for i in pending(alice, workspace_id)] == [second.json()["id"]]
    reused = alice.post(path, json={"email": new_email(), "role": "member"}, headers=headers)
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    invitee = register_as(api, email)
    assert accept(invitee, first.json()["token"]).status_code == 410
    assert accept(invitee, second.json()["token"]).status_code == 200


def test_deleting_the_workspace_takes_its_invitations_along(node: RunningServer, api: Api) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    email = new_email()
    created = invite(alice, workspace_id, email)
    assert alice.delete(f"/workspaces/{workspace_id}").status_code == 204

    async def rows() -> int:
        async with node.app_state.services.db.read() as session:
            found = await session.scalars(select(Invitation.id).where(Invitation.id == created["id"]))
            return len(found.all())

    assert node.call(rows) == 0
    assert accept(register_as(api, email), created["token"]).status_code == 404


# --- logs ----------------------------------------------------------------------------------------


def test_no_invitation_token_reaches_the_nodes_log(
    backend: str, database_factory: Callable[[str], str]
) -> None:
    node = NodeProcess(database_factory(backend), log_level="info")
    api = Api(node.api)
    try:
        alice = api.register("Alice")
        workspace_id = alice.create_workspace()["id"]
        email = new_email()
        created = invite(alice, workspace_id, email)
        invitee = register_as(api, email)
        tokens = [created["token"], "tri_" + "B" * 43]
        assert accept(invitee, created["token"]).status_code == 200
        assert accept(invitee, created["token"]).status_code == 410
        assert accept(invitee, tokens[1]).status_code == 404
        assert api.http.post(f"/invitations/{created['token']}/accept").status_code == 401
        # The access lines of all four requests are there, with the token cut out.
        eventually(lambda: node.log_text().count("/api/v1/invitations/[redacted]/accept") >= 4)
        log = node.log_text()
        assert all(token not in log for token in tokens), log[-3000:]
        assert tokens[0][4:] not in log
    finally:
        api.close()
        node.stop()
