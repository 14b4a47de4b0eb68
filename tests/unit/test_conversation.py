"""The conversation core as a table: an input in a state, the actions out. No socket, no clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from taskroom.durations import Seconds
from taskroom.edge.identity import Refusal, RefusalReason
from taskroom.realtime.conversation import (
    ALLOWED_TYPES,
    CURSOR_INTERVAL,
    KNOWN_TASK_SECONDS,
    TYPING_TTL,
    Action,
    AdmitUser,
    Authenticate,
    CheckRate,
    CheckTask,
    Close,
    Conversation,
    Credential,
    Join,
    Phase,
    Publish,
    ReadPage,
    Rules,
    Send,
    SendReset,
    TrackPresence,
    WakeAt,
)
from taskroom.realtime.protocol import CLIENT_TYPES
from taskroom.services.log import LogPage
from taskroom.wire import CloseCode

T0 = 1000.0
WS = "w1"
TASK = "t1"


class Counters:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.limited = 0

    def message_in(self, message_type: str) -> None:
        self.seen.append(message_type)

    def frame_rate_limited(self) -> None:
        self.limited += 1


class Rooms:
    def __init__(self, *joined: str) -> None:
        self.rooms = set(joined)

    def joined(self, workspace_id: str) -> bool:
        return workspace_id in self.rooms


def rules(**changes: Any) -> Rules:
    values: dict[str, Any] = {
        "node_id": "node-a",
        "heartbeat_interval_ms": 5000,
        "auth_timeout_ms": 10_000,
        "auth_timeout": Seconds(10.0),
        "rate": 20.0,
        "burst": 40.0,
    }
    values.update(changes)
    return Rules(**values)


def frame(type_: str, data: dict[str, Any] | None = None, id_: str | None = "f1") -> bytes:
    body: dict[str, Any] = {"type": type_}
    if data is not None:
        body["data"] = data
    if id_ is not None:
        body["id"] = id_
    return json.dumps(body).encode()


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send)]


def errors(actions: list[Action]) -> list[str]:
    return [f["data"]["code"] for f in sent(actions) if f["type"] == "ERROR"]


def closes(actions: list[Action]) -> list[int]:
    return [int(a.code) for a in actions if isinstance(a, Close)]


def wakes(actions: list[Action]) -> list[float | None]:
    return [a.when for a in actions if isinstance(a, WakeAt)]


EVERY = frozenset({WS, "w2"})


def credential(
    user_id: str = "u1", expires_in: float = 3600.0, memberships: frozenset[str] | None = EVERY
) -> Credential:
    members = None if memberships is None else set(memberships)
    return Credential(user_id, 1_900_000_000.0, expires_in, members, checked_at=7)


def new(**rule_changes: Any) -> tuple[Conversation, Counters, Rooms]:
    counters, rooms = Counters(), Rooms()
    core = Conversation(rules(**rule_changes), counters, rooms)
    core.opened("c1", T0)
    return core, counters, rooms


def authenticated(**rule_changes: Any) -> tuple[Conversation, Counters, Rooms]:
    core, counters, rooms = new(**rule_changes)
    core.receive(frame("AUTHENTICATE", {"token": "tok"}), T0)
    core.credential_checked(credential(), T0)
    core.user_admitted(True, T0)
    core.joined({WS: 0, "w2": 0}, T0)
    rooms.rooms.update({WS, "w2"})
    return core, counters, rooms


def receive(core: Conversation, raw: bytes | None, now: float, rate_allowed: bool = True) -> list[Action]:
    """A frame in, with the user's shared bucket answered as `rate_allowed` when it is asked."""
    actions = core.receive(raw, now)
    if actions and isinstance(actions[0], CheckRate):
        assert len(actions) == 1
        return core.rate_checked(rate_allowed, now)
    return actions


# --- opening and the authentication deadline --------------------------------------------------


def test_opening_greets_and_wakes_at_the_authentication_deadline() -> None:
    core = Conversation(rules(), Counters(), Rooms())
    actions = core.opened("c1", T0)
    (connect,) = sent(actions)
    assert connect["type"] == "CONNECT"
    assert connect["data"] == {
        "connectionId": "c1",
        "nodeId": "node-a",
        "heartbeatInterval": 5000,
        "authTimeout": 10_000,
    }
    assert wakes(actions) == [T0 + 10.0]
    assert core.phase is Phase.CONNECTED


