"""Generated WebSocket frames against a live node (PROTOCOL §3.5).

Hypothesis builds batches of frames from the client message types of §3 — valid-looking shapes
with mutated fields, wrong JSON types, huge and non-integral numbers, odd unicode, deep nesting,
binary frames, server-only and unknown types — and sends them on an authenticated connection
of a member. After every batch:

* the connection still answers a PING with its PONG (never hung), unless the server closed it
  with a documented code for something in the batch (1009 for a frame over the size limit, 4401
  for a refused AUTHENTICATE, 1008 for abuse); then the test reconnects and goes on;
* no answer is an INTERNAL error, and nothing of another workspace appears in any answer.

At the end the node is healthy, neither workspace's log gained an event, another member of the
fuzzed workspace received only the ephemeral collaboration frames the fuzzing user is entitled to
send, and a member of a second workspace received nothing at all.

Bounded and repeatable: a fixed number of examples, derandomized.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.realtime.clients import joined
from tests.support.api import Api, ApiUser
from tests.support.observe import latest_seq
from tests.support.servers import RunningServer
from tests.support.tokens import BAD_TOKENS, claims_for, signed
from tests.support.ws import WsClient

MAX_FRAME_BYTES = 16384
EXAMPLES = 150
# Text only the second workspace holds: it must never reach the fuzzing user.
SECRET = "zq-secret-of-the-other-workspace"
EPHEMERAL = {"USER_PRESENCE", "USER_TYPING", "CURSOR_POSITION"}
# What a client may be answered with; events (with a seq) cannot come from anything it sends.
ANSWERS = {"PONG", "ERROR", "AUTHENTICATE", "SYNC_RESPONSE", "PRESENCE_STATE", *EPHEMERAL}


@dataclass
class World:
    node: RunningServer
    api: Api
    fuzzer: ApiUser  # a plain member of `workspace`
    peer: ApiUser  # another member of `workspace`, watching
    stranger: ApiUser  # the owner of `other`, watching
    workspace: str
    task: str
    other: str
    other_task: str


@pytest.fixture(scope="module")
def world(backend: str, database_factory: Callable[[str], str]) -> Iterator[World]:
    from tests.support.servers import start_server

    # A generous rate so that frames are handled rather than rate limited (the limits have
    # tests of their own), and a small frame limit so that the 1009 close is reached.
    node = start_server(
        database_factory(backend),
        ws_max_message_bytes=MAX_FRAME_BYTES,
        ws_rate_limit=10_000,
        ws_rate_limit_burst=10_000,
    )
    api = Api(node.api)
    try:
        owner, fuzzer, peer, stranger = (api.register(n) for n in ("Owner", "Fuzzer", "Peer", "Stranger"))
        workspace = owner.create_workspace("Fuzzed")["id"]
        owner.add_member(workspace, fuzzer, "member")
        owner.add_member(workspace, peer, "member")
        task = owner.create_task(workspace, "Fuzzed task")["id"]
        other = stranger.create_workspace(SECRET, description=SECRET)["id"]
        other_task = stranger.create_task(other, SECRET, description=SECRET)["id"]
        yield World(node, api, fuzzer, peer, stranger, workspace, task, other, other_task)
    finally:
        api.close()
        node.stop()


# --- the frames ---------------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def odd_ids(world: World) -> st.SearchStrategy[Any]:
    """An id field gone wrong: the other workspace's ids, odd strings, or not a string at all."""
    foreign = st.sampled_from([world.other, world.other_task, world.fuzzer.id, world.stranger.id])
    odd = st.sampled_from(
        ["", "\x00", "a\x00b", "x" * 129, "\ud7ff\ue000\U0010ffff", "../../etc", "' OR 1=1 --"]
    )
    return weighted((2, foreign), (2, odd), (1, st.text(max_size=30)), (1, JSON_SCALARS))


def odd_tokens(world: World) -> st.SearchStrategy[Any]:
    """A token that must be refused (and the connection closed 4401)."""
    forged = st.sampled_from(sorted(BAD_TOKENS)).map(lambda kind: BAD_TOKENS[kind](world.fuzzer.id))
    others = st.sampled_from([world.peer.token, signed(claims_for(world.stranger.id))])
    return weighted((3, forged), (1, others), (1, st.text(max_size=20)), (1, JSON_SCALARS))


