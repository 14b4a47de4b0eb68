"""A WebSocket peer that goes silent: handshake done, then it never answers anything.

The `websockets` clients answer protocol pings by themselves from a background thread, so a
peer on a dead network cannot be played with them. This one speaks the protocol through the
library's sans-IO `ClientProtocol` on a bare socket and simply never writes after the handshake
(the pongs the protocol prepares are never sent).
"""

from __future__ import annotations

import socket
import time

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri


class SilentWsClient:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        uri = parse_uri(url)
        self.protocol = ClientProtocol(uri)
        self.sock = socket.create_connection((uri.host, uri.port), timeout=timeout)
        self.frames: list[Frame] = []
        self.protocol.send_request(self.protocol.connect())
        self.sock.sendall(b"".join(self.protocol.data_to_send()))
        self.response: Response | None = None
        deadline = time.monotonic() + timeout
        while self.response is None:
            if not self._read(deadline):
                raise AssertionError("the server closed the socket during the handshake")
        assert self.response.status_code == 101, self.response.status_code
        self.protocol.data_to_send()  # nothing is ever sent from here on

    def _read(self, deadline: float) -> bool:
        """Feed what arrives before `deadline` to the protocol; False once the server closed the socket."""
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = self.sock.recv(65536)
        if not data:
            self.protocol.receive_eof()
        else:
            self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.response = event
            else:
                self.frames.append(event)
        return bool(data)

    @property
    def pings(self) -> list[Frame]:
        return [frame for frame in self.frames if frame.opcode is Opcode.PING]

    def wait_close_frame(self, timeout: float = 10.0) -> int:
        """Read until the server's close frame arrives (and never answer it); returns its code."""
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.frames:
                if frame.opcode is Opcode.CLOSE:
                    return Close.parse(frame.data).code
            if not self._read(deadline):
                raise AssertionError("the server closed the socket without a close frame")

    def wait_dropped(self, timeout: float = 10.0) -> None:
        """Read (never answering) until the server closes the TCP connection."""
        deadline = time.monotonic() + timeout
        try:
            while self._read(deadline):
                pass
        except TimeoutError:
            raise AssertionError("the server kept the silent connection open") from None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SilentWsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
