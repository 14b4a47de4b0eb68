"""Who may do what, as one table over every route of the app and every WebSocket message type.

For each REST route (the list is read from the app itself, so a route without a row fails) and
each caller — the owner, an admin, a member, a viewer, someone who is not a member, a member
removed since, and requests with no token, a tampered, expired, `alg: none`, foreign-key,
wrong-issuer or wrong-audience token, or the token of an account deleted since — the answer is
exactly the documented one (PROTOCOL §2): the route's success status when allowed, 404 NOT_FOUND
for what the caller cannot see, 403 FORBIDDEN for a role too low, 401 UNAUTHORIZED for a bad
token; a refused request changes nothing. Over the WebSocket (§3): a bad token is UNAUTHORIZED
then close 4401, a workspace the connection has not joined is FORBIDDEN, and another member
receives only what the caller may send.

A second workspace holds distinctive text; it never appears in any body or frame collected.
The finer rules (the owner cannot be demoted, anyone may leave, no self-promotion) are in
test_access_matrix.py; existence not leaking (404 equal to a missing id) in test_cross_workspace.py.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Mount
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.realtime.clients import joined
from tests.support.accounts import delete_account
from tests.support.api import Api, ApiUser
from tests.support.observe import workspace_state
from tests.support.servers import RunningServer, start_server
from tests.support.tokens import BAD_TOKENS
from tests.support.ws import WsClient

SECRET = "kx-only-in-the-other-workspace"
RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}
ROLES = list(RANK)
PASSWORD = "correct horse battery"  # tests.support.api's default


# --- the people and their tokens --------------------------------------------------------------


@dataclass
class Cast:
    node: RunningServer
    api: Api
    people: dict[str, ApiUser]  # owner, admin, member, viewer, outsider, removed, target, newcomer
    tokens: dict[str, str | None]  # the bad ones, by kind; None is no Authorization header at all
    other_workspace: str
    other_task: str

    def as_caller(self, caller: str) -> ApiUser:
        if caller in self.people:
            return self.people[caller]
        token = self.tokens[caller]
        return ApiUser("", "", caller, token or "", self.api.http)


def tampered(token: str, new_subject: str) -> str:
    """The same signature over claims with another `sub`: a member claiming to be the owner."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = new_subject
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.fixture(scope="module")
def cast(backend: str, database_factory: Callable[[str], str]) -> Iterator[Cast]:
    # Webhooks of the scene point at a closed loopback port, which the node must allow.
    node = start_server(database_factory(backend), webhook_allow_private=True)
    api = Api(node.api)
    try:
        names = ["owner", "admin", "member", "viewer", "outsider", "removed", "target", "newcomer"]
        people = {name: api.register(name.title()) for name in names}
        # The other workspace: its owner, name, description, task and a member named after it.
        stranger, insider = api.register(SECRET), api.register(f"{SECRET} member")
        other = stranger.create_workspace(SECRET, description=SECRET)
        stranger.add_member(other["id"], insider, "admin")
        other_task = stranger.create_task(other["id"], SECRET, description=SECRET)
        gone = api.register("Gone")
        delete_account(node, gone.id)
        # A key of the other workspace, deleted: refused everywhere like any bad token.
        deleted_key = stranger.post(
            f"/workspaces/{other['id']}/api-keys", json={"name": "K", "role": "admin"}
        )
        assert deleted_key.status_code == 201, deleted_key.text
        key_path = f"/workspaces/{other['id']}/api-keys/{deleted_key.json()['id']}"
        assert stranger.delete(key_path).status_code == 204
        owner, member = people["owner"].id, people["member"]
        tokens: dict[str, str | None] = {
            "no token": None,
            "tampered token": tampered(member.token, owner),
            "expired token": BAD_TOKENS["expired"](owner),
            "alg none token": BAD_TOKENS["alg-none"](owner),
            "other key token": BAD_TOKENS["wrong-signature"](owner),
            "wrong issuer token": BAD_TOKENS["wrong-issuer"](owner),
            "wrong audience token": BAD_TOKENS["wrong-audience"](owner),
            "deleted account token": gone.token,
            "deleted api key": deleted_key.json()["key"],
        }
        yield Cast(node, api, people, tokens, other["id"], other_task["id"])
    finally:
        api.close()
        node.stop()


