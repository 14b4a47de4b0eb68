"""The uvicorn and websockets internals that the node's own protocol classes build on.

`src/taskroom/realtime/transport.py` and `src/taskroom/http_limits.py` subclass uvicorn's protocol
classes: they override some of their methods, call others and read their private state, and
`src/taskroom/server.py` subclasses `uvicorn.Server`. None of this is uvicorn's public API, so
`pyproject.toml` bounds uvicorn and websockets to the versions checked here. These tests fail,
naming the file to update, when an upgrade renames or drops one of those parts, changes the
parameters of an overridden method, or adds a name that one of ours would silently shadow.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import tomllib
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httptools
import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from uvicorn import Config, Server
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from taskroom.http_limits import LimitedHttpToolsProtocol
from taskroom.realtime.transport import RealtimeWebSocketProtocol
from taskroom.server import NodeServer

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
TRANSPORT = "src/taskroom/realtime/transport.py"
HTTP_LIMITS = "src/taskroom/http_limits.py"
SERVER = "src/taskroom/server.py"

# What each subclass overrides (the base must still define it, with the same parameters) and what
# it adds (the base must not define it, or ours would shadow uvicorn's without anyone noticing).
WS_OVERRIDES = {
    "__init__",
    "handle_connect",
    "send_receive_event_to_app",
    "handle_close",
    "keepalive_timeout",
    "handle_parser_exception",
    "shutdown",
    "connection_lost",
}
WS_OWN = {
    "client_address",
    "_closing",
    "writer",
    "send_close",
    "wait_writable",
    "pause_reading",
    "resume_reading",
    "peer_close",
}
WS_OWN_STATE = {"sink"}
HTTP_OVERRIDES = {
    "__init__",
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_url",
    "on_header",
    "on_headers_complete",
    "on_body",
    "on_message_complete",
}
HTTP_OWN = {
    "header_timeout",
    "cors_origins",
    "max_header_bytes",
    "body_timeout",
    "max_body_bytes",
    "configured",
    "_count_parsed",
    "_declared_body_bytes",
    "_arm_head_timer",
    "_disarm_head_timer",
    "_disarm_body_timer",
    "_head_timed_out",
    "_body_timed_out",
    "_refuse",
    "_log_refusal",
    "_refusal",
}
HTTP_OWN_STATE = {
    "_head_timer",
    "_awaiting_head",
    "_head_bytes",
    "_parsed_head_bytes",
    "_body_timer",
    "_reading_body",
    "_body_bytes",
    "_request_line",
    "_refused",
}

# The base's methods that ours call, by their parameters (self first).
WS_CALLED = {
    "__init__": ["self", "config", "server_state", "app_state", "_loop"],  # uvicorn passes keywords
    "handle_connect": ["self", "event"],
    "send_receive_event_to_app": ["self"],
    "handle_close": ["self", "event"],
    "keepalive_timeout": ["self"],
    "handle_parser_exception": ["self"],
    "shutdown": ["self"],
    "connection_lost": ["self", "exc"],
    "start_keepalive": ["self"],
    "stop_keepalive": ["self"],
}
# uvicorn calls this one for each complete text or binary message: the path by which frames
# reach the session (transport.py overrides it).
WS_CALLERS_OF_SEND = ("handle_text", "handle_bytes", "handle_cont")
HTTP_CALLED = {
    "__init__": ["self", "config", "server_state", "app_state", "_loop"],
    "connection_made": ["self", "transport"],
    "connection_lost": ["self", "exc"],
    "data_received": ["self", "data"],
    "on_message_begin": ["self"],
    "on_url": ["self", "url"],
    "on_header": ["self", "name", "value"],
    "on_headers_complete": ["self"],
    "on_body": ["self", "body"],
    "on_message_complete": ["self"],
    "_unset_keepalive_if_required": ["self"],
    "_should_upgrade": ["self"],
    "handle_websocket_upgrade": ["self"],
    "_unsupported_upgrade_warning": ["self"],
    "send_400_response": ["self", "msg"],
}

# The base's state that ours reads or writes (after `__init__`; for HTTP after `on_message_begin`).
WS_STATE = {
    "config",
    "loop",
    "root_path",
    "app_state",
    "default_headers",
    "transport",
    "client",
    "conn",
    "handshake_initiated",
    "handshake_complete",
    "close_sent",
    "disconnected",
    "close_timer",
    "close_timeout",
    "read_paused",
    "writable",
    "frames",
    "curr_msg_data_type",
}
HTTP_STATE = {
    "config",
    "loop",
    "logger",
    "access_log",
    "access_logger",
    "parser",
    "server_state",
    "transport",
    "scope",
    "headers",
    "url",
    "cycle",
}
# What http_limits.py reads and sets on the request cycle, and the config fields transport.py reads.
CYCLE_STATE = {"response_started", "disconnected", "message_event"}
CONFIG_STATE = {"proxy_headers", "forwarded_allow_ips", "loaded_app"}


def _fail(file: str, what: str) -> str:
    return (
        f"uvicorn {version('uvicorn')} / websockets {version('websockets')}: {what}. "
        f"{file} builds on this internal: update it, then the bounds in pyproject.toml."
    )


def _parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def _defined_names(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("__")} | (
        {"__init__"} if "__init__" in vars(cls) else set()
    )


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:  # never called
    return None


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _config() -> Config:
    config = Config(_asgi_app, lifespan="off", log_config=None, proxy_headers=True)
    config.load()
    return config


# --- the versions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["uvicorn", "websockets"])
def test_installed_version_is_within_the_declared_bounds(package: str) -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    requirement = next(Requirement(line) for line in declared if Requirement(line).name == package)
    assert any(spec.operator == "<" for spec in requirement.specifier), (
        f"pyproject.toml must bound {package} from above ({requirement}): "
        f"{TRANSPORT} and {HTTP_LIMITS} use its internals"
    )
    assert any(spec.operator == ">=" for spec in requirement.specifier), requirement
    installed = Version(version(package))
    assert requirement.specifier.contains(installed), (
        f"{package} {installed} is outside {requirement} (pyproject.toml): check {TRANSPORT} and "
        f"{HTTP_LIMITS} against it with this file's tests, then move the bounds"
    )


# --- the WebSocket protocol (transport.py) --------------------------------------------------------


def test_websocket_overrides_exist_in_uvicorn_with_the_same_parameters() -> None:
    ours = _defined_names(RealtimeWebSocketProtocol)
    assert ours == WS_OVERRIDES | WS_OWN, _fail(TRANSPORT, "the lists in this test are out of date")
    for name in sorted(WS_OVERRIDES):
        assert name in vars(WebSocketsSansIOProtocol), _fail(TRANSPORT, f"{name} is gone")
        assert (
            _parameters(getattr(RealtimeWebSocketProtocol, name))
            == _parameters(getattr(WebSocketsSansIOProtocol, name))
            or name == "__init__"
        ), _fail(TRANSPORT, f"{name} takes other parameters")
    for name in sorted(WS_OWN):
        assert not hasattr(WebSocketsSansIOProtocol, name), _fail(
            TRANSPORT, f"{name} now exists in uvicorn, and ours would shadow it"
        )


def test_websocket_methods_called_keep_their_parameters() -> None:
    for name, parameters in WS_CALLED.items():
        method = getattr(WebSocketsSansIOProtocol, name, None)
        assert method is not None, _fail(TRANSPORT, f"{name} is gone")
        assert _parameters(method) == parameters, _fail(TRANSPORT, f"{name} takes other parameters")


def test_complete_messages_still_reach_send_receive_event_to_app() -> None:
    for name in WS_CALLERS_OF_SEND:
        source = inspect.getsource(getattr(WebSocketsSansIOProtocol, name))
        assert "self.send_receive_event_to_app()" in source, _fail(
            TRANSPORT, f"{name} no longer hands complete messages to send_receive_event_to_app"
        )


def test_the_handshake_still_builds_the_scope_the_document_link_goes_into() -> None:
    # transport.py adds the protocol itself to `self.scope["extensions"]` after the base's
    # handle_connect, before the ASGI task it created first runs (documents/outbound.py reads it).
    source = inspect.getsource(WebSocketsSansIOProtocol.handle_connect)
    assert "self.scope" in source and '"extensions"' in source, _fail(
        TRANSPORT, "handle_connect no longer builds self.scope with its extensions"
    )
    assert source.index("self.scope") < source.index("create_task"), _fail(
        TRANSPORT, "the ASGI task is created before the scope: the link extension would come too late"
    )


def test_websocket_state_read_and_written_exists(loop: asyncio.AbstractEventLoop) -> None:
    kwargs = {"config": _config(), "server_state": ServerState(), "app_state": {}, "_loop": loop}
    base = WebSocketsSansIOProtocol(**kwargs)
    missing = sorted(name for name in WS_STATE if not hasattr(base, name))
    assert not missing, _fail(TRANSPORT, f"the protocol no longer has {missing}")
    assert isinstance(base.conn, ServerProtocol), _fail(TRANSPORT, "conn is no longer a ServerProtocol")
    assert base.conn.close_rcvd is None, _fail(TRANSPORT, "conn no longer keeps the close it received")
    assert isinstance(base.writable, asyncio.Event), _fail(TRANSPORT, "writable is no longer an Event")
    ours = RealtimeWebSocketProtocol(**kwargs)
    added = set(vars(ours)) - set(vars(base))
    assert added == WS_OWN_STATE, _fail(TRANSPORT, f"uvicorn now sets {sorted(WS_OWN_STATE - added)} itself")


def test_websockets_handshake_calls_keep_their_shape() -> None:
    for name, parameters in {
        "accept": ["self", "request"],
        "reject": ["self", "status", "text"],
        "send_response": ["self", "response"],
        "send_close": ["self", "code", "reason"],
        "data_to_send": ["self"],
    }.items():
        method = getattr(ServerProtocol, name, None)
        assert method is not None, _fail(TRANSPORT, f"websockets' ServerProtocol.{name} is gone")
        assert _parameters(method) == parameters, _fail(TRANSPORT, f"ServerProtocol.{name} changed")
    request = Request("/api/v1/ws?x=1", Headers({"Origin": "http://a"}))
    assert request.path.partition("?")[0] == "/api/v1/ws"
    assert request.headers.get("Origin") == "http://a"
    assert request.headers.get_all("X-Forwarded-For") == []
    response = Response(101, "Switching Protocols", Headers({"Date": "x"}))
    del response.headers["Date"]
    response.headers["Retry-After"] = "1"
    assert response.status_code == 101, _fail(TRANSPORT, "websockets' Response lost status_code")


def test_trusted_proxies_come_from_uvicorn_middleware() -> None:
    trusted = ProxyHeadersMiddleware(_asgi_app, "10.0.0.1").trusted_hosts
    assert "10.0.0.1" in trusted and "10.0.0.2" not in trusted, _fail(TRANSPORT, "trusted_hosts changed")
    address = trusted.get_trusted_client_address("203.0.113.9, 10.0.0.1")
    assert address[0] == "203.0.113.9", _fail(TRANSPORT, "get_trusted_client_address changed")
    config = _config()
    missing = sorted(name for name in CONFIG_STATE if not hasattr(config, name))
    assert not missing, _fail(TRANSPORT, f"uvicorn's Config no longer has {missing}")


# --- the HTTP protocol (http_limits.py) -----------------------------------------------------------


def test_http_overrides_exist_in_uvicorn_with_the_same_parameters() -> None:
    ours = _defined_names(LimitedHttpToolsProtocol)
    assert ours == HTTP_OVERRIDES | HTTP_OWN, _fail(HTTP_LIMITS, "the lists in this test are out of date")
    for name in sorted(HTTP_OVERRIDES):
        assert name in vars(HttpToolsProtocol), _fail(HTTP_LIMITS, f"{name} is gone")
        assert (
            _parameters(getattr(LimitedHttpToolsProtocol, name))
            == _parameters(getattr(HttpToolsProtocol, name))
            or name == "__init__"
        ), _fail(HTTP_LIMITS, f"{name} takes other parameters")
    for name in sorted(HTTP_OWN):
        assert not hasattr(HttpToolsProtocol, name), _fail(
            HTTP_LIMITS, f"{name} now exists in uvicorn, and ours would shadow it"
        )


def test_http_methods_called_keep_their_parameters() -> None:
    for name, parameters in HTTP_CALLED.items():
        method = getattr(HttpToolsProtocol, name, None)
        assert method is not None, _fail(HTTP_LIMITS, f"{name} is gone")
        assert _parameters(method) == parameters, _fail(HTTP_LIMITS, f"{name} takes other parameters")


def test_http_state_read_and_written_exists(loop: asyncio.AbstractEventLoop) -> None:
    kwargs = {"config": _config(), "server_state": ServerState(), "app_state": {}, "_loop": loop}
    base = HttpToolsProtocol(**kwargs)
    base.on_message_begin()  # where uvicorn sets url, headers and scope for a request
    missing = sorted(name for name in HTTP_STATE if not hasattr(base, name))
    assert not missing, _fail(HTTP_LIMITS, f"the protocol no longer has {missing}")
    assert isinstance(base.parser, httptools.HttpRequestParser), _fail(HTTP_LIMITS, "parser changed type")
    assert isinstance(base.server_state.default_headers, list), _fail(HTTP_LIMITS, "default_headers moved")
    ours = LimitedHttpToolsProtocol(**kwargs)
    ours.on_message_begin()
    added = set(vars(ours)) - set(vars(base))
    assert added == HTTP_OWN_STATE, _fail(HTTP_LIMITS, f"uvicorn now sets {sorted(HTTP_OWN_STATE - added)}")


def test_the_request_cycle_keeps_what_a_refusal_touches() -> None:
    cycle = RequestResponseCycle(
        scope={},  # type: ignore[typeddict-item]
        transport=None,  # type: ignore[arg-type]
        flow=None,  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )
    missing = sorted(name for name in CYCLE_STATE if not hasattr(cycle, name))
    assert not missing, _fail(HTTP_LIMITS, f"RequestResponseCycle no longer has {missing}")


def test_httptools_parser_keeps_what_the_bounds_call() -> None:
    for name in ("feed_data", "get_method", "get_http_version", "should_upgrade"):
        assert hasattr(httptools.HttpRequestParser, name), _fail(HTTP_LIMITS, f"httptools lost {name}")
    for name in ("HttpParserError", "HttpParserUpgrade"):
        assert hasattr(httptools, name), _fail(HTTP_LIMITS, f"httptools lost {name}")


# --- the server (server.py) -----------------------------------------------------------------------


def test_server_hooks_keep_their_parameters() -> None:
    for name in ("startup", "shutdown"):
        assert name in vars(NodeServer) and name in vars(Server), _fail(SERVER, f"Server.{name} is gone")
        assert _parameters(getattr(NodeServer, name)) == _parameters(getattr(Server, name)), _fail(
            SERVER, f"Server.{name} takes other parameters"
        )
    # NodeServer.shutdown closes the listening servers that startup keeps there.
    assert "self.servers" in inspect.getsource(Server.startup), _fail(SERVER, "Server.servers is gone")
