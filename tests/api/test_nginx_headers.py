"""The nginx example (deploy/nginx/taskroom.conf) in front of a node: every answer carries the
security headers once, nginx's own answers included, and caching and compression pass through."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_security_headers import assert_security_headers
from tests.support.nginx import Nginx
from tests.support.processes import free_port
from tests.support.servers import RunningServer


@pytest.fixture(scope="module")
def nginx(node: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    proxy = Nginx([node.port], Path(tmp_path_factory.mktemp("nginx")))
    yield proxy
    proxy.stop()


def test_answers_through_nginx_carry_the_nodes_headers_once(nginx: Nginx) -> None:
    with httpx.Client(base_url=nginx.base_url, timeout=30) as http:
        for path in ("/", "/main.js", "/api/v1/ws/health", "/api/v1/no-such-thing", "/no-such-file.js"):
            policy = assert_security_headers(http.get(path))
            # The node saw the Host the browser used, port included.
            assert policy["connect-src"] == [
                "'self'",
                f"ws://127.0.0.1:{nginx.port}",
                f"wss://127.0.0.1:{nginx.port}",
            ]
        # A page's own policy (the docs' inline script by its hash) is passed on as it is.
        docs = assert_security_headers(http.get("/docs"))
        assert any(source.startswith("'sha256-") for source in docs["script-src"])


def test_answers_nginx_makes_itself_carry_the_headers(nginx: Nginx, tmp_path: Path) -> None:
    too_large = httpx.post(f"{nginx.api}/auth/login", content=b"x" * (2 * 1024 * 1024), timeout=30)
    assert too_large.status_code == 413
    assert assert_security_headers(too_large) == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}

    no_node = Nginx([free_port()], tmp_path / "nginx-alone")  # every node down
    try:
        down = httpx.get(f"{no_node.base_url}/", timeout=30)
        assert down.status_code == 502
        assert_security_headers(down)
    finally:
        no_node.stop()


def test_compression_and_revalidation_pass_through_nginx(nginx: Nginx) -> None:
    with httpx.Client(base_url=nginx.base_url, timeout=30) as http:
        plain = http.get("/vendor/yjs.js", headers={"Accept-Encoding": "identity"})
        with http.stream("GET", "/vendor/yjs.js", headers={"Accept-Encoding": "gzip"}) as zipped:
            raw = b"".join(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip"
        assert gzip.decompress(raw) == plain.content
        assert plain.headers["cache-control"] == "no-cache"
        again = http.get("/vendor/yjs.js", headers={"If-None-Match": plain.headers["etag"]})
        assert again.status_code == 304
        assert_security_headers(again)