MEMBERS = ROLES
OUTSIDERS = ["outsider", "removed"]
BAD_TOKEN_CALLERS = [
    "no token",
    "tampered token",
    "expired token",
    "alg none token",
    "other key token",
    "wrong issuer token",
    "wrong audience token",
    "deleted account token",
    "deleted api key",
]
CALLERS = MEMBERS + OUTSIDERS + BAD_TOKEN_CALLERS


# --- a workspace to act on ----------------------------------------------------------------------


@dataclass
class Scene:
    workspace: str
    task: str
    neighbour: str
    hook: str
    key: str
    trashed: str  # a task in the trash, to restore
    comment: str  # the owner's comment on `task`: others edit it as admins or not at all


HOOK_URL = "http://127.0.0.1:9/hook"


def make_scene(cast: Cast) -> Scene:
    owner = cast.people["owner"]
    workspace = owner.create_workspace("Board")["id"]
    for role in ("admin", "member", "viewer"):
        owner.add_member(workspace, cast.people[role], role)
    owner.add_member(workspace, cast.people["target"], "member")
    owner.add_member(workspace, cast.people["removed"], "admin")
    assert owner.delete(f"/workspaces/{workspace}/members/{cast.people['removed'].id}").status_code == 204
    task = owner.create_task(workspace, "First")["id"]
    neighbour = owner.create_task(workspace, "Second")["id"]
    trashed = owner.create_task(workspace, "Binned")["id"]
    assert owner.delete(f"/tasks/{trashed}").status_code == 204
    hook = owner.post(f"/workspaces/{workspace}/webhooks", json={"url": HOOK_URL})
    assert hook.status_code == 201, hook.text
    key = owner.post(f"/workspaces/{workspace}/api-keys", json={"name": "Key", "role": "member"})
    assert key.status_code == 201, key.text
    note = owner.post(f"/tasks/{task}/comments", json={"body": "Owner's note"})
    assert note.status_code == 201, note.text
    return Scene(workspace, task, neighbour, hook.json()["id"], key.json()["id"], trashed, note.json()["id"])


# --- the REST table -----------------------------------------------------------------------------

Request = Callable[[Cast, Scene], tuple[str, dict[str, Any]]]  # the path (under /api/v1 or not) and kwargs


@dataclass(frozen=True)
class Row:
    # "public": the same answer whoever asks (a token is not even read); "signed in": any valid
    # token; a role: members of at least that role, others 404, bad tokens 401.
    access: str
    status: int  # the answer when allowed
    request: Request
    writes: bool = False  # an allowed call changes the workspace: each one gets a fresh scene
    # A request that depends on who calls (one of their own sessions); used instead of `request`.
    per_caller: Callable[[Cast, Scene, str], tuple[str, dict[str, Any]]] | None = None