@pytest.mark.parametrize(
    ("at", "expected_closes"),
    [(T0 + 9.999, []), (T0 + 10.0, [CloseCode.AUTH_TIMEOUT]), (T0 + 60.0, [CloseCode.AUTH_TIMEOUT])],
)
def test_the_authentication_deadline(at: float, expected_closes: list[int]) -> None:
    core, _, _ = new()
    assert closes(core.timer_due(at)) == expected_closes


def test_an_admitted_credential_lifts_the_authentication_deadline() -> None:
    core, _, _ = authenticated()
    assert core.auth_deadline is None
    assert closes(core.timer_due(T0 + 10.0)) == []


# --- what each phase accepts ------------------------------------------------------------------

BEFORE_AUTH = [
    ("PING", {}, None),
    ("SYNC_REQUEST", {"workspaceId": WS, "sinceSeq": 0}, "NOT_AUTHENTICATED"),
    ("USER_PRESENCE", {"workspaceId": WS, "status": "online"}, "NOT_AUTHENTICATED"),
    ("USER_TYPING", {"workspaceId": WS, "taskId": TASK, "isTyping": True}, "NOT_AUTHENTICATED"),
    ("CURSOR_POSITION", {"workspaceId": WS, "position": {"x": 1}}, "NOT_AUTHENTICATED"),
    ("PONG", {}, "UNKNOWN_TYPE"),
    ("TASK_CREATED", {}, "UNKNOWN_TYPE"),
]


@pytest.mark.parametrize(("type_", "data", "code"), BEFORE_AUTH)
def test_before_authentication(type_: str, data: dict[str, Any], code: str | None) -> None:
    core, _, _ = new()
    actions = core.receive(frame(type_, data), T0)
    if code is None:
        assert [f["type"] for f in sent(actions)] == ["PONG"]
    else:
        assert errors(actions) == [code]
        assert sent(actions)[0]["data"]["replyTo"] == "f1"
    assert closes(actions) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1,2]", "a frame must be a JSON object"),
        (b'{"type": 3}', "type: a string is required"),
        (None, "binary frames are not commands"),
        (b'{"type": "AUTHENTICATE", "data": {}}', "data.token"),
    ],
)
def test_a_frame_that_is_not_a_command_is_answered_invalid(raw: bytes | None, message: str) -> None:
    core, counters, _ = new()
    actions = core.receive(raw, T0)
    (error,) = sent(actions)
    assert error["data"]["code"] == "INVALID_MESSAGE" and message in error["data"]["message"]
    assert counters.seen == []  # not counted as a message of some type


# --- authenticating ---------------------------------------------------------------------------


def test_authenticating_asks_verify_admit_join_and_then_replies() -> None:
    core, counters, _ = new()
    request = frame("AUTHENTICATE", {"token": "tok", "workspaceIds": [WS, "nope", WS], "resume": {WS: 4}})
    assert core.receive(request, T0) == [Authenticate("tok")]
    assert core.credential_checked(credential(), T0 + 0.1) == [AdmitUser("u1")]
    assert core.phase is Phase.CONNECTED  # not until a slot is held
    actions = core.user_admitted(True, T0 + 0.2)
    assert actions[0] == Join((WS,), {WS: 4}, checked_at=7)
    assert wakes(actions) == [T0 + 0.2 + 3600.0]  # the token's expiry replaces the auth deadline
    (reply,) = sent(core.joined({WS: 12}, T0 + 0.3))
    assert reply["type"] == "AUTHENTICATE" and reply["replyTo"] == "f1"
    assert reply["data"]["success"] is True and reply["data"]["userId"] == "u1"
    assert reply["data"]["workspaces"] == [{"id": WS, "seq": 12}]
    assert reply["data"]["denied"] == ["nope"]
    assert core.phase is Phase.AUTHENTICATED and core.user_id == "u1"
    assert counters.seen == ["AUTHENTICATE"]


