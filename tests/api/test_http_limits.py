"""Request heads that never end, or are huge, are dropped before any application code runs."""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.databases import sqlite_url
from tests.support.servers import RunningServer, running_server

# Short enough to keep the tests quick; the point is that the deadline exists, not its length.
HEADER_TIMEOUT_MS = 400
MAX_HEADER_BYTES = 16384


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    database = sqlite_url(tmp_path_factory.mktemp("heads"))
    with running_server(
        database, http_header_timeout=HEADER_TIMEOUT_MS, http_max_header_bytes=MAX_HEADER_BYTES
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
