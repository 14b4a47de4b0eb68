"""Request heads and bodies that never end, or are huge, are refused before any application code
runs on them; a refused request changes nothing."""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.databases import sqlite_url
from tests.support.servers import RunningServer, running_server
from tests.support.ws import WsClient

# Short enough to keep the tests quick; the point is that the deadlines exist, not their length.
HEADER_TIMEOUT_MS = 400
MAX_HEADER_BYTES = 16384
BODY_TIMEOUT_MS = 1000
MAX_BODY_BYTES = 100_000


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    database = sqlite_url(tmp_path_factory.mktemp("heads"))
    with running_server(
        database,
        http_header_timeout=HEADER_TIMEOUT_MS,
        http_max_header_bytes=MAX_HEADER_BYTES,
        http_body_timeout=BODY_TIMEOUT_MS,
        http_max_body_bytes=MAX_BODY_BYTES,
    ) as server:
        yield server


def _connect(node: RunningServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", node.port), timeout=10)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails if it never does)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_head_sent_a_byte_at_a_time_is_cut_off_however_steady_the_drip(node: RunningServer) -> None:
    with _connect(node) as sock:
        sock.sendall(b"GET /api/v1/ws/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        # Each byte is fresh activity, yet the head as a whole must arrive in time: drip until
        # the server answers (the test fails by timeout if it never does).
        give_up = time.monotonic() + 30
        while not select.select([sock], [], [], 0.05)[0]:
            assert time.monotonic() < give_up, "the server kept waiting for the head"
            try:
                sock.sendall(b"a")
            except OSError:
                break
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]


def test_a_connection_that_never_sends_a_request_is_closed(node: RunningServer) -> None:
    with _connect(node) as sock:
        assert _read_until_closed(sock) == b""


def test_a_200_kb_header_is_refused_with_431(node: RunningServer) -> None:
    with _connect(node) as sock:
        sock.sendall(b"GET /api/v1/ws/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


def test_a_huge_head_in_small_pieces_is_refused_before_it_ends(node: RunningServer) -> None:
    with _connect(node) as sock:
        sock.sendall(b"GET /api/v1/ws/health HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        with contextlib.suppress(OSError):  # one header that never ends; the server may hang up first
            for _ in range(200):
                sock.sendall(b"b" * 1000)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


def test_many_headers_over_the_bound_are_refused_with_431(node: RunningServer) -> None:
    headers = b"".join(f"X-H{i}: {'c' * 100}\r\n".encode() for i in range(300))  # ~33 KB, one send
    with _connect(node) as sock:
        sock.sendall(b"GET /api/v1/ws/health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


def test_a_websocket_upgrade_with_a_huge_header_is_refused_with_431(node: RunningServer) -> None:
    request = (
        b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Cookie: " + b"d" * 100_000 + b"\r\n\r\n"
    )
    with _connect(node) as sock:
        sock.sendall(request)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


def test_a_body_larger_than_the_head_bound_is_still_a_body(node: RunningServer) -> None:
    # The head bound must not count a body that arrives in the same packets as the head.
    big = {"email": "x@example.test", "password": "p" * (MAX_HEADER_BYTES * 4), "name": "Big"}
    response = httpx.post(f"{node.api}/auth/login", json=big, timeout=10)
    assert response.status_code in (401, 422), response.text
    assert response.json()["error"]["code"] in ("INVALID_CREDENTIALS", "VALIDATION_ERROR")


def test_keep_alive_requests_within_the_bounds_are_served_one_after_another(node: RunningServer) -> None:
    with httpx.Client(base_url=node.api, timeout=10) as client:
        for _ in range(3):
            response = client.get("/ws/health", headers={"X-Padding": "e" * (MAX_HEADER_BYTES // 2)})
            assert response.status_code == 200


# --- bodies ---------------------------------------------------------------------------------------


def _registration(padding: int = 0) -> tuple[str, bytes]:
    """A valid registration body, padded with JSON whitespace: still the same registration."""
    email = f"body.{uuid.uuid4().hex[:10]}@example.test"
    body = json.dumps({"email": email, "password": "correct horse battery", "name": "Body"}).encode()
    return email, body + b" " * padding


def _head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _split(answer: bytes) -> tuple[bytes, Any]:
    """The status line and the JSON body of a raw answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], json.loads(body)


def _registered(node: RunningServer, email: str) -> bool:
    """Whether an account exists (login with the password every registration here uses)."""
    response = httpx.post(
        f"{node.api}/auth/login", json={"email": email, "password": "correct horse battery"}, timeout=10
    )
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def test_a_content_length_over_the_bound_is_refused_before_the_body_is_sent(node: RunningServer) -> None:
    with _connect(node) as sock:
        # Only the head: the answer comes without a byte of the 50 MiB it announces.
        sock.sendall(_head("/api/v1/auth/login", f"Content-Length: {50 * 1024 * 1024}"))
        answer = _read_until_closed(sock)
    status, body = _split(answer)
    assert status == b"HTTP/1.1 413 Request Entity Too Large", answer[:200]
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert str(MAX_BODY_BYTES) in body["error"]["message"]


def test_a_content_length_over_the_bound_with_expect_100_continue_gets_no_continue(
    node: RunningServer,
) -> None:
    with _connect(node) as sock:
        sock.sendall(
            _head("/api/v1/auth/login", f"Content-Length: {MAX_BODY_BYTES + 1}", "Expect: 100-continue")
        )
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_registration_over_the_bound_is_refused_and_creates_no_account(node: RunningServer) -> None:
    email, body = _registration(padding=MAX_BODY_BYTES)
    with _connect(node) as sock:
        sock.sendall(_head("/api/v1/auth/register", f"Content-Length: {len(body)}") + body)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert not _registered(node, email)


def test_a_chunked_body_past_the_bound_is_cut_with_413_and_creates_no_account(node: RunningServer) -> None:
    email, body = _registration(padding=3 * MAX_BODY_BYTES)
    with _connect(node) as sock:
        sock.sendall(_head("/api/v1/auth/register", "Transfer-Encoding: chunked"))
        # Chunks until the server answers: it must not wait for (or buffer) the whole body.
        with contextlib.suppress(OSError):  # the server may stop reading first
            for start in range(0, len(body), 8192):
                piece = body[start : start + 8192]
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                if select.select([sock], [], [], 0)[0]:
                    break
            else:
                sock.sendall(b"0\r\n\r\n")
        answer = _read_until_closed(sock)
    status, error = _split(answer)
    assert status == b"HTTP/1.1 413 Request Entity Too Large", answer[:200]
    assert error["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert not _registered(node, email)


def test_a_body_of_exactly_the_bound_is_served(node: RunningServer) -> None:
    email, unpadded = _registration()
    body = unpadded + b" " * (MAX_BODY_BYTES - len(unpadded))
    assert len(body) == MAX_BODY_BYTES
    response = httpx.post(
        f"{node.api}/auth/register", content=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 201, response.text
    assert _registered(node, email)


def test_a_chunked_body_within_the_bound_is_served(node: RunningServer) -> None:
    email, body = _registration(padding=MAX_BODY_BYTES // 2)
    response = httpx.post(
        f"{node.api}/auth/register",
        content=iter([body[: len(body) // 2], body[len(body) // 2 :]]),  # an iterator: sent chunked
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    assert _registered(node, email)


def test_a_body_sent_a_byte_at_a_time_is_cut_off_with_408_and_creates_no_account(node: RunningServer) -> None:
    email, body = _registration(padding=50_000)
    with _connect(node) as sock:
        sock.sendall(_head("/api/v1/auth/register", f"Content-Length: {len(body)}"))
        # Each byte is fresh activity, yet the body as a whole must arrive in time: drip until
        # the server answers (the test fails by timeout if it never does).
        give_up = time.monotonic() + 30
        for byte in body:
            if select.select([sock], [], [], 0.05)[0]:
                break
            assert time.monotonic() < give_up, "the server kept waiting for the body"
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
        answer = _read_until_closed(sock)
    status, error = _split(answer)
    assert status == b"HTTP/1.1 408 Request Timeout", answer[:200]
    assert error["error"]["code"] == "REQUEST_TIMEOUT"
    assert not _registered(node, email)


def test_a_websocket_outlives_the_body_deadline_of_its_upgrade_request(node: RunningServer) -> None:
    with WsClient(node.ws_url) as ws:
        ws.recv_type("CONNECT")
        time.sleep(BODY_TIMEOUT_MS / 1000 * 1.5)  # past the body deadline of its upgrade request
        ws.send("PING", id="alive")
        assert ws.recv_type("PONG")["replyTo"] == "alive"


def test_a_refused_body_is_in_the_access_log_without_the_query_token(
    node: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
    access = logging.getLogger("uvicorn.access")  # does not propagate: listen on it directly
    level = access.level
    access.addHandler(caplog.handler)
    access.setLevel(logging.INFO)
    try:
        with _connect(node) as sock:
            sock.sendall(
                _head(f"/api/v1/auth/login?%74oken={secret}", f"Content-Length: {MAX_BODY_BYTES + 1}")
            )
            assert _read_until_closed(sock).startswith(b"HTTP/1.1 413 ")
    finally:
        access.removeHandler(caplog.handler)
        access.setLevel(level)
    lines = [record.getMessage() for record in caplog.records]
    assert any('"POST /api/v1/auth/login?%74oken=[redacted] HTTP/1.1" 413' in line for line in lines), lines
    assert not any(secret in line for line in lines)


def test_refusals_of_the_http_layer_carry_the_security_headers(node: RunningServer) -> None:
    # 408, 413 and 431 are written before any application code runs, so the middleware never
    # sees them: they must carry the same headers of their own.
    with _connect(node) as sock:
        sock.sendall(_head("/api/v1/auth/login", f"Content-Length: {50 * 1024 * 1024}"))
        answer = _read_until_closed(sock)
    head = answer.partition(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 413")
    assert b"\r\nx-content-type-options: nosniff" in head
    assert b"\r\nx-frame-options: deny" in head
    assert b"\r\nreferrer-policy: no-referrer" in head
    assert b"\r\ncontent-security-policy: default-src 'none'; frame-ancestors 'none'" in head
