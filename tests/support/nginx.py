"""Debian's nginx running the project's own `deploy/nginx/taskroom.conf` in front of test nodes."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.databases import IN_CI
from tests.support.processes import free_port
from tests.support.servers import LoopbackAddresses

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "taskroom.conf"

_MAIN = """
worker_processes 1;
daemon off;
master_process on;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    include {dir}/taskroom.conf;
}}
"""


def nginx_binary() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    if IN_CI:
        pytest.fail("nginx is not installed (Debian package nginx-light)")
    pytest.skip("nginx is not installed")


def site_config(ports: list[int], listen: int) -> str:
    """The deployment's config with its upstream pointed at `ports` and its listener at `listen`."""
    text = CONFIG.read_text()
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in ports)
    text, replaced = re.subn(r"(?:    server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers, text, count=1)
    assert replaced == 1, "the upstream block of deploy/nginx/taskroom.conf changed shape"
    text, replaced = re.subn(r"listen \d+;", f"listen 127.0.0.1:{listen};", text, count=1)
    assert replaced == 1
    return text


class Nginx(LoopbackAddresses):
    def __init__(self, ports: list[int], directory: Path) -> None:
        binary = nginx_binary()
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "taskroom.conf").write_text(site_config(ports, self.port))
        main = directory / "nginx.conf"
        main.write_text(_MAIN.format(dir=directory))
        checked = subprocess.run([binary, "-t", "-c", str(main)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self._process = subprocess.Popen(
            [binary, "-c", str(main)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{self.base_url}/api/v1/ws/health", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