def fresh_login(cast: Cast, person: str) -> dict[str, Any]:
    """A new session of one of the cast (a login), leaving their own token's session as it is."""
    who = cast.people.get(person, cast.people["viewer"])
    response = cast.api.http.post(
        cast.node.base_url + "/api/v1/auth/login", json={"email": who.email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def own_session_id(cast: Cast, person: str) -> str:
    """The id of a fresh session of the caller (of the viewer, for callers that are no one)."""
    who = cast.people.get(person, cast.people["viewer"])
    token = fresh_login(cast, person)["accessToken"]
    listed = cast.api.http.get(
        cast.node.base_url + "/api/v1/auth/sessions", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200, listed.text
    assert who.email
    return str(next(item["id"] for item in listed.json()["items"] if item["current"]))


def fresh_email(_cast: Cast) -> str:
    return f"new.{uuid.uuid4().hex[:10]}@example.test"


def new_invitation(cast: Cast, scene: Scene, email: str) -> dict[str, Any]:
    """An invitation to the scene's workspace, made by its owner."""
    response = cast.people["owner"].post(
        f"/workspaces/{scene.workspace}/invitations", json={"email": email, "role": "member"}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


API = "/api/v1"
TABLE: dict[tuple[str, str], Row] = {
    # public
    ("POST", f"{API}/auth/register"): Row(
        "public",
        201,
        lambda c, s: (
            f"{API}/auth/register",
            {"json": {"email": fresh_email(c), "password": PASSWORD, "name": "N"}},
        ),
    ),
    ("POST", f"{API}/auth/login"): Row(
        "public",
        200,
        lambda c, s: (
            f"{API}/auth/login",
            {"json": {"email": c.people["viewer"].email, "password": PASSWORD}},
        ),
    ),
    ("GET", f"{API}/ws/health"): Row("public", 200, lambda c, s: (f"{API}/ws/health", {})),
    ("GET", f"{API}/ws/metrics"): Row("public", 200, lambda c, s: (f"{API}/ws/metrics", {})),
    ("GET", "/metrics"): Row("public", 200, lambda c, s: ("/metrics", {})),
    ("GET", "/openapi.json"): Row("public", 200, lambda c, s: ("/openapi.json", {})),
    ("GET", "/docs"): Row("public", 200, lambda c, s: ("/docs", {})),
    ("GET", "/docs/oauth2-redirect"): Row("public", 200, lambda c, s: ("/docs/oauth2-redirect", {})),
    ("GET", "/redoc"): Row("public", 200, lambda c, s: ("/redoc", {})),
    ("GET", "/client/{path}"): Row("public", 200, lambda c, s: ("/client/taskroom.js", {})),
    ("GET", "/docs/assets/{path}"): Row("public", 200, lambda c, s: ("/docs/assets/swagger-ui.css", {})),
    ("GET", "/{path}"): Row("public", 200, lambda c, s: ("/", {})),  # the web board
    # sessions (PROTOCOL §5.1): a refresh token is its own credential, whoever else asks
    ("POST", f"{API}/auth/refresh"): Row(
        "public",
        200,
        lambda c, s: (
            f"{API}/auth/refresh",
            {"json": {"refreshToken": fresh_login(c, "viewer")["refreshToken"]}},
        ),
    ),
    ("POST", f"{API}/auth/logout"): Row(
        "public",
        204,
        lambda c, s: (
            f"{API}/auth/logout",
            {"json": {"refreshToken": fresh_login(c, "viewer")["refreshToken"]}},
        ),
    ),
    # any valid token
    ("GET", f"{API}/auth/sessions"): Row("signed in", 200, lambda c, s: (f"{API}/auth/sessions", {})),
    ("DELETE", f"{API}/auth/sessions/{{session_id}}"): Row(
        "signed in",
        204,
        lambda c, s: ("", {}),
        per_caller=lambda c, s, caller: (f"{API}/auth/sessions/{own_session_id(c, caller)}", {}),
    ),
    # Ends the caller's other sessions: the token each caller uses is its current one, and stays.
    ("DELETE", f"{API}/auth/sessions"): Row("signed in", 204, lambda c, s: (f"{API}/auth/sessions", {})),
    ("POST", f"{API}/auth/password"): Row(
        "signed in",
        204,
        lambda c, s: (
            f"{API}/auth/password",
            {"json": {"currentPassword": PASSWORD, "newPassword": PASSWORD}},
        ),
    ),
    ("GET", f"{API}/auth/me"): Row("signed in", 200, lambda c, s: (f"{API}/auth/me", {})),
    ("GET", f"{API}/workspaces"): Row("signed in", 200, lambda c, s: (f"{API}/workspaces", {})),
    ("POST", f"{API}/workspaces"): Row(
        "signed in", 201, lambda c, s: (f"{API}/workspaces", {"json": {"name": "Mine"}})
    ),
    # reads of a workspace: viewer and up
    ("GET", f"{API}/workspaces/{{workspace_id}}"): Row(
        "viewer", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}", {})
    ),
    ("GET", f"{API}/workspaces/{{workspace_id}}/members"): Row(
        "viewer", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}/members", {})
    ),
    ("GET", f"{API}/workspaces/{{workspace_id}}/events"): Row(
        "viewer", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}/events", {})
    ),
    ("GET", f"{API}/workspaces/{{workspace_id}}/snapshot"): Row(
        "viewer", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}/snapshot", {})
    ),
    ("GET", f"{API}/workspaces/{{workspace_id}}/tasks"): Row(
        "viewer", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}/tasks", {})
    ),
    ("GET", f"{API}/tasks/{{task_id}}"): Row("viewer", 200, lambda c, s: (f"{API}/tasks/{s.task}", {})),
    ("GET", f"{API}/tasks/{{task_id}}/activity"): Row(
        "viewer", 200, lambda c, s: (f"{API}/tasks/{s.task}/activity", {})
    ),
    ("GET", f"{API}/workspaces/{{workspace_id}}/trash"): Row(
        "viewer", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}/trash", {})
    ),
    ("GET", f"{API}/tasks/{{task_id}}/comments"): Row(
        "viewer", 200, lambda c, s: (f"{API}/tasks/{s.task}/comments", {})
    ),
    # the caller's own notifications: any valid token
    ("GET", f"{API}/notifications"): Row("signed in", 200, lambda c, s: (f"{API}/notifications", {})),
    ("POST", f"{API}/notifications/read"): Row(
        "signed in", 204, lambda c, s: (f"{API}/notifications/read", {"json": {"all": True}})
    ),
    # the shared description: the upgrade is taken (101) or refused with a plain HTTP answer
    ("WS", f"{API}/tasks/{{task_id}}/doc"): Row(
        "viewer", 101, lambda c, s: (f"{API}/tasks/{s.task}/doc", {})
    ),
    # task writes: member and up
    ("POST", f"{API}/workspaces/{{workspace_id}}/tasks"): Row(
        "member",
        201,
        lambda c, s: (f"{API}/workspaces/{s.workspace}/tasks", {"json": {"title": "New"}}),
        writes=True,
    ),
    ("PATCH", f"{API}/tasks/{{task_id}}"): Row(
        "member", 200, lambda c, s: (f"{API}/tasks/{s.task}", {"json": {"title": "Edited"}}), writes=True
    ),
    ("POST", f"{API}/tasks/{{task_id}}/restore"): Row(
        "member", 200, lambda c, s: (f"{API}/tasks/{s.trashed}/restore", {}), writes=True
    ),
    ("POST", f"{API}/tasks/{{task_id}}/complete"): Row(
        "member",
        200,
        lambda c, s: (f"{API}/tasks/{s.task}/complete", {"json": {"completed": True}}),
        writes=True,
    ),
    ("POST", f"{API}/tasks/{{task_id}}/move"): Row(
        "member",
        200,
        lambda c, s: (f"{API}/tasks/{s.task}/move", {"json": {"status": "todo", "afterId": s.neighbour}}),
        writes=True,
    ),
    ("DELETE", f"{API}/tasks/{{task_id}}"): Row(
        "member", 204, lambda c, s: (f"{API}/tasks/{s.task}", {}), writes=True
    ),
    ("POST", f"{API}/tasks/{{task_id}}/comments"): Row(
        "member",
        201,
        lambda c, s: (f"{API}/tasks/{s.task}/comments", {"json": {"body": "New"}}),
        writes=True,
    ),
    # the owner's comment: its author, or an admin and up; a member or viewer is 403
    ("PATCH", f"{API}/comments/{{comment_id}}"): Row(
        "admin", 200, lambda c, s: (f"{API}/comments/{s.comment}", {"json": {"body": "Edited"}}), writes=True
    ),
    ("DELETE", f"{API}/comments/{{comment_id}}"): Row(
        "admin", 204, lambda c, s: (f"{API}/comments/{s.comment}", {}), writes=True
    ),
    # the workspace and its members: admin and up; deleting it: the owner
    ("PATCH", f"{API}/workspaces/{{workspace_id}}"): Row(
        "admin",
        200,
        lambda c, s: (f"{API}/workspaces/{s.workspace}", {"json": {"name": "Renamed"}}),
        writes=True,
    ),
    ("POST", f"{API}/workspaces/{{workspace_id}}/members"): Row(
        "admin",
        201,
        lambda c, s: (
            f"{API}/workspaces/{s.workspace}/members",
            {"json": {"email": c.people["newcomer"].email, "role": "viewer"}},
        ),
        writes=True,
    ),
    ("PATCH", f"{API}/workspaces/{{workspace_id}}/members/{{member_id}}"): Row(
        "admin",
        200,
        lambda c, s: (
            f"{API}/workspaces/{s.workspace}/members/{c.people['target'].id}",
            {"json": {"role": "viewer"}},
        ),
        writes=True,
    ),
    ("DELETE", f"{API}/workspaces/{{workspace_id}}/members/{{member_id}}"): Row(
        "admin",
        204,
        lambda c, s: (f"{API}/workspaces/{s.workspace}/members/{c.people['target'].id}", {}),
        writes=True,
    ),
    ("DELETE", f"{API}/workspaces/{{workspace_id}}"): Row(
        "owner", 204, lambda c, s: (f"{API}/workspaces/{s.workspace}", {}), writes=True
    ),
    # invitations: admin and up; accepting one: only whoever has the invited email
    ("POST", f"{API}/workspaces/{{workspace_id}}/invitations"): Row(
        "admin",
        201,
        lambda c, s: (
            f"{API}/workspaces/{s.workspace}/invitations",
            {"json": {"email": fresh_email(c), "role": "viewer"}},
        ),
        writes=True,
    ),
    ("GET", f"{API}/workspaces/{{workspace_id}}/invitations"): Row(
        "admin", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}/invitations", {})
    ),
    ("DELETE", f"{API}/workspaces/{{workspace_id}}/invitations/{{invitation_id}}"): Row(
        "admin",
        204,
        lambda c, s: (
            f"{API}/workspaces/{s.workspace}/invitations/{new_invitation(c, s, fresh_email(c))['id']}",
            {},
        ),
        writes=True,
    ),
    # Sent to the newcomer, who is none of the callers: each of them is refused with 403.
    ("POST", f"{API}/invitations/{{token}}/accept"): Row(
        "invitee",
        200,
        lambda c, s: (
            f"{API}/invitations/{new_invitation(c, s, c.people['newcomer'].email)['token']}/accept",
            {},
        ),
        writes=True,
    ),
    # API keys: admin and up, reads included (PROTOCOL §5.3)
    ("POST", f"{API}/workspaces/{{workspace_id}}/api-keys"): Row(
        "admin",
        201,
        lambda c, s: (f"{API}/workspaces/{s.workspace}/api-keys", {"json": {"name": "K", "role": "viewer"}}),
        writes=True,
    ),
    ("GET", f"{API}/workspaces/{{workspace_id}}/api-keys"): Row(
        "admin", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}/api-keys", {})
    ),
    ("DELETE", f"{API}/workspaces/{{workspace_id}}/api-keys/{{key_id}}"): Row(
        "admin",
        204,
        lambda c, s: (f"{API}/workspaces/{s.workspace}/api-keys/{s.key}", {}),
        writes=True,
    ),
    # webhooks: admin and up, reads included (PROTOCOL §8)
    ("GET", f"{API}/workspaces/{{workspace_id}}/webhooks"): Row(
        "admin", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}/webhooks", {})
    ),
    ("POST", f"{API}/workspaces/{{workspace_id}}/webhooks"): Row(
        "admin",
        201,
        lambda c, s: (f"{API}/workspaces/{s.workspace}/webhooks", {"json": {"url": HOOK_URL}}),
        writes=True,
    ),
    ("GET", f"{API}/workspaces/{{workspace_id}}/webhooks/{{hook_id}}"): Row(
        "admin", 200, lambda c, s: (f"{API}/workspaces/{s.workspace}/webhooks/{s.hook}", {})
    ),
    ("PATCH", f"{API}/workspaces/{{workspace_id}}/webhooks/{{hook_id}}"): Row(
        "admin",
        200,
        lambda c, s: (
            f"{API}/workspaces/{s.workspace}/webhooks/{s.hook}",
            {"json": {"events": ["TASK_CREATED"]}},
        ),
        writes=True,
    ),
    ("DELETE", f"{API}/workspaces/{{workspace_id}}/webhooks/{{hook_id}}"): Row(
        "admin", 204, lambda c, s: (f"{API}/workspaces/{s.workspace}/webhooks/{s.hook}", {}), writes=True
    ),
    ("POST", f"{API}/workspaces/{{workspace_id}}/webhooks/{{hook_id}}/replay"): Row(
        "admin",
        200,
        lambda c, s: (f"{API}/workspaces/{s.workspace}/webhooks/{s.hook}/replay", {"json": {"sinceSeq": 0}}),
        writes=True,
    ),
}


