"""Delivery of a workspace's log to its webhooks: signed, in seq order, at least once (PROTOCOL §8)."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer
from tests.support.waiting import eventually
from tests.webhooks.conftest import create_hook, hook_state
from tests.webhooks.receiver import receiver


def log_events(user: ApiUser, workspace_id: str, since: int = 0) -> list[dict[str, object]]:
    response = user.get(f"/workspaces/{workspace_id}/events", params={"since": since})
    assert response.status_code == 200
    return list(response.json()["events"])


def test_every_event_arrives_signed_in_seq_order_as_the_logged_envelope(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    with receiver() as target:
        hook = create_hook(owner, workspace_id, target.url)
        task = owner.create_task(workspace_id, "First")
        owner.patch(f"/tasks/{task['id']}", json={"title": "Renamed"})
        owner.post(f"/tasks/{task['id']}/complete", json={"completed": True})
        owner.post(f"/tasks/{task['id']}/move", json={"status": "done"})
        owner.delete(f"/tasks/{task['id']}")
        deliveries = target.wait_for(5)
    logged = log_events(owner, workspace_id)
    assert [d.verified(hook["secret"]) for d in deliveries] == logged
    assert [e["type"] for e in logged] == [
        "TASK_CREATED",
        "TASK_UPDATED",
        "TASK_COMPLETED",
        "TASK_MOVED",
        "TASK_DELETED",
    ]
    for delivery, event in zip(deliveries, logged, strict=True):
        assert delivery.headers["webhook-id"] == event["eventId"]
        assert delivery.headers["content-type"] == "application/json"
    state = hook_state(owner, workspace_id, hook["id"])
    assert state["lastDeliveredSeq"] == logged[-1]["seq"]
    assert all(a["ok"] and a["statusCode"] == 200 for a in state["attempts"])


def test_a_new_hook_starts_after_the_events_already_logged(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    owner.create_task(workspace_id, "Before the hook")
    with receiver() as target:
        create_hook(owner, workspace_id, target.url)
        owner.create_task(workspace_id, "After the hook")
        (delivery,) = target.wait_for(1)
        assert delivery.event["data"]["task"]["title"] == "After the hook"
        assert delivery.event["seq"] == 2


def test_a_hook_receives_only_the_event_types_it_asked_for(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    with receiver() as target:
        hook = create_hook(owner, workspace_id, target.url, events=["TASK_CREATED"])
        for title in ("One", "Two"):
            task = owner.create_task(workspace_id, title)
            owner.patch(f"/tasks/{task['id']}", json={"title": f"{title}!"})
        deliveries = target.wait_for(2)
        assert [d.event["data"]["task"]["title"] for d in deliveries] == ["One", "Two"]
        assert {d.event["type"] for d in deliveries} == {"TASK_CREATED"}
        # The skipped updates still move the hook on, to the log's head.
        eventually(
            lambda: hook_state(owner, workspace_id, hook["id"])["lastDeliveredSeq"], lambda seq: seq == 4
        )
        assert len(target.deliveries()) == 2


def test_a_failing_receiver_gets_the_event_again_and_order_is_kept(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    # The first two POSTs fail (500, then 503), every later one succeeds.
    with receiver(answer=lambda n: {0: 500, 1: 503}.get(n, 204)) as target:
        hook = create_hook(owner, workspace_id, target.url)
        for title in ("A", "B", "C"):
            owner.create_task(workspace_id, title)
        target.wait_for(3)
        everything = target.deliveries()
    assert [d.event["seq"] for d in everything] == [1, 1, 1, 2, 3]
    assert len({d.headers["webhook-id"] for d in everything[:3]}) == 1  # the same message again
    attempts = hook_state(owner, workspace_id, hook["id"])["attempts"]
    assert [(a["seq"], a["ok"], a["statusCode"]) for a in reversed(attempts)] == [
        (1, False, 500),
        (1, False, 503),
        (1, True, 204),
        (2, True, 204),
        (3, True, 204),
    ]


def test_a_hook_that_fails_past_the_retry_window_is_failing_until_replayed(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node(webhook_retry_window_seconds=1)).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    healthy = False
    with receiver(answer=lambda _n: 200 if healthy else 500) as target:
        hook = create_hook(owner, workspace_id, target.url)
        owner.create_task(workspace_id, "One")
        owner.create_task(workspace_id, "Two")
        state = eventually(
            lambda: hook_state(owner, workspace_id, hook["id"]), lambda s: s["status"] == "failing", 20
        )
        assert state["failingSince"] is not None and state["failures"] >= 1
        assert state["lastDeliveredSeq"] == 0
        assert all(not a["ok"] for a in state["attempts"])

        healthy = True
        tried = len(target.deliveries())
        replayed = owner.post(
            f"/workspaces/{workspace_id}/webhooks/{hook['id']}/replay", json={"sinceSeq": 0}
        )
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["status"] == "active"
        eventually(lambda: [d.event["seq"] for d in target.deliveries()[tried:]], lambda s: s == [1, 2])
        assert hook_state(owner, workspace_id, hook["id"])["status"] == "active"


def test_replay_sends_again_from_the_given_seq(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node()).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    with receiver() as target:
        hook = create_hook(owner, workspace_id, target.url)
        for title in ("A", "B", "C"):
            owner.create_task(workspace_id, title)
        target.wait_for(3)
        path = f"/workspaces/{workspace_id}/webhooks/{hook['id']}/replay"
        assert owner.post(path, json={"sinceSeq": 1}).status_code == 200
        target.wait_for(5)
        assert target.seqs() == [1, 2, 3, 2, 3]
        past_the_head = owner.post(path, json={"sinceSeq": 99})
        assert (past_the_head.status_code, past_the_head.json()["lastDeliveredSeq"]) == (200, 3)
        assert owner.post(path, json={"sinceSeq": -1}).status_code == 422


def test_a_hanging_receiver_does_not_hold_up_rest_writes(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    node = hook_node(webhook_timeout=60_000)
    owner = api_of(node).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    with receiver(hang=True) as target:
        create_hook(owner, workspace_id, target.url)
        owner.create_task(workspace_id, "Held at the receiver")
        eventually(target.deliveries, lambda got: len(got) == 1)
        # The first POST is still waiting for its answer while these writes are answered.
        for number in range(10):
            owner.create_task(workspace_id, f"Written meanwhile {number}")
        assert len(log_events(owner, workspace_id)) == 11
        assert len(target.deliveries()) == 1
        target.open.set()
        target.wait_for(11)
        assert target.seqs() == list(range(1, 12))


def test_no_answer_within_the_timeout_is_a_failed_attempt(
    hook_node: Callable[..., RunningServer], api_of: Callable[[RunningServer], Api]
) -> None:
    owner = api_of(hook_node(webhook_timeout=200)).register("Owner")
    workspace_id = owner.create_workspace()["id"]
    with receiver(hang=True) as target:
        hook = create_hook(owner, workspace_id, target.url)
        owner.create_task(workspace_id, "Slow")
        state = eventually(
            lambda: hook_state(owner, workspace_id, hook["id"]), lambda s: len(s["attempts"]) >= 2
        )
        assert all(a["error"] == "no answer in time" and not a["ok"] for a in state["attempts"])
        assert state["lastDeliveredSeq"] == 0