def test_without_workspace_ids_every_membership_is_joined_and_none_denied() -> None:
    core, _, _ = new()
    core.receive(frame("AUTHENTICATE", {"token": "tok"}), T0)
    core.credential_checked(credential(memberships=frozenset({"w2", WS})), T0)
    actions = core.user_admitted(True, T0)
    assert actions[0] == Join((WS, "w2"), {}, checked_at=7)
    assert sent(core.joined({WS: 0, "w2": 3}, T0))[0]["data"]["denied"] == []


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (Refusal(RefusalReason.INVALID, "invalid token"), "authentication failed: invalid token"),
        (Refusal(RefusalReason.EXPIRED, "token expired"), "authentication failed: token expired"),
        (Refusal(RefusalReason.SESSION_ENDED, "session ended"), "authentication failed: session ended"),
        (credential(memberships=None), "the account no longer exists"),
    ],
)
def test_a_refused_credential_is_answered_unauthorized_and_closed_4401(outcome: Any, message: str) -> None:
    core, _, _ = new()
    core.receive(frame("AUTHENTICATE", {"token": "tok"}), T0)
    actions = core.credential_checked(outcome, T0)
    (error,) = sent(actions)
    assert error["data"]["code"] == "UNAUTHORIZED" and message in error["data"]["message"]
    assert closes(actions) == [CloseCode.UNAUTHORIZED]
    assert core.phase is Phase.CLOSED and core.next_wake() is None
    assert core.receive(frame("PING", {}), T0) == []  # a closing conversation takes nothing more


def test_no_free_slot_for_the_user_closes_1013() -> None:
    core, _, _ = new()
    core.receive(frame("AUTHENTICATE", {"token": "tok"}), T0)
    core.credential_checked(credential(), T0)
    actions = core.user_admitted(False, T0)
    assert closes(actions) == [CloseCode.TRY_AGAIN_LATER]
    assert core.user_id is None


def test_re_authenticating_as_the_same_user_moves_the_expiry_and_joins_again() -> None:
    core, _, _ = authenticated()
    assert isinstance(receive(core, frame("AUTHENTICATE", {"token": "tok2"}), T0 + 5), list)
    actions = core.credential_checked(credential(expires_in=60.0), T0 + 5)
    assert isinstance(actions[0], Join)  # no second slot for the same user
    assert wakes(actions) == [T0 + 5 + 60.0]


def test_re_authenticating_as_another_user_is_refused_4401() -> None:
    core, _, _ = authenticated()
    receive(core, frame("AUTHENTICATE", {"token": "other"}), T0 + 1)
    actions = core.credential_checked(credential(user_id="u2"), T0 + 1)
    assert errors(actions) == ["UNAUTHORIZED"] and closes(actions) == [CloseCode.UNAUTHORIZED]
    assert core.user_id == "u1"


@pytest.mark.parametrize(("at", "expired"), [(T0 + 3599.9, False), (T0 + 3600.0, True)])
def test_the_token_expiry(at: float, expired: bool) -> None:
    core, _, _ = authenticated()
    actions = core.timer_due(at)
    assert errors(actions) == (["TOKEN_EXPIRED"] if expired else [])
    assert closes(actions) == ([CloseCode.UNAUTHORIZED] if expired else [])


def test_an_already_expired_credential_closes_at_the_next_wake() -> None:
    core, _, _ = new()
    core.receive(frame("AUTHENTICATE", {"token": "tok"}), T0)
    core.credential_checked(credential(expires_in=-5.0), T0)
    assert wakes(core.user_admitted(True, T0)) == [T0]


# --- rates and abuse --------------------------------------------------------------------------


def test_a_burst_is_admitted_then_rate_limited_then_closed_as_abuse() -> None:
    core, counters, _ = new(rate=1.0, burst=3.0)
    answers = [core.receive(frame("PING", {}), T0) for _ in range(3)]
    assert all(sent(a)[0]["type"] == "PONG" for a in answers)
    assert errors(core.receive(frame("PING", {}), T0)) == ["RATE_LIMITED"]
    assert errors(core.receive(frame("PING", {}), T0)) == ["RATE_LIMITED"]
    third = core.receive(frame("PING", {}), T0)  # three rejections in a row: as many as the burst
    assert errors(third) == ["RATE_LIMITED"] and closes(third) == [CloseCode.POLICY_VIOLATION]
    assert counters.limited == 3