def served_routes() -> set[tuple[str, str]]:
    """Every (method, path) the app answers, HEAD aside (it follows GET); "WS" for a WebSocket
    route, and GET `{mount}/{path}` for a mount of files."""
    from taskroom.app import create_app
    from taskroom.settings import Settings

    app = create_app(Settings(jwt_secret="only-to-list-routes-0123456789abcdef"))
    routes: set[tuple[str, str]] = set()
    for route in app.routes:
        # FastAPI keeps included routers as one entry each; their routes come from
        # `effective_route_contexts` (FastAPI is pinned in constraints.txt).
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            prefix = route.include_context.prefix  # type: ignore[attr-defined]
            for entry in contexts():
                methods = getattr(entry, "methods", None)
                if methods:
                    routes.update((method, entry.path) for method in methods)
                else:
                    routes.add(("WS", prefix + entry.original_route.path))
        elif isinstance(route, Mount):
            routes.add(("GET", f"{route.path}/{{path}}"))
        else:
            routes.update(
                (method, route.path) for method in getattr(route, "methods", None) or () if method != "HEAD"
            )
    return routes


def test_the_table_has_a_row_for_every_route_the_app_serves() -> None:
    assert set(TABLE) == served_routes()


def expected(row: Row, caller: str) -> tuple[int, str | None]:
    """(status, error code) that `caller` must get."""
    if row.access == "public":
        return row.status, None
    if caller in BAD_TOKEN_CALLERS:
        return 401, "UNAUTHORIZED"
    if row.access == "signed in":
        return row.status, None
    if row.access == "invitee":  # an invitation for someone else's email
        return 403, "FORBIDDEN"
    if caller in OUTSIDERS:
        return 404, "NOT_FOUND"
    if RANK[caller] >= RANK[row.access]:
        return row.status, None
    return 403, "FORBIDDEN"


