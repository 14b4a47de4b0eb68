"""A stand-in for an app's identity provider: signing keys, and their JWKS on a loopback HTTP port.

The key set is served by a real HTTP server in a thread, which counts the requests it answers, so
a test can tell how often a node fetched it. `down` makes it answer 503 (counted too).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://id.example.test/"
AUDIENCE = "taskroom-app"


@dataclass
class SigningKey:
    algorithm: str
    kid: str
    private: Any
    public_jwk: dict[str, Any]

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **header})


def new_key(algorithm: str) -> SigningKey:
    kid = f"{algorithm.lower()}-{uuid.uuid4().hex[:8]}"
    private: Any
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        raise ValueError(algorithm)
    return SigningKey(algorithm, kid, private, {**jwk, "kid": kid, "use": "sig"})


def claims(subject: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A provider's token claims (None removes one)."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject or f"user-{uuid.uuid4().hex}",
        "iat": now,
        "exp": now + 600,
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


@dataclass
class KeySetServer:
    port: int
    keys: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def publish(self, *keys: SigningKey) -> None:
        with self.lock:
            self.keys = [*self.keys, *(key.public_jwk for key in keys)]

    def replace(self, *keys: SigningKey) -> None:
        with self.lock:
            self.keys = [key.public_jwk for key in keys]

    def count(self) -> int:
        with self.lock:
            return self.requests

    def node_settings(self) -> dict[str, Any]:
        return {"auth_jwks_url": self.url, "auth_issuer": ISSUER, "auth_audience": AUDIENCE}


@contextmanager
def key_set_server(*keys: SigningKey) -> Iterator[KeySetServer]:
    state = KeySetServer(port=0)
    state.publish(*keys)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.requests += 1
                down, body = state.down, json.dumps({"keys": state.keys}).encode()
            if down:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="jwks-server")
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
