"""Accepting an invitation acts on open sockets as adding a member does (PROTOCOL §3.2, §5.4)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx

from tests.realtime.clients import joined, of_type, read_events_until, seqs
from tests.support.api import Api, ApiUser
from tests.support.redis_service import REDIS_URL, fresh_prefix, require_redis
from tests.support.servers import RunningServer, start_server

# What crosses between the cluster's nodes here crosses through Redis, not the log poll.
NO_LOG_POLL = 600_000


def sign_up(http: httpx.Client, email: str, name: str) -> ApiUser:
    response = http.post(
        "/auth/register", json={"email": email, "password": "correct horse battery", "name": name}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return ApiUser(body["user"]["id"], email, name, body["accessToken"], http)


def invitation_token(admin: ApiUser, workspace_id: str, email: str, role: str = "member") -> str:
    response = admin.post(f"/workspaces/{workspace_id}/invitations", json={"email": email, "role": role})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def test_members_sockets_receive_the_new_member_and_the_joiners_socket_joins_at_once(
    node: RunningServer, api: Api
) -> None:
    alice = api.register("Alice")
    workspace_id = alice.create_workspace()["id"]
    alice.create_task(workspace_id, "Before")  # seq 1
    email = f"newcomer.{uuid.uuid4().hex[:10]}@example.test"
    token = invitation_token(alice, workspace_id, email)
    newcomer = sign_up(api.http, email, "Newcomer")
    with joined(node, alice, expect=1) as owner, joined(node, newcomer, expect=0) as tab:
        accepted = newcomer.post(f"/invitations/{token}/accept")
        assert accepted.status_code == 200, accepted.text
        member = accepted.json()["member"]
        expected = {"workspaceId": workspace_id, "member": member, "actorId": newcomer.id}
        for client in (owner, tab):
            [added] = read_events_until(client, workspace_id, last_seq=2, timeout=10)
            assert (added["type"], added["seq"], added["data"]) == ("WORKSPACE_MEMBER_ADDED", 2, expected)
        assert tab.recv_type("PRESENCE_STATE")["data"]["workspaceId"] == workspace_id
        task = alice.create_task(workspace_id, "After")  # seq 3
        [later] = read_events_until(tab, workspace_id, last_seq=3, timeout=10)
        assert (later["type"], later["data"]["task"]) == ("TASK_CREATED", task)
        assert of_type(tab.received, "ERROR") == []
        assert seqs(frame for frame in tab.received if "seq" in frame) == [2, 3]


def test_an_invitation_accepted_on_one_node_reaches_sockets_on_the_others(
    database_factory: Callable[[str], str],
) -> None:
    require_redis()
    database_url = database_factory("postgres")
    prefix = fresh_prefix()
    a, b, c = (
        start_server(database_url, redis_url=REDIS_URL, redis_prefix=prefix, ws_log_poll_interval=NO_LOG_POLL)
        for _ in range(3)
    )
    api_a, http_b = Api(a.api), httpx.Client(base_url=b.api, timeout=30)
    try:
        alice = api_a.register("Alice")
        workspace_id = alice.create_workspace()["id"]
        email = f"newcomer.{uuid.uuid4().hex[:10]}@example.test"
        token = invitation_token(alice, workspace_id, email, "viewer")
        newcomer = sign_up(http_b, email, "Newcomer")
        with joined(a, alice, expect=1) as owner_on_a, joined(c, newcomer, expect=0) as newcomer_on_c:
            accepted = newcomer.post(f"/invitations/{token}/accept")  # on node b
            assert accepted.status_code == 200, accepted.text
            for client in (owner_on_a, newcomer_on_c):
                [added] = read_events_until(client, workspace_id, last_seq=1, timeout=10)
                assert (added["type"], added["data"]["member"]["userId"]) == (
                    "WORKSPACE_MEMBER_ADDED",
                    newcomer.id,
                )
            alice.create_task(workspace_id, "For everyone")  # seq 2, on node a
            [task_event] = read_events_until(newcomer_on_c, workspace_id, last_seq=2, timeout=10)
            assert task_event["type"] == "TASK_CREATED"
    finally:
        api_a.close()
        http_b.close()
        for server in (a, b, c):
            server.stop()
