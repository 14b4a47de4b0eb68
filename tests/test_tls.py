"""`taskroom serve --ssl-certfile … --ssl-keyfile …`: HTTPS and wss:// on the node's own port."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidMessage

from tests.support.processes import free_port
from tests.support.ws import WsClient

TASKROOM = Path(sys.executable).with_name("taskroom")


@dataclass(frozen=True)
class Certificate:
    certfile: Path
    keyfile: Path

    def client_context(self) -> ssl.SSLContext:
        """A client that trusts this self-signed certificate and nothing else."""
        return ssl.create_default_context(cafile=str(self.certfile))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return Certificate(cert, key)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tls.db'}",
        "JWT_SECRET": "tls-test-secret-tls-test-secret-0123456789",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
    }


@pytest.fixture
def tls_node(env: dict[str, str], certificate: Certificate) -> Iterator[int]:
    port = free_port()
    argv = [str(TASKROOM), "serve", "--port", str(port),
            "--ssl-certfile", str(certificate.certfile), "--ssl-keyfile", str(certificate.keyfile)]  # fmt: skip
    node = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"https://127.0.0.1:{port}/api/v1/ws/health", verify=certificate.client_context())
                break
            except httpx.HTTPError:
                assert node.poll() is None, node.stderr.read().decode() if node.stderr else ""
                assert time.monotonic() < deadline, "the node did not come up"
                time.sleep(0.1)
        yield port
    finally:
        node.terminate()
        node.wait(timeout=30)


def test_the_whole_flow_runs_over_https_and_wss(tls_node: int, certificate: Certificate) -> None:
    trust = certificate.client_context()
    with httpx.Client(base_url=f"https://127.0.0.1:{tls_node}/api/v1", verify=trust, timeout=30) as http:
        registered = http.post(
            "/auth/register", json={"email": "tls@example.test", "password": "long enough pass", "name": "T"}
        )
        assert registered.status_code == 201, registered.text
        auth = {"Authorization": f"Bearer {registered.json()['accessToken']}"}
        workspace = http.post("/workspaces", json={"name": "Secure"}, headers=auth).json()

        with WsClient(f"wss://127.0.0.1:{tls_node}/api/v1/ws", ssl=trust) as ws:
            joined = ws.authenticate(registered.json()["accessToken"], workspaceIds=[workspace["id"]])
            assert [w["id"] for w in joined["workspaces"]] == [workspace["id"]]
            created = http.post(
                f"/workspaces/{workspace['id']}/tasks", json={"title": "over TLS"}, headers=auth
            )
            assert created.status_code == 201
            event = ws.recv_events(1)[0]
            assert event["type"] == "TASK_CREATED"
            assert event["data"]["task"] == created.json()


def test_plain_http_and_ws_to_the_tls_port_get_nothing(tls_node: int, certificate: Certificate) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{tls_node}/api/v1/ws/health", timeout=10)
    with pytest.raises(InvalidMessage):  # no HTTP answer to the upgrade, only the TLS layer's refusal
        WsClient(f"ws://127.0.0.1:{tls_node}/api/v1/ws")


def test_a_client_that_does_not_trust_the_certificate_is_refused(tls_node: int) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"https://127.0.0.1:{tls_node}/api/v1/ws/health", timeout=10)


def test_serve_refuses_a_missing_certificate_or_a_key_alone_with_one_line(
    env: dict[str, str], certificate: Certificate, tmp_path: Path
) -> None:
    missing = subprocess.run(
        [str(TASKROOM), "serve", "--ssl-certfile", str(tmp_path / "absent.pem")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: cannot load the TLS certificate and key")
    assert "Traceback" not in missing.stderr

    key_alone = subprocess.run(
        [str(TASKROOM), "serve", "--ssl-keyfile", str(certificate.keyfile)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert key_alone.returncode == 1
    assert "SSL_KEYFILE is set without SSL_CERTFILE" in key_alone.stderr

    # The same files from the environment are checked the same way.
    from_env = subprocess.run(
        [str(TASKROOM), "serve"], env={**env, "SSL_CERTFILE": str(certificate.keyfile)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert from_env.returncode == 1
    assert from_env.stderr.startswith("error: cannot load the TLS certificate and key")
