"""Specification of the WebSocket protocol core (PROTOCOL.md §3): parsing, phases, encoding, throttling."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest

from taskroom import wire
from taskroom.documents import endpoint, service
from taskroom.realtime.protocol import (
    CLIENT_FRAME_ADAPTER,
    CLIENT_TYPES,
    EVENT_TYPES,
    AuthenticateData,
    AuthenticateFrame,
    CloseCode,
    CursorPositionData,
    CursorPositionFrame,
    ErrorCode,
    FeatureDisabled,
    Forbidden,
    InternalError,
    InvalidMessage,
    LatestWinsThrottle,
    MessageType,
    NotAuthenticated,
    PingFrame,
    ProtocolError,
    RateLimited,
    SyncRequestFrame,
    TokenExpired,
    Unauthorized,
    UnknownType,
    UserPresenceFrame,
    UserTypingFrame,
    encode_error,
    encode_server_frame,
    iso_now,
    parse_client_frame,
)
from taskroom.timeutil import format_timestamp

# One valid `data` per client type; every test that needs "a valid frame of type X" starts here.
VALID_DATA: dict[MessageType, dict[str, Any]] = {
    MessageType.AUTHENTICATE: {"token": "header.payload.signature"},
    MessageType.PING: {},
    MessageType.USER_PRESENCE: {"workspaceId": "w1", "status": "away"},
    MessageType.USER_TYPING: {"workspaceId": "w1", "taskId": "t1", "isTyping": True},
    MessageType.CURSOR_POSITION: {"workspaceId": "w1", "taskId": "t1", "position": {"x": 10, "y": 20}},
    MessageType.SYNC_REQUEST: {"workspaceId": "w1", "sinceSeq": 0},
}

FRAME_CLASSES = {
    MessageType.AUTHENTICATE: AuthenticateFrame,
    MessageType.PING: PingFrame,
    MessageType.USER_PRESENCE: UserPresenceFrame,
    MessageType.USER_TYPING: UserTypingFrame,
    MessageType.CURSOR_POSITION: CursorPositionFrame,
    MessageType.SYNC_REQUEST: SyncRequestFrame,
}

SERVER_ONLY_TYPES = sorted(set(MessageType) - CLIENT_TYPES)
TIMESTAMP_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def raw_frame(type_: str, data: Any = None, **envelope: Any) -> str:
    frame: dict[str, Any] = {"type": type_, **envelope}
    if data is not None:
        frame["data"] = data
    return json.dumps(frame)


def with_data(type_: MessageType, **changes: Any) -> str:
    """A frame of ``type_`` whose valid data has ``changes`` applied (a value of ``...`` removes the key)."""
    data = {**VALID_DATA[type_], **changes}
    return raw_frame(type_, {key: value for key, value in data.items() if value is not ...})


def invalid(raw: str | bytes) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as info:
        parse_client_frame(raw)
    return info.value


def valid_frame(type_: MessageType, frame_id: str | None = "c1") -> Any:
    extra = {} if frame_id is None else {"id": frame_id}
    return parse_client_frame(raw_frame(type_, VALID_DATA[type_], **extra))


# --------------------------------------------------------------------------- vocabulary


def test_message_types_cover_the_contract() -> None:
    assert {
        "CONNECT",
        "AUTHENTICATE",
        "PING",
        "PONG",
        "ERROR",
        "SYNC_REQUEST",
        "SYNC_RESPONSE",
        "PRESENCE_STATE",
        "USER_PRESENCE",
        "USER_TYPING",
        "CURSOR_POSITION",
        "WORKSPACE_CREATED",
        "NOTIFICATION",  # §7, user-targeted like WORKSPACE_CREATED
    } | {str(t) for t in EVENT_TYPES} == {str(t) for t in MessageType}


def test_event_types_are_the_logged_events_of_section_3_2_and_the_role_change_addition() -> None:
    assert {str(t) for t in EVENT_TYPES} == {
        "WORKSPACE_MEMBER_UPDATED",
        "TASK_RESTORED",  # §7, the trash
        "COMMENT_ADDED",  # §7, comments
        "COMMENT_UPDATED",
        "COMMENT_DELETED",
        "TASK_CREATED",
        "TASK_UPDATED",
        "TASK_DELETED",
        "TASK_COMPLETED",
        "TASK_MOVED",
        "WORKSPACE_UPDATED",
        "WORKSPACE_DELETED",
        "WORKSPACE_MEMBER_ADDED",
        "WORKSPACE_MEMBER_REMOVED",
    }


def test_close_codes_have_the_contract_values() -> None:
    assert {code.name: int(code) for code in CloseCode} == {
        "GOING_AWAY": 1001,
        "PROTOCOL_ERROR": 1002,
        "UNSUPPORTED_DATA": 1003,
        "POLICY_VIOLATION": 1008,
        "MESSAGE_TOO_BIG": 1009,
        "TRY_AGAIN_LATER": 1013,
        "UNAUTHORIZED": 4401,
        "NO_LONGER_MEMBER": 4403,
        "TASK_DELETED": 4404,
        "AUTH_TIMEOUT": 4408,
        "DOCUMENT_TOO_LARGE": 4413,
    }


def test_both_socket_endpoints_close_with_the_one_set_of_codes() -> None:
    # The document endpoint once had a class of its own that named 4401 differently.
    assert endpoint.CloseCode is service.CloseCode is wire.CloseCode is CloseCode


def test_every_error_code_has_exactly_one_error_class() -> None:
    classes = ProtocolError.__subclasses__()
    assert sorted(str(cls.code) for cls in classes) == sorted(str(code) for code in ErrorCode)


@pytest.mark.parametrize("cls", [NotAuthenticated, Forbidden, FeatureDisabled, RateLimited, InternalError])
def test_caller_built_errors_carry_message_and_reply_to(cls: type[ProtocolError]) -> None:
    err = cls("not now", reply_to="c9")
    assert (err.message, err.reply_to, str(err)) == ("not now", "c9", "not now")
    assert cls("no id").reply_to is None


def test_only_token_errors_close_the_connection_with_4401() -> None:
    closing = {cls for cls in ProtocolError.__subclasses__() if cls.close_code is not None}
    assert closing == {Unauthorized, TokenExpired}
    assert Unauthorized.close_code == TokenExpired.close_code == CloseCode.UNAUTHORIZED


# --------------------------------------------------------------------------- parsing: valid frames


@pytest.mark.parametrize("type_", sorted(VALID_DATA))
def test_every_client_type_parses_into_its_frame_model(type_: MessageType) -> None:
    frame = parse_client_frame(raw_frame(type_, VALID_DATA[type_], id="c1"))
    assert isinstance(frame, FRAME_CLASSES[type_])
    assert frame.type == type_
    assert frame.id == "c1"


def test_client_types_are_exactly_the_six_the_client_may_send() -> None:
    assert set(VALID_DATA) == CLIENT_TYPES


def test_original_design_authenticate_example_validates() -> None:
    frame = parse_client_frame(
        '{"type": "AUTHENTICATE", "data": {"token": "..."}, "timestamp": 1732630000000}'
    )
    assert isinstance(frame, AuthenticateFrame)
    assert frame.data.token == "..."
    assert frame.data.workspace_ids is None
    assert frame.data.resume is None


@pytest.mark.parametrize("timestamp", ["2026-11-26T14:00:00.000Z", "whatever", 1732630000000, 1.5, None])
def test_timestamp_may_be_a_string_or_a_number_and_is_ignored(timestamp: Any) -> None:
    assert isinstance(parse_client_frame(raw_frame("PING", {}, timestamp=timestamp)), PingFrame)


def test_authenticate_reads_camel_case_workspace_ids_and_resume() -> None:
    frame = parse_client_frame(
        with_data(MessageType.AUTHENTICATE, workspaceIds=["w1", "w2"], resume={"w1": 0})
    )
    assert isinstance(frame, AuthenticateFrame)
    assert frame.data.workspace_ids == ["w1", "w2"]
    assert frame.data.resume == {"w1": 0}


def test_fields_are_snake_case_in_python() -> None:
    frame = parse_client_frame(with_data(MessageType.USER_TYPING))
    assert isinstance(frame, UserTypingFrame)
    assert (frame.data.workspace_id, frame.data.task_id, frame.data.is_typing) == ("w1", "t1", True)


def test_models_can_be_built_by_python_field_name() -> None:
    data = CursorPositionData(workspace_id="w1", position={"x": 1})
    assert data.task_id is None
    assert data.model_dump(by_alias=True) == {"workspaceId": "w1", "taskId": None, "position": {"x": 1}}


def test_ping_data_may_be_absent_or_null_or_any_object() -> None:
    for raw in ['{"type":"PING"}', '{"type":"PING","data":null}', '{"type":"PING","data":{"anything":[1]}}']:
        assert isinstance(parse_client_frame(raw), PingFrame)


def test_absent_data_counts_as_an_empty_object() -> None:
    assert invalid('{"type":"AUTHENTICATE"}').message == "data.token: Field required"
    assert invalid('{"type":"AUTHENTICATE","data":null}').message == "data.token: Field required"


def test_unknown_fields_are_ignored_so_newer_clients_keep_working() -> None:
    raw = raw_frame("USER_PRESENCE", {**VALID_DATA[MessageType.USER_PRESENCE], "mood": "happy"}, v=2)
    frame = parse_client_frame(raw)
    assert isinstance(frame, UserPresenceFrame)
    assert frame.data.status == "away"


@pytest.mark.parametrize("status", ["online", "away", "busy"])
def test_presence_accepts_the_three_client_statuses(status: str) -> None:
    frame = parse_client_frame(with_data(MessageType.USER_PRESENCE, status=status))
    assert isinstance(frame, UserPresenceFrame)
    assert frame.data.status == status


def test_cursor_task_id_may_be_absent_or_null() -> None:
    for task_id in (..., None):
        frame = parse_client_frame(with_data(MessageType.CURSOR_POSITION, taskId=task_id))
        assert isinstance(frame, CursorPositionFrame)
        assert frame.data.task_id is None


def test_cursor_position_at_the_size_limits_is_accepted() -> None:
    many_keys = {f"k{i}": i for i in range(32)}
    exactly_1024 = {"p": "x" * (1024 - len('{"p":""}'))}
    assert len(json.dumps(exactly_1024, separators=(",", ":")).encode()) == 1024
    for position in (many_keys, exactly_1024, {}, {"nested": {"a": [1, 2.5, None, True]}}):
        frame = parse_client_frame(with_data(MessageType.CURSOR_POSITION, position=position))
        assert isinstance(frame, CursorPositionFrame)
        assert frame.data.position == position


def test_cursor_size_counts_utf8_bytes_not_characters() -> None:
    # "é" is 2 bytes in UTF-8: 600 of them are 1200 bytes though only 600 characters.
    assert (
        "data.position" in invalid(with_data(MessageType.CURSOR_POSITION, position={"p": "é" * 600})).message
    )


def test_sync_limit_defaults_to_500_and_accepts_1_to_1000() -> None:
    default = parse_client_frame(with_data(MessageType.SYNC_REQUEST))
    assert isinstance(default, SyncRequestFrame)
    assert (default.data.since_seq, default.data.limit) == (0, 500)
    for limit in (1, 1000):
        frame = parse_client_frame(with_data(MessageType.SYNC_REQUEST, sinceSeq=41, limit=limit))
        assert isinstance(frame, SyncRequestFrame)
        assert (frame.data.since_seq, frame.data.limit) == (41, limit)


def test_ids_of_128_characters_are_accepted() -> None:
    frame = parse_client_frame(
        raw_frame("USER_PRESENCE", {"workspaceId": "w" * 128, "status": "busy"}, id="i" * 128)
    )
    assert isinstance(frame, UserPresenceFrame)
    assert frame.id == "i" * 128


def test_bytes_and_text_parse_alike() -> None:
    raw = with_data(MessageType.USER_TYPING, taskId="tâche")
    assert parse_client_frame(raw) == parse_client_frame(raw.encode())


def test_one_type_adapter_validates_a_whole_frame() -> None:
    frame = CLIENT_FRAME_ADAPTER.validate_python(
        {"type": "SYNC_REQUEST", "data": {"workspaceId": "w", "sinceSeq": 3}}
    )
    assert isinstance(frame, SyncRequestFrame)


def test_frames_are_immutable() -> None:
    frame = parse_client_frame(with_data(MessageType.AUTHENTICATE))
    assert isinstance(frame, AuthenticateFrame)
    with pytest.raises(ValueError):
        frame.data.token = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- parsing: invalid frames

TOO_LONG_ID = "x" * 129

INVALID_DATA: list[tuple[MessageType, dict[str, Any], str]] = [
    # (type, changes to the valid data, field named in the error)
    (MessageType.AUTHENTICATE, {"token": ...}, "data.token: Field required"),
    (MessageType.AUTHENTICATE, {"token": ""}, "data.token"),
    (MessageType.AUTHENTICATE, {"token": 42}, "data.token"),
    (MessageType.AUTHENTICATE, {"token": "x" * 8193}, "data.token"),
    (MessageType.AUTHENTICATE, {"workspaceIds": "w1"}, "data.workspaceIds"),
    (MessageType.AUTHENTICATE, {"workspaceIds": ["w1", 2]}, "data.workspaceIds.1"),
    (MessageType.AUTHENTICATE, {"workspaceIds": [""]}, "data.workspaceIds.0"),
    (MessageType.AUTHENTICATE, {"workspaceIds": [f"w{i}" for i in range(1001)]}, "data.workspaceIds"),
    (MessageType.AUTHENTICATE, {"resume": {"w1": -1}}, "data.resume.w1"),
    (MessageType.AUTHENTICATE, {"resume": {"w1": "3"}}, "data.resume.w1"),
    (MessageType.AUTHENTICATE, {"resume": {"w1": 1.5}}, "data.resume.w1"),
    (MessageType.AUTHENTICATE, {"resume": {"w1": True}}, "data.resume.w1"),
    (MessageType.AUTHENTICATE, {"resume": [["w1", 1]]}, "data.resume"),
    (MessageType.AUTHENTICATE, {"resume": {f"w{i}": i for i in range(1001)}}, "data.resume"),
    (MessageType.USER_PRESENCE, {"workspaceId": ...}, "data.workspaceId: Field required"),
    (MessageType.USER_PRESENCE, {"workspaceId": ""}, "data.workspaceId"),
    (MessageType.USER_PRESENCE, {"workspaceId": TOO_LONG_ID}, "data.workspaceId"),
    (MessageType.USER_PRESENCE, {"workspaceId": 7}, "data.workspaceId"),
    (MessageType.USER_PRESENCE, {"status": "offline"}, "data.status"),
    (MessageType.USER_PRESENCE, {"status": "ONLINE"}, "data.status"),
    (MessageType.USER_PRESENCE, {"status": ...}, "data.status: Field required"),
    (MessageType.USER_TYPING, {"taskId": ...}, "data.taskId: Field required"),
    (MessageType.USER_TYPING, {"taskId": None}, "data.taskId"),
    (MessageType.USER_TYPING, {"isTyping": "true"}, "data.isTyping"),
    (MessageType.USER_TYPING, {"isTyping": 1}, "data.isTyping"),
    (MessageType.USER_TYPING, {"isTyping": ...}, "data.isTyping: Field required"),
    (MessageType.CURSOR_POSITION, {"position": ...}, "data.position: Field required"),
    (MessageType.CURSOR_POSITION, {"position": [1, 2]}, "data.position"),
    (MessageType.CURSOR_POSITION, {"position": "10,20"}, "data.position"),
    (MessageType.CURSOR_POSITION, {"position": {f"k{i}": i for i in range(33)}}, "data.position"),
    (MessageType.CURSOR_POSITION, {"position": {"p": "x" * 1020}}, "data.position"),
    (MessageType.CURSOR_POSITION, {"taskId": 5}, "data.taskId"),
    (MessageType.CURSOR_POSITION, {"workspaceId": ...}, "data.workspaceId: Field required"),
    (MessageType.SYNC_REQUEST, {"sinceSeq": -1}, "data.sinceSeq"),
    (MessageType.SYNC_REQUEST, {"sinceSeq": "0"}, "data.sinceSeq"),
    (MessageType.SYNC_REQUEST, {"sinceSeq": 1.0}, "data.sinceSeq"),
    (MessageType.SYNC_REQUEST, {"sinceSeq": False}, "data.sinceSeq"),
    (MessageType.SYNC_REQUEST, {"sinceSeq": ...}, "data.sinceSeq: Field required"),
    (MessageType.SYNC_REQUEST, {"limit": 0}, "data.limit"),
    (MessageType.SYNC_REQUEST, {"limit": 1001}, "data.limit"),
    (MessageType.SYNC_REQUEST, {"limit": None}, "data.limit"),
]


@pytest.mark.parametrize(
    ("type_", "changes", "named"), INVALID_DATA, ids=[f"{t}-{n}" for t, _, n in INVALID_DATA]
)
def test_invalid_data_is_invalid_message_naming_the_field(
    type_: MessageType, changes: dict[str, Any], named: str
) -> None:
    assert named in invalid(with_data(type_, **changes)).message


@pytest.mark.parametrize("type_", sorted(VALID_DATA))
def test_data_that_is_not_an_object_is_invalid_message(type_: MessageType) -> None:
    assert invalid(raw_frame(type_, ["not", "an", "object"])).message.startswith("data: ")


def test_malformed_json_is_invalid_message_with_no_reply_to() -> None:
    err = invalid('{"type": "PING", "id": "c1"')
    assert err.code == ErrorCode.INVALID_MESSAGE
    assert err.message.startswith("malformed JSON")
    assert err.reply_to is None


@pytest.mark.parametrize("raw", ["[]", '"PING"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_invalid_message(raw: str) -> None:
    assert invalid(raw).message == "a frame must be a JSON object"


@pytest.mark.parametrize("raw", [b"\xff\xfe", b'{"type":"PING","id":"\xc3\x28"}', b"\xef\xbb\xbf{}"])
def test_bytes_that_are_not_utf8_json_are_invalid_message(raw: bytes) -> None:
    assert invalid(raw).reply_to is None


def test_text_with_a_lone_surrogate_is_invalid_message() -> None:
    assert invalid('{"type":"PING","id":"\ud800"}').message.startswith("malformed text")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(number: str) -> None:
    invalid(f'{{"type":"PING","timestamp":{number}}}')


def test_deeply_nested_json_is_invalid_message_not_a_crash() -> None:
    invalid('{"type":"PING","data":{"x":' + "[" * 10_000 + "]" * 10_000 + "}}")


@pytest.mark.parametrize("raw", ['{"data":{}}', '{"type":null}', '{"type":5}', '{"type":["PING"]}'])
def test_missing_or_non_string_type_is_invalid_message(raw: str) -> None:
    assert invalid(raw).message.startswith("type:")


def test_unknown_type_is_unknown_type_answering_the_frame_id() -> None:
    with pytest.raises(UnknownType) as info:
        parse_client_frame('{"type":"TELEPORT","id":"c7"}')
    assert info.value.code == ErrorCode.UNKNOWN_TYPE
    assert info.value.reply_to == "c7"
    assert "TELEPORT" in info.value.message


@pytest.mark.parametrize("type_", SERVER_ONLY_TYPES)
def test_server_only_types_sent_by_a_client_are_unknown_type(type_: MessageType) -> None:
    with pytest.raises(UnknownType):
        parse_client_frame(raw_frame(type_, {}))


@pytest.mark.parametrize("type_", ["ping", "Authenticate", " PING", ""])
def test_types_are_matched_exactly(type_: str) -> None:
    with pytest.raises(UnknownType):
        parse_client_frame(raw_frame(type_, {}))


def test_a_very_long_unknown_type_is_not_echoed_in_full() -> None:
    with pytest.raises(UnknownType) as info:
        parse_client_frame(raw_frame("X" * 10_000, {}))
    assert len(info.value.message) < 200


def test_invalid_field_error_answers_the_frame_id() -> None:
    err = invalid(raw_frame("SYNC_REQUEST", {"workspaceId": "w1"}, id="req-1"))
    assert err.message == "data.sinceSeq: Field required"
    assert err.reply_to == "req-1"


def test_every_failing_field_is_named() -> None:
    err = invalid(raw_frame("USER_TYPING", {}))
    assert err.message == (
        "data.workspaceId: Field required; data.taskId: Field required; data.isTyping: Field required"
    )


def test_error_message_length_is_bounded_when_many_fields_fail() -> None:
    err = invalid(with_data(MessageType.AUTHENTICATE, workspaceIds=[1] * 1000))
    assert err.message.count("data.workspaceIds.") == 5
    assert err.message.endswith("and 995 more")


@pytest.mark.parametrize(
    ("envelope", "reply_to"),
    [
        ({"id": "c1"}, "c1"),
        ({"id": 5}, None),
        ({"id": None}, None),
        ({}, None),
        ({"id": TOO_LONG_ID}, TOO_LONG_ID),
    ],
)
def test_reply_to_is_the_raw_frames_string_id(envelope: dict[str, Any], reply_to: str | None) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_frame(raw_frame("AUTHENTICATE", {}, **envelope))
    assert info.value.reply_to == reply_to


@pytest.mark.parametrize("envelope", [{"id": 5}, {"id": TOO_LONG_ID}, {"timestamp": True}, {"timestamp": {}}])
def test_invalid_envelope_fields_are_invalid_message(envelope: dict[str, Any]) -> None:
    name = next(iter(envelope))
    assert invalid(raw_frame("PING", {}, **envelope)).message.startswith(f"{name}:")


# --------------------------------------------------------------------------- encoding server frames


def test_server_frame_is_compact_json_type_data_timestamp() -> None:
    text = encode_server_frame(MessageType.PONG, {"serverTime": "t0"}, timestamp="2026-11-26T14:00:00.000Z")
    assert text == '{"type":"PONG","data":{"serverTime":"t0"},"timestamp":"2026-11-26T14:00:00.000Z"}'


def test_reply_to_seq_and_event_id_appear_only_when_given() -> None:
    text = encode_server_frame("TASK_CREATED", {}, reply_to="c1", seq=0, event_id="e1", timestamp="t")
    assert text == '{"type":"TASK_CREATED","data":{},"timestamp":"t","replyTo":"c1","seq":0,"eventId":"e1"}'
    assert list(json.loads(encode_server_frame("PONG", {}, seq=7))) == ["type", "data", "timestamp", "seq"]


def test_timestamp_defaults_to_now_in_wire_format() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    stamp = json.loads(encode_server_frame("PONG", {}))["timestamp"]
    assert TIMESTAMP_FORMAT.match(stamp)
    assert before <= datetime.fromisoformat(stamp) <= datetime.now(UTC)
    assert TIMESTAMP_FORMAT.match(iso_now())


def test_non_ascii_text_is_sent_as_utf8_not_escaped() -> None:
    assert '"title":"Café ✓"' in encode_server_frame("TASK_UPDATED", {"title": "Café ✓"}, timestamp="t")


def test_data_that_json_cannot_hold_raises() -> None:
    with pytest.raises(TypeError):
        encode_server_frame("PONG", {"when": datetime.now(UTC)})
    with pytest.raises(ValueError):
        encode_server_frame("PONG", {"x": float("nan")})


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 26, 14, 0, tzinfo=UTC), "2026-11-26T14:00:00.000Z"),
        (datetime(2026, 11, 26, 14, 0, 0, 123_999, tzinfo=UTC), "2026-11-26T14:00:00.123Z"),
        (
            datetime(2026, 11, 26, 15, 30, tzinfo=timezone(timedelta(hours=1, minutes=30))),
            "2026-11-26T14:00:00.000Z",
        ),
        (datetime(2026, 11, 26, 14, 0), "2026-11-26T14:00:00.000Z"),  # naive is UTC
    ],
)
def test_format_timestamp_is_utc_with_milliseconds_and_z(moment: datetime, expected: str) -> None:
    assert format_timestamp(moment) == expected


def test_error_frame_answers_the_failing_frame() -> None:
    text = encode_error(RateLimited("slow down", reply_to="c3"), timestamp="t")
    assert text == (
        '{"type":"ERROR","data":{"code":"RATE_LIMITED","message":"slow down","replyTo":"c3"},'
        '"timestamp":"t","replyTo":"c3"}'
    )


def test_error_frame_without_an_id_has_no_reply_to() -> None:
    frame = json.loads(encode_error(invalid("{")))
    assert frame["type"] == "ERROR"
    assert frame["data"]["code"] == "INVALID_MESSAGE"
    assert "replyTo" not in frame
    assert "replyTo" not in frame["data"]


def test_authenticate_data_round_trips_through_aliases() -> None:
    data = AuthenticateData(token="t", workspace_ids=["w1"], resume={"w1": 3})
    raw = raw_frame("AUTHENTICATE", data.model_dump(by_alias=True, exclude_none=True))
    assert parse_client_frame(raw).data == data


# --------------------------------------------------------------------------- cursor throttle


def test_first_offer_goes_at_once() -> None:
    throttle: LatestWinsThrottle[str] = LatestWinsThrottle(min_interval=50)
    assert throttle.offer(0, "a") == "a"
    assert throttle.due_at() is None


def test_offers_within_the_interval_are_held_and_the_latest_wins() -> None:
    throttle: LatestWinsThrottle[str] = LatestWinsThrottle(min_interval=50)
    throttle.offer(0, "a")
    assert throttle.offer(10, "b") is None
    assert throttle.offer(20, "c") is None
    assert throttle.due_at() == 50
    assert throttle.take_due(49) is None
    assert throttle.take_due(50) == "c"  # "b" was superseded and is never sent


def test_a_held_item_is_released_once() -> None:
    throttle: LatestWinsThrottle[str] = LatestWinsThrottle(min_interval=50)
    throttle.offer(0, "a")
    throttle.offer(10, "b")
    assert throttle.take_due(60) == "b"
    assert throttle.take_due(500) is None
    assert throttle.due_at() is None


def test_a_release_restarts_the_interval() -> None:
    throttle: LatestWinsThrottle[str] = LatestWinsThrottle(min_interval=50)
    throttle.offer(0, "a")
    throttle.offer(10, "b")
    throttle.take_due(70)
    assert throttle.offer(100, "c") is None  # only 30 after "b" went
    assert throttle.due_at() == 120


def test_an_offer_once_due_goes_at_once_and_drops_the_older_pending_item() -> None:
    throttle: LatestWinsThrottle[str] = LatestWinsThrottle(min_interval=50)
    throttle.offer(0, "a")
    throttle.offer(10, "b")
    assert throttle.offer(80, "c") == "c"
    assert throttle.due_at() is None
    assert throttle.take_due(1000) is None


def test_take_due_with_nothing_pending_is_none() -> None:
    throttle: LatestWinsThrottle[str] = LatestWinsThrottle(min_interval=50)
    assert throttle.take_due(0) is None
    throttle.offer(0, "a")
    assert throttle.take_due(100) is None


def test_zero_interval_never_holds() -> None:
    throttle: LatestWinsThrottle[int] = LatestWinsThrottle(min_interval=0)
    assert [throttle.offer(0, i) for i in range(3)] == [0, 1, 2]


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        LatestWinsThrottle(min_interval=-1)


def test_a_stream_is_spaced_ordered_never_repeated_and_ends_on_the_latest() -> None:
    # One offer per millisecond for a second; a timer fires exactly at due_at().
    throttle: LatestWinsThrottle[int] = LatestWinsThrottle(min_interval=50)
    sent: list[tuple[int, int]] = []
    for now in range(1000):
        due = throttle.due_at()
        if due is not None and due <= now:
            item = throttle.take_due(int(due))
            assert item is not None
            sent.append((int(due), item))
        item = throttle.offer(now, now)
        if item is not None:
            sent.append((now, item))
    due = throttle.due_at()
    assert due is not None
    last = throttle.take_due(int(due))
    assert last is not None
    sent.append((int(due), last))

    times = [t for t, _ in sent]
    items = [item for _, item in sent]
    assert all(later - earlier >= 50 for earlier, later in pairwise(times))
    assert items == sorted(set(items))  # in order, none twice
    assert items[-1] == 999  # the final position always gets through
    assert len(sent) == 21  # 20 a second plus the trailing one