def call(cast: Cast, scene: Scene, method: str, row: Row, caller: str) -> tuple[int, str | None]:
    """The status and error code of the caller's request."""
    path, kwargs = row.per_caller(cast, scene, caller) if row.per_caller else row.request(cast, scene)
    token = cast.as_caller(caller).token
    if method == "WS":  # the token in the query: browsers cannot set headers on a WebSocket
        return upgrade(cast, path + (f"?token={token}" if token else ""))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = cast.api.http.request(method, cast.node.base_url + path, headers=headers, **kwargs)
    assert_nothing_foreign(cast, response.text)
    code = response.json()["error"]["code"] if response.status_code >= 400 else None
    return response.status_code, code


def upgrade(cast: Cast, path: str) -> tuple[int, str | None]:
    try:
        with connect(f"ws://127.0.0.1:{cast.node.port}{path}", open_timeout=10):
            return 101, None
    except InvalidStatus as refused:
        body = refused.response.body or b""
        assert_nothing_foreign(cast, body.decode())
        return refused.response.status_code, json.loads(body)["error"]["code"]


def assert_nothing_foreign(cast: Cast, text: str) -> None:
    """Nothing of the other workspace: its text, its task. (Its id may come back in `denied`,
    the echo of an AUTHENTICATE that asked for it.)"""
    assert SECRET not in text
    assert cast.other_task not in text