def test_an_accepted_frame_ends_the_rejection_streak() -> None:
    core, _, _ = new(rate=1.0, burst=2.0)
    core.receive(frame("PING", {}), T0)
    core.receive(frame("PING", {}), T0)
    assert errors(core.receive(frame("PING", {}), T0)) == ["RATE_LIMITED"]
    assert sent(core.receive(frame("PING", {}), T0 + 1.0))[0]["type"] == "PONG"  # refilled
    assert closes(core.receive(frame("PING", {}), T0 + 1.0)) == []  # the streak began again


def test_once_authenticated_the_users_shared_bucket_is_asked_too() -> None:
    core, _, _ = authenticated()
    assert core.receive(frame("PING", {}), T0 + 1) == [CheckRate(1.0)]
    assert errors(core.rate_checked(False, T0 + 1)) == ["RATE_LIMITED"]
    assert core.receive(frame("CURSOR_POSITION", {"workspaceId": WS, "position": {"x": 1}}), T0 + 2) == [
        CheckRate(0.25)
    ]


def test_malformed_frames_cost_rate_too() -> None:
    core, _, _ = new(rate=1.0, burst=1.0)
    assert errors(core.receive(b"nope", T0)) == ["INVALID_MESSAGE"]
    assert errors(core.receive(b"nope", T0)) == ["RATE_LIMITED"]


# --- SYNC -------------------------------------------------------------------------------------


def test_sync_of_a_workspace_not_joined_is_forbidden() -> None:
    core, _, _ = authenticated()
    actions = receive(core, frame("SYNC_REQUEST", {"workspaceId": "w9", "sinceSeq": 0}), T0)
    assert errors(actions) == ["FORBIDDEN"] and closes(actions) == []


def test_sync_reads_a_page_and_splices_its_envelopes() -> None:
    core, _, _ = authenticated()
    actions = receive(core, frame("SYNC_REQUEST", {"workspaceId": WS, "sinceSeq": 3, "limit": 2}), T0)
    assert actions == [ReadPage(WS, 3, 2)]
    page = LogPage(envelopes=['{"seq":4}', '{"seq":5}'], latest_seq=9, has_more=True)
    (send,) = [a for a in core.page_read(page, T0) if isinstance(a, Send)]
    assert send.wait_for_room
    body = json.loads(send.text)
    assert body["data"] == {
        "workspaceId": WS,
        "events": [{"seq": 4}, {"seq": 5}],
        "latestSeq": 9,
        "hasMore": True,
    }


def test_a_sync_page_stops_at_the_byte_budget_and_says_has_more() -> None:
    core, _, _ = authenticated(page_budget=25)
    receive(core, frame("SYNC_REQUEST", {"workspaceId": WS, "sinceSeq": 0}), T0)
    big = '{"seq":1,"pad":"' + "x" * 40 + '"}'
    page = LogPage(envelopes=[big, '{"seq":2}'], latest_seq=2, has_more=False)
    body = sent(core.page_read(page, T0))[0]
    assert [e["seq"] for e in body["data"]["events"]] == [1]  # at least one, even over the budget
    assert body["data"]["hasMore"] is True


def test_a_sync_past_the_log_sends_a_reset_and_of_a_deleted_workspace_is_forbidden() -> None:
    core, _, _ = authenticated()
    receive(core, frame("SYNC_REQUEST", {"workspaceId": WS, "sinceSeq": 0}), T0)
    assert core.page_gone(T0) == [SendReset(WS, "f1")]
    receive(core, frame("SYNC_REQUEST", {"workspaceId": WS, "sinceSeq": 0}), T0)
    assert errors(core.page_missing(T0)) == ["FORBIDDEN"]


# --- presence, typing, cursors ----------------------------------------------------------------

FEATURES = [
    ("presence", "USER_PRESENCE", {"workspaceId": WS, "status": "away"}),
    ("typing", "USER_TYPING", {"workspaceId": WS, "taskId": TASK, "isTyping": True}),
    ("cursors", "CURSOR_POSITION", {"workspaceId": WS, "position": {"x": 1}}),
]


@pytest.mark.parametrize(("feature", "type_", "data"), FEATURES)
def test_a_switched_off_feature_is_refused(feature: str, type_: str, data: dict[str, Any]) -> None:
    core, _, _ = authenticated(**{feature: False})
    assert errors(receive(core, frame(type_, data), T0)) == ["FEATURE_DISABLED"]


