"""SIGUSR1 makes a running node collect garbage and log its memory figures, and nothing else."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TASKROOM = Path(sys.executable).with_name("taskroom")


def test_sigusr1_logs_a_memory_report_and_the_node_keeps_serving(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'report.db'}",
        "JWT_SECRET": "report-test-secret-report-test-secret-0123",
    }
    log = (tmp_path / "node.log").open("w+")
    node = subprocess.Popen([str(TASKROOM), "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    health = f"http://127.0.0.1:{port}/api/v1/ws/health"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(health)
                break
            except httpx.HTTPError:
                assert node.poll() is None and time.monotonic() < deadline, "the node did not come up"
                time.sleep(0.1)
        node.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while "memory report" not in Path(log.name).read_text():
            assert time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.1)
        report = next(line for line in Path(log.name).read_text().splitlines() if "memory report" in line)
        assert "full collection freed" in report and "Python blocks allocated" in report and "RSS" in report
        assert node.poll() is None
        assert httpx.get(health).status_code == 200
    finally:
        node.terminate()
        node.wait(timeout=30)
        log.close()