@pytest.mark.parametrize("route", [f"{m} {p}" for m, p in TABLE])
def test_each_caller_gets_exactly_the_documented_answer(cast: Cast, route: str) -> None:
    method, path = route.split(" ", 1)
    row = TABLE[(method, path)]
    shared = make_scene(cast)
    owner = cast.people["owner"]
    before = workspace_state(owner, shared.workspace)
    answers: dict[str, tuple[int, str | None]] = {}
    wanted: dict[str, tuple[int, str | None]] = {}
    for caller in CALLERS:
        want = expected(row, caller)
        allowed = want[1] is None
        scene = make_scene(cast) if allowed and row.writes else shared
        answers[caller], wanted[caller] = call(cast, scene, method, row, caller), want
    assert answers == wanted
    if row.writes:  # every allowed write had a scene of its own: the refusals changed nothing
        assert workspace_state(owner, shared.workspace) == before


# --- the WebSocket table -------------------------------------------------------------------------

WS_TYPES = ["AUTHENTICATE", "PING", "SYNC_REQUEST", "USER_PRESENCE", "USER_TYPING", "CURSOR_POSITION"]


def ws_data(frame_type: str, cast: Cast, scene: Scene, token: str) -> dict[str, Any]:
    return {
        "AUTHENTICATE": {"token": token, "workspaceIds": [scene.workspace, cast.other_workspace]},
        "PING": {},
        "SYNC_REQUEST": {"workspaceId": scene.workspace, "sinceSeq": 0},
        "USER_PRESENCE": {"workspaceId": scene.workspace, "status": "away"},
        "USER_TYPING": {"workspaceId": scene.workspace, "taskId": scene.task, "isTyping": True},
        "CURSOR_POSITION": {"workspaceId": scene.workspace, "taskId": scene.task, "position": {"x": 1}},
    }[frame_type]


