"""Managing a workspace's webhooks over REST (PROTOCOL §8): admin and owner only, secret shown once."""

from __future__ import annotations

from collections.abc import Callable

from standardwebhooks import Webhook

from tests.support.api import Api
from tests.support.servers import RunningServer
from tests.webhooks.conftest import create_hook, hook_state

URL = "http://127.0.0.1:9/hook"


def test_a_hook_is_created_with_a_generated_secret_shown_only_once(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    created = create_hook(owner, workspace_id, URL, events=["TASK_CREATED"])
    assert created["url"] == URL
    assert created["events"] == ["TASK_CREATED"]
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # the reference library accepts it as a key
    assert created["createdAt"] and created["status"] == "active"

    shown = hook_state(owner, workspace_id, created["id"])
    assert "secret" not in shown
    assert shown["attempts"] == []
    listed = owner.get(f"/workspaces/{workspace_id}/webhooks").json()["items"]
    assert [h["id"] for h in listed] == [created["id"]]
    assert "secret" not in listed[0]


def test_a_given_secret_is_kept_and_a_malformed_one_refused(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert create_hook(owner, workspace_id, URL, secret=secret)["secret"] == secret
    for bad in ("not-prefixed", "whsec_%%%", "whsec_c2hvcnQ="):
        response = owner.post(f"/workspaces/{workspace_id}/webhooks", json={"url": URL, "secret": bad})
        assert response.status_code == 422, bad
        assert response.json()["error"]["fields"][0]["field"] == "secret"


def test_a_hook_is_edited_and_deleted(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    hook = create_hook(owner, workspace_id, URL)
    assert hook["events"] is None
    path = f"/workspaces/{workspace_id}/webhooks/{hook['id']}"
    patched = owner.patch(path, json={"url": "http://127.0.0.1:10/other", "events": ["TASK_MOVED"]})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["url"], patched.json()["events"]) == ("http://127.0.0.1:10/other", ["TASK_MOVED"])
    assert owner.patch(path, json={"events": None}).json()["events"] is None
    assert owner.delete(path).status_code == 204
    assert owner.get(path).status_code == 404
    assert owner.get(f"/workspaces/{workspace_id}/webhooks").json()["items"] == []


def test_bad_bodies_answer_422(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    path = f"/workspaces/{workspace_id}/webhooks"
    for body in (
        {},
        {"url": URL, "events": ["NOT_A_TYPE"]},
        {"url": URL, "events": []},
        {"url": "ftp://127.0.0.1/hook"},
        {"url": "not a url"},
        {"url": URL, "colour": "red"},
    ):
        assert owner.post(path, json=body).status_code == 422, body


def test_only_admins_and_owners_see_or_change_hooks(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    api = api_of(hook_node())
    owner, admin, member, stranger = (api.register(n) for n in ("Owner", "Admin", "Member", "Stranger"))
    workspace_id = owner.create_workspace()["id"]
    owner.add_member(workspace_id, admin, "admin")
    owner.add_member(workspace_id, member, "member")
    hook = create_hook(admin, workspace_id, URL)
    path = f"/workspaces/{workspace_id}/webhooks"
    assert member.get(path).status_code == 403
    assert member.post(path, json={"url": URL}).status_code == 403
    assert member.delete(f"{path}/{hook['id']}").status_code == 403
    assert stranger.get(path).status_code == 404
    assert stranger.get(f"{path}/{hook['id']}").status_code == 404
    assert owner.get(f"{path}/{hook['id']}").status_code == 200


def test_another_workspaces_hook_is_not_found(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    first, second = owner.create_workspace("One")["id"], owner.create_workspace("Two")["id"]
    hook = create_hook(owner, first, URL)
    other = f"/workspaces/{second}/webhooks/{hook['id']}"
    assert owner.get(other).status_code == 404
    assert owner.patch(other, json={"url": URL}).status_code == 404
    assert owner.delete(other).status_code == 404
    assert owner.post(f"{other}/replay", json={"sinceSeq": 0}).status_code == 404
    assert owner.get(f"/workspaces/{first}/webhooks/{hook['id']}").status_code == 200


def test_a_creation_retried_with_its_idempotency_key_makes_one_hook(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    path = f"/workspaces/{workspace_id}/webhooks"
    headers = {"Idempotency-Key": "create-hook-1"}
    first = owner.post(path, json={"url": URL}, headers=headers)
    again = owner.post(path, json={"url": URL}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert len(owner.get(path).json()["items"]) == 1
