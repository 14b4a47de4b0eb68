"""The document path takes its token only from a parameter spelt `token`, and no spelling of a
token parameter reaches the node's log."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
from collections.abc import Iterator

import pytest

from tests.realtime.clients import eventually
from tests.support.api import Api, ApiUser
from tests.support.servers import RunningServer

# Spellings that a URL parser reads as `token` (or as another case of it): none may open a
# document, and none may leave the token in a log line.
OTHER_SPELLINGS = ["%74oken", "to%6Ben", "%74%6F%6B%65%6E", "TOKEN", "Token", "%54OKEN"]


@pytest.fixture
def owner(node: RunningServer) -> Iterator[tuple[ApiUser, str]]:
    api = Api(node.api)
    user = api.register("Owner")
    task = user.create_task(user.create_workspace()["id"], "Secret")
    yield user, task["id"]
    api.close()


@pytest.fixture
def uvicorn_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of uvicorn's request and WebSocket loggers at INFO, while the test runs.

    The shared node logs at WARNING; its lines are written at INFO and are what a node with
    LOG_LEVEL=info would show. uvicorn's loggers do not propagate to the root: listen directly.
    """
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn.access")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(caplog.handler)
        logger.setLevel(logging.INFO)
    try:
        yield caplog
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(caplog.handler)
            logger.setLevel(level)


def upgrade(node: RunningServer, target: str) -> tuple[int, dict[str, object]]:
    """The status and JSON body of the answer to a WebSocket upgrade of `target`, sent as written."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status == 101:  # what follows the head is WebSocket frames (the document's welcome), not JSON
        return status, {}
    return status, (json.loads(body) if body else {})


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    if head.split(b" ", 2)[1] == b"101":
        return True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def doc_path(task_id: str) -> str:
    return f"/api/v1/tasks/{task_id}/doc"


@pytest.mark.parametrize("spelling", OTHER_SPELLINGS)
def test_a_token_under_another_spelling_is_refused_and_never_logged(
    node: RunningServer, owner: tuple[ApiUser, str], uvicorn_log: pytest.LogCaptureFixture, spelling: str
) -> None:
    user, task_id = owner
    status, body = upgrade(node, f"{doc_path(task_id)}?{spelling}={user.token}")
    assert (status, body["error"]) == (401, {"code": "UNAUTHORIZED", "message": "missing token"})  # type: ignore[index]

    eventually(lambda: any(f"{doc_path(task_id)}?{spelling}=" in r.getMessage() for r in uvicorn_log.records))
    lines = [record.getMessage() for record in uvicorn_log.records]
    assert any(f"?{spelling}=[redacted]" in line for line in lines), lines
    assert not any(user.token in line for line in lines), lines


def test_the_literal_name_opens_the_document_and_is_never_logged(
    node: RunningServer, owner: tuple[ApiUser, str], uvicorn_log: pytest.LogCaptureFixture
) -> None:
    user, task_id = owner
    status, _ = upgrade(node, f"{doc_path(task_id)}?token={user.token}")
    assert status == 101
    eventually(lambda: any(f"{doc_path(task_id)}?token=" in r.getMessage() for r in uvicorn_log.records))
    assert not any(user.token in record.getMessage() for record in uvicorn_log.records)


def test_two_token_parameters_are_refused(node: RunningServer, owner: tuple[ApiUser, str]) -> None:
    user, task_id = owner
    status, body = upgrade(node, f"{doc_path(task_id)}?token={user.token}&token={user.token}")
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")  # type: ignore[index]