def odd_seqs() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from([-1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**400, 0.5, 1.0, 1e308]),
        JSON_SCALARS,
    )


def positions() -> st.SearchStrategy[Any]:
    """Mostly the small objects of identifiers a cursor is, sometimes deep, wide or oddly keyed."""
    names = st.sampled_from(["x", "y", "line", "col", "_k", "offset"])
    small = st.dictionaries(
        names, st.integers(-10_000, 10_000) | st.floats(allow_nan=False, allow_infinity=False), max_size=4
    )
    keys = st.one_of(names, st.text(max_size=40))
    wild = st.recursive(
        JSON_SCALARS,
        lambda inner: st.dictionaries(keys, inner, max_size=5) | st.lists(inner, max_size=5),
        max_leaves=30,
    )
    return weighted((3, small), (1, st.dictionaries(keys, wild, max_size=40)))


def valid_data(world: World, frame_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Data a client of the fuzzing user could well send (some of it refused: another's workspace)."""
    workspace = st.sampled_from([world.workspace] * 5 + [world.other])
    task = st.sampled_from([world.task] * 5 + [world.other_task])
    seq = st.integers(min_value=0, max_value=20)
    shapes: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "AUTHENTICATE": st.fixed_dictionaries(
            {"token": st.just(world.fuzzer.token)},
            optional={
                "workspaceIds": st.lists(workspace, max_size=3),
                "resume": st.dictionaries(workspace, seq, max_size=2),
            },
        ),
        "SYNC_REQUEST": st.fixed_dictionaries(
            {"workspaceId": workspace, "sinceSeq": seq}, optional={"limit": st.integers(1, 1000)}
        ),
        "USER_PRESENCE": st.fixed_dictionaries(
            {"workspaceId": workspace, "status": st.sampled_from(["online", "away", "busy"])}
        ),
        "USER_TYPING": st.fixed_dictionaries(
            {"workspaceId": workspace, "taskId": task, "isTyping": st.booleans()}
        ),
        "CURSOR_POSITION": st.fixed_dictionaries(
            {"workspaceId": workspace, "position": positions()}, optional={"taskId": task | st.none()}
        ),
    }
    return shapes.get(
        frame_type, st.fixed_dictionaries({}, optional={"workspaceId": workspace, "x": JSON_VALUES})
    )


@st.composite
def mutated(draw: st.DrawFn, world: World, data: dict[str, Any]) -> Any:
    """`data` with one field dropped, given a wrong value, or added; or no object at all."""
    wild = {
        "token": odd_tokens(world),
        "workspaceId": odd_ids(world),
        "taskId": odd_ids(world),
        "workspaceIds": st.lists(odd_ids(world), max_size=4) | JSON_VALUES,
        "resume": st.dictionaries(st.text(max_size=40), odd_seqs(), max_size=3) | JSON_VALUES,
        "sinceSeq": odd_seqs(),
        "limit": odd_seqs(),
        "status": st.sampled_from(["offline", "ONLINE", "", "online "]) | JSON_SCALARS,
        "isTyping": JSON_SCALARS,
        "position": JSON_VALUES,
    }
    how = draw(st.sampled_from(["drop", "change", "change", "add", "replace"]))
    if how == "replace":
        return draw(JSON_VALUES)
    out = dict(data)
    if how == "drop" and out:
        del out[draw(st.sampled_from(sorted(out)))]
    elif how == "change" and out:
        name = draw(st.sampled_from(sorted(out)))
        out[name] = draw(wild.get(name, JSON_VALUES))
    else:
        out[draw(st.text(max_size=12))] = draw(JSON_VALUES)
    return out


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, picked in proportion to its weight (st.one_of picks evenly)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


def frame_types() -> st.SearchStrategy[str]:
    client = ["AUTHENTICATE", "PING", "SYNC_REQUEST", "USER_PRESENCE", "USER_TYPING", "CURSOR_POSITION"]
    server_only = ["PONG", "ERROR", "CONNECT", "SYNC_RESPONSE", "TASK_CREATED", "WORKSPACE_DELETED"]
    mangled = ["ping", "PING ", "AUTHENTICATE\x00", "", "__proto__", "constructor"]
    return weighted(
        (8, st.sampled_from(client)), (1, st.sampled_from(server_only + mangled)), (1, st.text(max_size=20))
    )


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in `n` draws (a drawn integer == 0 would be far likelier: Hypothesis favours
    small values)."""
    return st.sampled_from([False] * (n - 1) + [True])


@st.composite
def envelopes(draw: st.DrawFn, world: World) -> str:
    frame_type = draw(frame_types())
    data: Any = draw(valid_data(world, frame_type))
    if draw(one_in(3)):
        data = draw(mutated(world, data))
    frame: dict[str, Any] = {"type": frame_type, "data": data}
    if draw(one_in(10)):
        frame["type"] = draw(JSON_SCALARS)
    if draw(one_in(10)):
        del frame["data"]
    if draw(st.booleans()):
        frame["id"] = draw(st.text(max_size=20))
    if draw(one_in(5)):  # the envelope's other fields, right or wrong
        extras = st.fixed_dictionaries(
            {},
            optional={
                "id": st.text(min_size=120, max_size=140) | JSON_SCALARS,
                "timestamp": JSON_SCALARS,
                "seq": odd_seqs(),
                "replyTo": JSON_SCALARS,
            },
        )
        frame.update(draw(extras))
    text = json.dumps(frame, ensure_ascii=draw(st.booleans()))
    if draw(one_in(30)):  # over the frame limit
        text = text[:-1] + ', "padding": "' + "p" * MAX_FRAME_BYTES + '"}'
    return text


RAW = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            "",
            "{",
            "null",
            "[]",
            '{"type": "PING", "data": {"x": NaN}}',
            '{"type": "PING", "data": ' + "[" * 5000 + "]" * 5000 + "}",
            '{"type": "PING", "id": "\\ud800", "data": {"x": "\\udfff"}}',
            '{"type": "USER_TYPING", "data": {"workspaceId": "\\ud800", "taskId": "t", "isTyping": true}}',
            '{"type": "SYNC_REQUEST", "data": {"workspaceId": "w", "sinceSeq": ' + "9" * 4000 + "}}",
            '{"type": "PING", "type": "AUTHENTICATE", "data": {}}',
            '{"type": "PING"}\x00',
        ]
    ),
    st.text(max_size=60),
)


def frames(world: World) -> st.SearchStrategy[list[str | bytes]]:
    one: st.SearchStrategy[str | bytes] = weighted((8, envelopes(world)), (1, RAW))
    return st.lists(one, min_size=1, max_size=4)


# --- the run --------------------------------------------------------------------------------------


def size_of(frame: str | bytes) -> int:
    return len(frame.encode() if isinstance(frame, str) else frame)


def is_authenticate(frame: str | bytes) -> bool:
    if isinstance(frame, bytes):
        return False
    try:
        decoded = json.loads(frame)
    except (ValueError, RecursionError):  # the deep-nesting frames are too deep for Python's json
        return False
    return isinstance(decoded, dict) and decoded.get("type") == "AUTHENTICATE"


@dataclass
class Fuzzing:
    world: World
    ws: WsClient
    received: list[dict[str, Any]]
    probes: int = 0
    broken: bool = False
    closes: list[int | None] = field(default_factory=list)

    def send_batch(self, batch: list[str | bytes]) -> None:
        """Send the frames, then PING: the PONG must come unless a documented close came first."""
        if self.broken:  # an earlier example failed midway: start this one on a fresh connection
            self.connect()
        self.probes += 1
        probe = f"probe-{self.probes}"
        allowed = {1008}
        if any(size_of(frame) > MAX_FRAME_BYTES for frame in batch):
            allowed.add(1009)
        if any(is_authenticate(frame) for frame in batch):
            allowed.add(4401)
        self.broken = True
        try:
            for frame in batch:
                self.ws.send_raw(frame)
            self.ws.send("PING", id=probe)
            while True:
                reply = self.ws.recv(timeout=10)
                self.received.append(reply)
                if reply["type"] == "PONG" and reply.get("replyTo") == probe:
                    self.broken = False
                    return
        except (ConnectionClosed, OSError):
            code = self.close_code()
            assert code in allowed, (code, batch)
            self.closes.append(code)
            self.connect()

    def close_code(self) -> int | None:
        """The code of the server's close frame, once the client has read everything it sent.

        A write can fail (broken pipe) before the client's reader thread has taken in the close
        frame that is already on its way, so wait for that thread to finish first."""
        conn = self.ws.conn
        conn.recv_events_thread.join(10)
        received = conn.protocol.close_rcvd
        return received.code if received is not None else None

    def connect(self) -> None:
        self.ws.close()
        self.ws = joined(self.world.node, self.world.fuzzer)
        self.broken = False


def test_generated_frames_never_crash_hang_leak_or_change_anything(world: World) -> None:
    node = world.node
    seq_before = (latest_seq(world.fuzzer, world.workspace), latest_seq(world.stranger, world.other))
    peer = joined(node, world.peer)
    stranger = joined(node, world.stranger)
    stranger_seen = len(stranger.received)
    fuzzing = Fuzzing(world, joined(node, world.fuzzer), [])
    try:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        # The documented closes are always reached, whatever the generated examples: a frame
        # over the size limit (1009), a forged token (4401), another user's token (4401).
        @example(batch=[json.dumps({"type": "PING", "data": {"pad": "p" * MAX_FRAME_BYTES}})])
        @example(
            batch=[
                json.dumps(
                    {"type": "AUTHENTICATE", "data": {"token": BAD_TOKENS["alg-none"](world.fuzzer.id)}}
                )
            ]
        )
        @example(batch=[json.dumps({"type": "AUTHENTICATE", "data": {"token": world.peer.token}}), "{}"])
        @given(batch=frames(world))
        def run(batch: list[str | bytes]) -> None:
            fuzzing.send_batch(batch)

        run()
        # The fuzzing reached the handlers, not only the parser (else the checks below prove little).
        assert {"PONG", "ERROR", "AUTHENTICATE", "SYNC_RESPONSE"} <= {f["type"] for f in fuzzing.received}
        assert {1009, 4401} <= set(fuzzing.closes)

        # Every answer the fuzzing user got: nothing internal, nothing of the other workspace
        # (its id may come back only as an echo: `denied`, or an error's replyTo).
        for frame in fuzzing.received:
            data = frame.get("data") or {}
            if "seq" in frame:  # a resume replays the fuzzing user's own workspace's log
                assert data["workspaceId"] == world.workspace, frame
            else:
                assert frame["type"] in ANSWERS, frame
            if frame["type"] == "ERROR":
                assert data["code"] != "INTERNAL", frame
            if frame["type"] == "AUTHENTICATE":
                assert world.other not in [w["id"] for w in data["workspaces"]], frame
            assert data.get("workspaceId") != world.other or frame["type"] == "ERROR", frame
            assert SECRET not in json.dumps(frame), frame

        # Whatever the fuzz frames made the node send the others has been sent by now: the fuzzing
        # connection's frames were all handled (its last PONG came), and each watcher's PONG
        # comes after anything queued for it before.
        peer.send("PING", id="peer-done")
        peer_frames = []
        while (frame := peer.recv(timeout=10))["type"] != "PONG":
            peer_frames.append(frame)
        assert {f["type"] for f in peer_frames} == EPHEMERAL  # all three were relayed
        for frame in peer_frames:
            data = frame["data"]
            assert data["workspaceId"] == world.workspace, frame
            assert data["userId"] == world.fuzzer.id, frame
            assert data.get("taskId") in (None, world.task), frame
        stranger.send("PING", id="stranger-done")
        assert stranger.recv_type("PONG", timeout=10)["replyTo"] == "stranger-done"
        assert [f["type"] for f in stranger.received[stranger_seen:]] == ["PONG"]

        assert httpx.get(f"{node.base_url}/api/v1/ws/health", timeout=10).status_code == 200
        assert (
            latest_seq(world.fuzzer, world.workspace),
            latest_seq(world.stranger, world.other),
        ) == seq_before
    finally:
        for client in (fuzzing.ws, peer, stranger):
            client.close()