@pytest.fixture(scope="module")
def ws_scene(cast: Cast) -> Scene:
    """One workspace for the WebSocket tables: their frames change nothing in it."""
    return make_scene(cast)


# What the caller's own connection answers with, and what another member of the workspace
# receives, for a member of any role.
MEMBER_ANSWER = {
    "AUTHENTICATE": "AUTHENTICATE",
    "PING": "PONG",
    "SYNC_REQUEST": "SYNC_RESPONSE",
    "USER_PRESENCE": None,
    "USER_TYPING": None,
    "CURSOR_POSITION": None,
}
RELAYED = {"USER_PRESENCE", "USER_TYPING", "CURSOR_POSITION"}


def next_answer(ws: WsClient, frame_id: str) -> dict[str, Any] | None:
    """The frame answering `frame_id`, or None when the follow-up PING's PONG comes first."""
    ws.send("PING", id="after")
    while True:
        frame = ws.recv(timeout=10)
        if frame.get("replyTo") == frame_id:
            return frame
        if frame["type"] == "PONG" and frame.get("replyTo") == "after":
            return None


@pytest.mark.parametrize("frame_type", WS_TYPES)
@pytest.mark.parametrize("caller", MEMBERS + OUTSIDERS)
def test_each_websocket_message_type_answers_members_and_outsiders_as_documented(
    cast: Cast, ws_scene: Scene, caller: str, frame_type: str
) -> None:
    scene = ws_scene
    user = cast.people[caller]
    watcher = cast.people["target"]  # another member of the workspace
    with joined(cast.node, watcher) as watching, joined(cast.node, user) as ws:
        watched_from = len(watching.received)
        ws.send(frame_type, ws_data(frame_type, cast, scene, user.token), id="it")
        answer = next_answer(ws, "it")
        for frame in ws.received:
            assert_nothing_foreign(cast, json.dumps(frame))
        if caller in OUTSIDERS:
            if frame_type == "AUTHENTICATE":
                assert answer is not None and answer["type"] == "AUTHENTICATE"
                assert answer["data"]["workspaces"] == []
                assert answer["data"]["denied"] == [scene.workspace, cast.other_workspace]
            elif frame_type == "PING":
                assert answer is not None and answer["type"] == "PONG"
            else:
                assert answer is not None and answer["type"] == "ERROR", answer
                assert answer["data"]["code"] == "FORBIDDEN"
        else:
            kind = MEMBER_ANSWER[frame_type]
            assert (answer["type"] if answer else None) == kind, answer
            if frame_type == "AUTHENTICATE":
                assert [w["id"] for w in answer["data"]["workspaces"]] == [scene.workspace]  # type: ignore[index]
                assert answer["data"]["denied"] == [cast.other_workspace]  # type: ignore[index]
        # The watcher's PONG comes after anything the caller's frame made the node send it.
        watching.send("PING", id="watched")
        watching.recv_type("PONG", timeout=10)
        # (A connection of an earlier test may still be announcing its typing end or going offline.)
        relayed = [
            f
            for f in watching.received[watched_from:]
            if f["type"] in RELAYED and f["data"]["userId"] == user.id
        ]
        for frame in watching.received:
            assert_nothing_foreign(cast, json.dumps(frame))
        if caller in OUTSIDERS:
            assert relayed == []
            return
        if frame_type in RELAYED:
            sent = ws_data(frame_type, cast, scene, "")
            assert any(
                f["type"] == frame_type and all(f["data"].get(k) == v for k, v in sent.items())
                for f in relayed
            ), relayed
        else:  # only the caller's own connection coming online, announced to the members
            assert {(f["type"], f["data"]["status"]) for f in relayed} <= {("USER_PRESENCE", "online")}


