"""A webhook receiver: a real HTTP server on loopback that records every POST it gets."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from tests.support.waiting import eventually


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    # The status the receiver answered with; None while the POST waits for its answer.
    status: int | None = None

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    def verified(self, secret: str) -> dict[str, Any]:
        """The event, once the reference library accepts its signature (raises otherwise)."""
        payload: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return payload


# What the receiver answers for the n-th POST it gets (0-based): a status code.
Answer = Callable[[int], int]


@dataclass
class Receiver:
    port: int
    answer: Answer = field(default=lambda _n: 200)
    # While cleared, every POST waits (a receiver that hangs); set it to let them answer.
    open: threading.Event = field(default_factory=threading.Event)
    received: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def deliveries(self) -> list[Delivery]:
        with self.lock:
            return list(self.received)

    def accepted(self) -> list[Delivery]:
        """The deliveries answered with a 2xx."""
        with self.lock:
            return [d for d in self.received if d.status is not None and 200 <= d.status < 300]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Delivery]:
        """The accepted deliveries, once there are at least `count`."""
        return eventually(self.accepted, lambda got: len(got) >= count, timeout)

    def seqs(self) -> list[int]:
        return [d.event["seq"] for d in self.accepted()]


@contextmanager
def receiver(answer: Answer | None = None, hang: bool = False) -> Iterator[Receiver]:
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            delivery = Delivery({k.lower(): v for k, v in self.headers.items()}, body)
            with state.lock:
                number = len(state.received)
                state.received.append(delivery)
            state.open.wait(60)
            status = state.answer(number)
            with state.lock:
                delivery.status = status
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(server.server_address[1])
    if answer is not None:
        state.answer = answer
    if not hang:
        state.open.set()
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="webhook-receiver")
    thread.start()
    try:
        yield state
    finally:
        state.open.set()
        server.shutdown()
        server.server_close()
