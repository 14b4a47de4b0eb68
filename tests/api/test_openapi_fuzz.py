"""The REST API against its own OpenAPI schema, fuzzed by schemathesis on a real node.

For every operation of `/openapi.json`, schemathesis generates requests (valid ones, and invalid
ones: wrong types, missing fields, out-of-range values) and checks each answer: never a 5xx, and
the status code, content type, headers and body are the ones the schema declares. The caller is a
registered user who owns a workspace with a task and another member, and about half of the
generated requests name those real ids, so the fuzzing reaches the code behind the 404.

Bounded and repeatable: a fixed number of examples per operation, derandomized.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, GenerationMode, Response
from schemathesis.specs.openapi.checks import positive_data_acceptance

from taskroom.schemas import MAX_INT64
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer, start_server

# Examples per operation and generation mode: enough to reach every branch of the handlers a
# few times (about 25 operations x 2 modes), and small enough for `make test`.
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 20}


# The scene's webhook points at a closed loopback port (the node allows private receivers for it):
# its deliveries fail at once and are retried in the background, touching no other host.
FUZZ_HOOK_URL = "http://127.0.0.1:9/fuzz"


@dataclass
class Scene:
    """The fuzzing user's own world; rebuilt when a generated request deletes part of it."""

    owner: ApiUser
    workspace_id: str
    task_id: str
    member_id: str
    invitation_id: str
    invitation_token: str
    hook_id: str
    session_id: str  # the member's session, which the owner cannot end
    key_id: str  # an API key of the workspace
    trashed_task_id: str  # a task in the trash: what `/restore` is fuzzed with
    comment_id: str  # the owner's comment on the task

    @classmethod
    def build(cls, api: Api, owner: ApiUser | None = None) -> Scene:
        owner = owner or api.register("Fuzz Owner")
        workspace = owner.create_workspace("Fuzzed")
        task = owner.create_task(workspace["id"], "Fuzzed task")
        trashed = owner.create_task(workspace["id"], "Fuzzed trashed task")
        assert owner.delete(f"/tasks/{trashed['id']}").status_code == 204
        note = owner.post(f"/tasks/{task['id']}/comments", json={"body": "Fuzzed comment"})
        assert note.status_code == 201, note.text
        member = api.register("Fuzz Member")
        owner.add_member(workspace["id"], member, "member")
        invited = owner.post(
            f"/workspaces/{workspace['id']}/invitations",
            json={"email": f"fuzz.{uuid.uuid4().hex[:10]}@example.test", "role": "viewer"},
        )
        assert invited.status_code == 201, invited.text
        invitation = invited.json()
        key = owner.post(
            f"/workspaces/{workspace['id']}/api-keys", json={"name": "Fuzz key", "role": "viewer"}
        )
        assert key.status_code == 201, key.text
        hook = owner.post(f"/workspaces/{workspace['id']}/webhooks", json={"url": FUZZ_HOOK_URL})
        assert hook.status_code == 201, hook.text
        # The member's own session: the owner ending it is refused 404, and nothing of the
        # owner's (whose failed password checks the fuzzing may throttle) needs a login.
        sessions = member.get("/auth/sessions").json()["items"]
        session_id = next(item["id"] for item in sessions if item["current"])
        return cls(
            owner,
            workspace["id"],
            task["id"],
            member.id,
            invitation["id"],
            invitation["token"],
            hook.json()["id"],
            session_id,
            key.json()["id"],
            trashed["id"],
            note.json()["id"],
        )

    def ids(self, path: str = "") -> dict[str, str]:
        """The scene's ids by path parameter; a restore's task is the trashed one."""
        trashed = path.endswith("/restore")
        return {
            "workspace_id": self.workspace_id,
            "task_id": self.trashed_task_id if trashed else self.task_id,
            "member_id": self.member_id,
            "invitation_id": self.invitation_id,
            "token": self.invitation_token,
            "hook_id": self.hook_id,
            "session_id": self.session_id,
            "key_id": self.key_id,
            "comment_id": self.comment_id,
        }


@dataclass
class Target:
    node: RunningServer
    schema: BaseSchema
    api: Api
    scene: Scene
    used_keys: set[str] = field(default_factory=set)  # the fuzzing user's Idempotency-Keys so far