@pytest.mark.parametrize("caller", BAD_TOKEN_CALLERS[1:])
def test_a_bad_token_over_the_websocket_is_unauthorized_then_closed_4401(cast: Cast, caller: str) -> None:
    token = cast.tokens[caller]
    assert token is not None
    with WsClient(cast.node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send("AUTHENTICATE", {"token": token}, id="auth")
        error = ws.recv_type("ERROR")
        assert (error["data"]["code"], error["replyTo"]) == ("UNAUTHORIZED", "auth")
        assert ws.wait_closed() == 4401


@pytest.mark.parametrize("frame_type", [t for t in WS_TYPES if t not in ("AUTHENTICATE", "PING")])
def test_before_authentication_only_authenticate_and_ping_are_taken(
    cast: Cast, ws_scene: Scene, frame_type: str
) -> None:
    scene = ws_scene
    with WsClient(cast.node.ws_url) as ws:
        ws.recv_type("CONNECT")
        ws.send(frame_type, ws_data(frame_type, cast, scene, ""), id="early")
        error = ws.recv_type("ERROR")
        assert (error["data"]["code"], error["replyTo"]) == ("NOT_AUTHENTICATED", "early")
        ws.send("PING", id="open")
        assert ws.recv_type("PONG")["replyTo"] == "open"