@pytest.mark.parametrize(("feature", "type_", "data"), FEATURES)
def test_a_room_not_joined_is_refused(feature: str, type_: str, data: dict[str, Any]) -> None:
    core, _, rooms = authenticated()
    rooms.rooms.clear()  # removed from the workspace behind the conversation's back
    assert errors(receive(core, frame(type_, data), T0)) == ["FORBIDDEN"]


def test_presence_is_tracked() -> None:
    core, _, _ = authenticated()
    actions = receive(core, frame("USER_PRESENCE", {"workspaceId": WS, "status": "busy"}), T0)
    assert actions == [TrackPresence(WS, "busy")]


def typing(is_typing: bool, task: str = TASK) -> bytes:
    return frame("USER_TYPING", {"workspaceId": WS, "taskId": task, "isTyping": is_typing})


def published(actions: list[Action]) -> list[dict[str, Any]]:
    return [json.loads(a.text)["data"] for a in actions if isinstance(a, Publish)]


def test_typing_starts_after_its_task_is_checked_and_stops_by_itself() -> None:
    core, _, _ = authenticated()
    assert receive(core, typing(True), T0) == [CheckTask(WS, TASK)]
    actions = core.task_checked(True, T0)
    assert published(actions) == [{"workspaceId": WS, "taskId": TASK, "userId": "u1", "isTyping": True}]
    assert wakes(actions) == [T0 + TYPING_TTL]
    assert published(core.timer_due(T0 + TYPING_TTL - 0.01)) == []
    assert published(core.timer_due(T0 + TYPING_TTL))[0]["isTyping"] is False
    assert core.typing_deadlines == {}


def test_typing_of_no_task_of_the_workspace_is_invalid() -> None:
    core, _, _ = authenticated()
    receive(core, typing(True), T0)
    actions = core.task_checked(False, T0)
    assert errors(actions) == ["INVALID_MESSAGE"] and published(actions) == []


def test_a_stop_never_started_of_no_task_is_dropped_quietly() -> None:
    core, _, _ = authenticated()
    assert receive(core, typing(False), T0) == [CheckTask(WS, TASK)]
    assert core.task_checked(False, T0) == []


def test_a_stop_of_typing_it_started_is_relayed_without_a_check() -> None:
    core, _, _ = authenticated()
    receive(core, typing(True), T0)
    core.task_checked(True, T0)
    core.known_tasks = None  # even with the check forgotten, and the task deleted meanwhile
    actions = receive(core, typing(False), T0 + 1)
    assert published(actions)[0]["isTyping"] is False


def test_a_checked_task_is_known_for_a_while_then_checked_again() -> None:
    core, _, _ = authenticated()
    receive(core, typing(True), T0)
    core.task_checked(True, T0)
    assert published(receive(core, typing(True), T0 + 1))  # no CheckTask
    assert receive(core, typing(True), T0 + KNOWN_TASK_SECONDS + 1) == [CheckTask(WS, TASK)]


def cursor(x: int, task: str | None = None) -> bytes:
    data: dict[str, Any] = {"workspaceId": WS, "position": {"x": x}}
    if task is not None:
        data["taskId"] = task
    return frame("CURSOR_POSITION", data)


def test_cursors_are_thinned_latest_wins() -> None:
    core, _, _ = authenticated()
    assert published(receive(core, cursor(1), T0))[0]["position"] == {"x": 1}
    held = receive(core, cursor(2), T0 + 0.01)
    assert published(held) == [] and wakes(held) == [T0 + CURSOR_INTERVAL]
    assert published(receive(core, cursor(3), T0 + 0.02)) == []
    flushed = core.timer_due(T0 + CURSOR_INTERVAL)
    assert [p["position"] for p in published(flushed)] == [{"x": 3}]  # the newest, once
    assert published(core.timer_due(T0 + 1)) == []


def test_a_held_cursor_is_not_sent_to_a_room_left_meanwhile() -> None:
    core, _, rooms = authenticated()
    receive(core, cursor(1), T0)
    receive(core, cursor(2), T0 + 0.01)
    rooms.rooms.clear()
    assert published(core.timer_due(T0 + CURSOR_INTERVAL)) == []