@pytest.fixture(scope="module")
def target(backend: str, database_factory: Callable[[str], str]) -> Iterator[Target]:
    node = start_server(database_factory(backend), webhook_allow_private=True)
    api = Api(node.api)
    try:
        schema = schemathesis.openapi.from_url(f"{node.base_url}/openapi.json")
        yield Target(node, schema, api, Scene.build(api))
    finally:
        api.close()
        node.stop()


def operation_cases() -> list[Any]:
    """Every operation of the app (read from the app itself; the fixture's node serves the same),
    with valid requests, and with invalid ones when it takes a parameter or a body to spoil."""
    from taskroom.app import create_app
    from taskroom.settings import Settings

    paths = create_app(Settings(jwt_secret="only-to-list-routes-0123456789abcdef")).openapi()["paths"]
    cases = []
    for path, methods in paths.items():
        for method, operation in methods.items():
            label = f"{method.upper()} {path}"
            modes = [GenerationMode.POSITIVE]
            if operation.get("parameters") or operation.get("requestBody"):
                modes.append(GenerationMode.NEGATIVE)
            cases.extend(pytest.param(label, mode, id=f"{label}-{mode.value}") for mode in modes)
    return cases


def find(schema: BaseSchema, label: str) -> APIOperation:
    method, path = label.split(" ", 1)
    return schema[path][method]


# A schema-valid request may still name something that is not there: an assignee who is not a
# member, a neighbour task that is not in the column, a list `cursor` the server never handed out.
# That is a 422 naming the field (PROTOCOL §2), the only 422 a valid request may get;
# schemathesis's own "valid data accepted" check knows nothing of references, so this one replaces it.
# A webhook's `url` is one too: its host must resolve, and to a public address (PROTOCOL §8).
# So is a task's `status`, a key of its workspace's columns, and `columns`, whose rules (keys of
# their own, one done and one open column) span its items (PROTOCOL §7).
REFERENCE_FIELDS = {"assigneeId", "beforeId", "afterId", "cursor", "url", "status", "columns"}


def assert_valid_request_accepted(case: schemathesis.Case, response: Response) -> None:
    if response.status_code != 422:
        return
    error = response.json()["error"]
    sent = (case.method, case.formatted_path, case.body)
    assert error["code"] == "VALIDATION_ERROR", (sent, response.text)
    assert {entry["field"] for entry in error["fields"]} <= REFERENCE_FIELDS, (sent, response.text)


def integers_in(value: object) -> Iterator[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from integers_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from integers_in(item)


@pytest.mark.parametrize(("label", "mode"), operation_cases())
def test_every_answer_is_one_the_schema_declares_and_none_is_a_server_error(
    target: Target, label: str, mode: GenerationMode
) -> None:
    operation = find(target.schema, label)
    names = {p.name for p in operation.path_parameters}
    used_keys = target.used_keys

    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), known_ids=st.booleans())
    def run(case: schemathesis.Case, known_ids: bool) -> None:
        if mode is GenerationMode.POSITIVE:
            # The generator rounds integer bounds through floats: 2**63 - 1 comes out as 2**63,
            # which is not a valid request (and is refused with 422, rightly).
            assume(all(abs(n) <= MAX_INT64 for n in integers_in(case.body)))
        scene = target.scene
        if known_ids and names:
            case.path_parameters = {
                **(case.path_parameters or {}),
                **{n: scene.ids(operation.path)[n] for n in names},
            }
        # A generated Idempotency-Key that an earlier, different request used answers 422
        # IDEMPOTENCY_KEY_REUSED, as it should (tests/api/test_idempotency.py); here each
        # request gets a key of its own so that answers depend on the request alone.
        key = (case.headers or {}).get("Idempotency-Key")
        if isinstance(key, str) and key:
            if key in used_keys:
                case.headers = {**(case.headers or {}), "Idempotency-Key": uuid.uuid4().hex}
            used_keys.add(case.headers["Idempotency-Key"])
        # A well-formed bearer header becomes the fuzzing user's token; a missing or malformed one
        # (negative cases) is sent as generated, to be refused with 401.
        if str((case.headers or {}).get("Authorization", "")).startswith("Bearer "):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {scene.owner.token}"}
        response = case.call(base_url=target.node.base_url)
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
        if mode is GenerationMode.POSITIVE:
            assert_valid_request_accepted(case, response)
        if known_ids and case.method == "DELETE" and response.status_code == 204:
            target.scene = Scene.build(target.api, scene.owner)
        if known_ids and operation.path.endswith("/restore") and response.status_code == 200:
            target.scene = Scene.build(target.api, scene.owner)  # the trashed task is back

    run()
