"""API keys for back-ends (PROTOCOL §5.3), over REST on a real node of each backend.

A key is created by an admin, shown once, listed by its prefix only, and acts as its own
service user: a member of its one workspace with the key's role. Deleting it refuses it at once
and takes its member out of the workspace. The sockets side is in
tests/realtime/test_api_key_revocation.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support.api import Api, ApiUser
from tests.support.processes import NodeProcess
from tests.support.servers import RunningServer


def create_key(admin: ApiUser, workspace_id: str, role: str = "member", name: str = "Sync") -> dict[str, Any]:
    answer = admin.post(f"/workspaces/{workspace_id}/api-keys", json={"name": name, "role": role})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def as_key(api: Api, key: dict[str, Any], user_id: str = "") -> ApiUser:
    """A client that sends the key as its bearer token."""
    return ApiUser(user_id, "", key["name"], key["key"], api.http)


def service_member(admin: ApiUser, workspace_id: str) -> dict[str, Any]:
    members = admin.get(f"/workspaces/{workspace_id}/members").json()["items"]
    services = [m for m in members if m["kind"] == "service"]
    assert len(services) == 1, members
    return dict(services[0])


def test_a_key_is_shown_once_listed_by_its_prefix_and_deleted(api: Api) -> None:
    owner = api.register("Owner")
    workspace = owner.create_workspace()
    created = create_key(owner, workspace["id"], "viewer", "Billing sync")
    assert set(created) == {"id", "name", "role", "key", "createdAt", "createdBy"}
    assert created["key"].startswith("trk_") and len(created["key"]) >= 4 + 22  # >= 128 bits
    assert (created["name"], created["role"], created["createdBy"]) == ("Billing sync", "viewer", owner.id)

    listed = owner.get(f"/workspaces/{workspace['id']}/api-keys")
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert set(item) == {"id", "name", "role", "prefix", "createdAt", "createdBy", "lastUsedAt"}
    assert item["id"] == created["id"] and item["lastUsedAt"] is None
    assert created["key"].startswith(item["prefix"]) and len(item["prefix"]) < len(created["key"]) // 2
    assert created["key"] not in listed.text

    member = service_member(owner, workspace["id"])
    assert (member["name"], member["role"], member["kind"]) == ("Billing sync", "viewer", "service")
    kinds = {
        m["userId"]: m["kind"] for m in owner.get(f"/workspaces/{workspace['id']}/members").json()["items"]
    }
    assert kinds == {owner.id: "person", member["userId"]: "service"}

    assert owner.delete(f"/workspaces/{workspace['id']}/api-keys/{created['id']}").status_code == 204
    assert owner.get(f"/workspaces/{workspace['id']}/api-keys").json()["items"] == []
    members = owner.get(f"/workspaces/{workspace['id']}/members").json()["items"]
    assert [m["userId"] for m in members] == [owner.id]
    again = owner.delete(f"/workspaces/{workspace['id']}/api-keys/{created['id']}")
    assert again.status_code == 404

    events = owner.get(f"/workspaces/{workspace['id']}/events?since=0").json()["events"]
    added, removed = events[-2], events[-1]
    assert added["type"] == "WORKSPACE_MEMBER_ADDED" and added["data"]["member"]["kind"] == "service"
    assert added["data"]["member"]["userId"] == member["userId"] and added["data"]["actorId"] == owner.id
    assert removed["type"] == "WORKSPACE_MEMBER_REMOVED"
    assert (removed["data"]["userId"], removed["data"]["actorId"]) == (member["userId"], owner.id)


def test_a_key_acts_as_its_service_user_in_its_one_workspace(api: Api) -> None:
    owner = api.register("Owner")
    workspace = owner.create_workspace()
    other = owner.create_workspace("Other")
    other_task = owner.create_task(other["id"])
    key = create_key(owner, workspace["id"], "member")
    service_id = service_member(owner, workspace["id"])["userId"]
    backend = as_key(api, key, service_id)

    assert backend.get("/auth/me").json()["id"] == service_id
    seen = backend.get("/workspaces").json()["items"]
    assert [(w["id"], w["role"]) for w in seen] == [(workspace["id"], "member")]
    task = backend.create_task(workspace["id"], "From the back-end")
    assert task["createdBy"] == service_id
    events = owner.get(f"/workspaces/{workspace['id']}/events?since=0").json()["events"]
    assert events[-1]["type"] == "TASK_CREATED" and events[-1]["data"]["actorId"] == service_id

    # Every other workspace, and what is in it, answers 404 as if it did not exist.
    assert backend.get(f"/workspaces/{other['id']}").status_code == 404
    assert backend.get(f"/tasks/{other_task['id']}").status_code == 404
    assert backend.post(f"/workspaces/{other['id']}/tasks", json={"title": "x"}).status_code == 404
    # A member's rights, no more: no keys of its own, no workspaces of its own.
    assert (
        backend.post(
            f"/workspaces/{workspace['id']}/api-keys", json={"name": "n", "role": "viewer"}
        ).status_code
        == 403
    )
    created = backend.post("/workspaces", json={"name": "Mine"})
    assert created.status_code == 403, created.text

    listed = owner.get(f"/workspaces/{workspace['id']}/api-keys").json()["items"]
    assert listed[0]["lastUsedAt"] is not None


def test_a_viewer_key_reads_and_cannot_write(api: Api) -> None:
    owner = api.register("Owner")
    workspace = owner.create_workspace()
    task = owner.create_task(workspace["id"])
    backend = as_key(api, create_key(owner, workspace["id"], "viewer"))
    assert backend.get(f"/workspaces/{workspace['id']}/tasks").json()["items"][0]["id"] == task["id"]
    assert backend.post(f"/workspaces/{workspace['id']}/tasks", json={"title": "x"}).status_code == 403
    assert backend.patch(f"/tasks/{task['id']}", json={"title": "y"}).status_code == 403
    assert backend.delete(f"/tasks/{task['id']}").status_code == 403
    assert owner.get(f"/tasks/{task['id']}").json()["title"] == task["title"]


def test_a_deleted_key_is_refused_at_once(api: Api) -> None:
    owner = api.register("Owner")
    workspace = owner.create_workspace()
    key = create_key(owner, workspace["id"])
    backend = as_key(api, key)
    assert backend.get(f"/workspaces/{workspace['id']}").status_code == 200
    assert owner.delete(f"/workspaces/{workspace['id']}/api-keys/{key['id']}").status_code == 204
    refused = backend.get(f"/workspaces/{workspace['id']}")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
    assert as_key(api, {**key, "key": key["key"] + "x"}).get("/auth/me").status_code == 401


def test_only_admins_create_list_and_delete_keys_and_never_as_owner(api: Api) -> None:
    owner, admin, member = api.register("Owner"), api.register("Admin"), api.register("Member")
    workspace = owner.create_workspace()
    owner.add_member(workspace["id"], admin, "admin")
    owner.add_member(workspace["id"], member, "member")
    path = f"/workspaces/{workspace['id']}/api-keys"
    key = create_key(admin, workspace["id"], "admin")
    assert member.post(path, json={"name": "n", "role": "viewer"}).status_code == 403
    assert member.get(path).status_code == 403
    assert member.delete(f"{path}/{key['id']}").status_code == 403
    owner_role = admin.post(path, json={"name": "n", "role": "owner"})
    assert owner_role.status_code == 422
    # The key's member changes only with its key.
    service_id = service_member(owner, workspace["id"])["userId"]
    members = f"/workspaces/{workspace['id']}/members/{service_id}"
    assert owner.patch(members, json={"role": "viewer"}).status_code == 403
    assert owner.delete(members).status_code == 403
    assert as_key(api, key).delete(members).status_code == 403
    assert owner.delete(f"{path}/{key['id']}").status_code == 204


def test_a_service_user_cannot_log_in_or_be_added_elsewhere(api: Api) -> None:
    owner = api.register("Owner")
    workspace = owner.create_workspace()
    other = owner.create_workspace("Other")
    create_key(owner, workspace["id"])
    email = service_member(owner, workspace["id"])["email"]
    for password in ["", "!api-key", "correct horse battery"]:
        login = api.http.post("/auth/login", json={"email": email, "password": password})
        assert login.status_code in (401, 422), login.text
    added = owner.post(f"/workspaces/{other['id']}/members", json={"email": email, "role": "member"})
    assert added.status_code == 404


def test_a_replayed_creation_issues_a_fresh_key_for_the_same_record(api: Api) -> None:
    owner = api.register("Owner")
    workspace = owner.create_workspace()
    path = f"/workspaces/{workspace['id']}/api-keys"
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    first = owner.post(path, json={"name": "n", "role": "member"}, headers=headers).json()
    again = owner.post(path, json={"name": "n", "role": "member"}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    second = again.json()
    assert second["id"] == first["id"] and second["key"] != first["key"]
    assert len(owner.get(path).json()["items"]) == 1
    assert as_key(api, first).get("/auth/me").status_code == 401
    assert as_key(api, second).get("/auth/me").status_code == 200


def test_deleting_a_workspace_takes_its_keys_and_their_users(api: Api) -> None:
    owner = api.register("Owner")
    workspace = owner.create_workspace()
    key = create_key(owner, workspace["id"])
    assert owner.delete(f"/workspaces/{workspace['id']}").status_code == 204
    assert as_key(api, key).get("/auth/me").status_code == 401


def test_api_keys_never_reach_the_log(tmp_path: Path) -> None:
    node = NodeProcess(f"sqlite:///{tmp_path / 'node.db'}", log_level="debug")
    try:
        api = Api(node.api)
        try:
            owner = api.register("Owner")
            workspace = owner.create_workspace()
            key = create_key(owner, workspace["id"])
            backend = as_key(api, key)
            assert backend.get(f"/workspaces/{workspace['id']}").status_code == 200
            # A key in the query and in a path (both in the access line), and a refused one.
            api.http.get(f"/auth/me?apiKey={key['key']}", headers={"Authorization": f"Bearer {key['key']}"})
            api.http.get(f"/workspaces/{key['key']}")
            assert owner.delete(f"/workspaces/{workspace['id']}/api-keys/{key['id']}").status_code == 204
            assert backend.get("/auth/me").status_code == 401
            with httpx.Client(base_url=node.api) as raw:
                raw.get("/auth/me", headers={"Authorization": f"Bearer {key['key']}"})
        finally:
            api.close()
        node.terminate()  # a graceful stop: every line written
        log = node.log_text()
    finally:
        node.stop()
    assert "Logging error" not in log
    assert "/auth/me" in log  # the requests were logged, without the key
    assert key["key"] not in log
    assert key["key"][len("trk_") :] not in log


def test_last_used_is_written_at_most_once_a_minute(node: RunningServer, api: Api) -> None:
    owner = api.register("Owner")
    workspace = owner.create_workspace()
    key = create_key(owner, workspace["id"])
    backend = as_key(api, key)
    path = f"/workspaces/{workspace['id']}/api-keys"

    def last_used() -> str | None:
        return owner.get(path).json()["items"][0]["lastUsedAt"]  # type: ignore[no-any-return]

    assert backend.get("/auth/me").status_code == 200
    first = last_used()
    assert first is not None
    for _ in range(3):
        assert backend.get("/auth/me").status_code == 200
    assert last_used() == first  # the hot path did not write again
    service = node.app_state.services.api_keys
    real_clock = service.clock
    service.clock = lambda: real_clock() + 61  # a minute later, by this node's clock
    try:
        assert backend.get("/auth/me").status_code == 200
    finally:
        service.clock = real_clock
    later = last_used()
    assert later is not None and later > first