def test_a_cursor_over_a_task_checks_the_task_first() -> None:
    core, _, _ = authenticated()
    assert receive(core, cursor(1, task=TASK), T0) == [CheckTask(WS, TASK)]
    assert published(core.task_checked(True, T0))[0]["taskId"] == TASK
    receive(core, cursor(1, task="gone"), T0 + 1)
    assert errors(core.task_checked(False, T0 + 1)) == ["INVALID_MESSAGE"]


# --- the end, and failures --------------------------------------------------------------------


def test_closing_stops_the_typing_it_started_and_wakes_for_nothing() -> None:
    core, _, _ = authenticated()
    receive(core, typing(True), T0)
    core.task_checked(True, T0)
    stops = core.closed()
    assert published(stops) == [{"workspaceId": WS, "taskId": TASK, "userId": "u1", "isTyping": False}]
    assert core.next_wake() is None and core.timer_due(T0 + 100) == []


def test_a_failed_action_answers_internal_to_the_frame_it_was_for() -> None:
    core, _, _ = authenticated()
    receive(core, frame("SYNC_REQUEST", {"workspaceId": WS, "sinceSeq": 0}, id_="s7"), T0)
    (error,) = sent(core.failed())
    assert error["data"] == {"code": "INTERNAL", "message": "internal error", "replyTo": "s7"}


def test_an_answer_to_no_question_is_a_caller_bug() -> None:
    core, _, _ = authenticated()
    with pytest.raises(RuntimeError, match="did not ask"):
        core.task_checked(True, T0)


def test_only_a_moved_deadline_asks_for_a_new_wake_up() -> None:
    core, _, _ = authenticated()
    assert wakes(receive(core, frame("PING", {}), T0 + 1)) == []  # the token's expiry still stands
    # A wake-up is spent once taken, so the one that finds nothing due asks afresh.
    assert wakes(core.timer_due(T0 + 2)) == [T0 + 3600.0]


# --- the phase table --------------------------------------------------------------------------

VALID_DATA: dict[str, dict[str, Any]] = {
    "AUTHENTICATE": {"token": "tok"},
    "PING": {},
    "USER_PRESENCE": {"workspaceId": WS, "status": "away"},
    "USER_TYPING": {"workspaceId": WS, "taskId": TASK, "isTyping": True},
    "CURSOR_POSITION": {"workspaceId": WS, "position": {"x": 1}},
    "SYNC_REQUEST": {"workspaceId": WS, "sinceSeq": 0},
}
# Written out independently of ALLOWED_TYPES so the table is checked, not restated: None is
# "handled", a code is the error it is answered with, "nothing" is no answer at all.
EXPECTED: dict[Phase, dict[str, str | None]] = {
    Phase.CONNECTED: {t: None if t in ("AUTHENTICATE", "PING") else "NOT_AUTHENTICATED" for t in VALID_DATA},
    Phase.AUTHENTICATED: dict.fromkeys(VALID_DATA),
    Phase.CLOSED: dict.fromkeys(VALID_DATA, "nothing"),
}


def in_phase(phase: Phase) -> Conversation:
    core, _, _ = new() if phase is Phase.CONNECTED else authenticated()
    if phase is Phase.CLOSED:
        core.closed()
    assert core.phase is phase
    return core


@pytest.mark.parametrize(("phase", "type_"), [(p, t) for p in Phase for t in sorted(VALID_DATA)])
def test_the_phase_table_for_every_phase_and_client_type(phase: Phase, type_: str) -> None:
    core = in_phase(phase)
    actions = receive(core, frame(type_, VALID_DATA[type_]), T0 + 1)
    expected = EXPECTED[phase][type_]
    if expected == "nothing":
        assert actions == []
    elif expected is None:
        assert errors(actions) == []
        assert actions  # answered, or a question asked on its way to an answer
    else:
        assert errors(actions) == [expected]
    assert core.phase is phase  # being handled never moves the phase by itself


def test_the_phase_table_names_every_phase_and_only_client_types() -> None:
    assert set(ALLOWED_TYPES) == set(Phase)
    assert all(allowed <= CLIENT_TYPES for allowed in ALLOWED_TYPES.values())


@pytest.mark.parametrize("phase", list(Phase))
def test_closing_is_reachable_from_every_phase_and_idempotent(phase: Phase) -> None:
    core = in_phase(phase)
    core.closed()
    assert core.closed() == [] and core.phase is Phase.CLOSED
