"""A first run as a newcomer sees it: what `make run` installs, the start-up banner, `db upgrade`'s
report, and Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.databases import create_postgres_database, drop_postgres_database, require_postgres
from tests.support.processes import TASKROOM, NodeProcess, RedisProcess

ROOT = Path(__file__).resolve().parents[1]
DATABASE_PASSWORD = "pg-pass-never-logged-4c1e"
REDIS_PASSWORD = "redis-pass-never-logged-9b7a"


def test_make_run_installs_the_package_without_the_development_tools() -> None:
    # -B: every command, as on a fresh checkout, whatever this machine has installed already.
    planned = subprocess.run(
        ["make", "-n", "-B", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    installs = [
        line for line in planned.splitlines() if "pip install" in line and "--upgrade pip" not in line
    ]
    assert installs, planned
    assert all("[dev]" not in line and "[bench]" not in line for line in installs), installs
    assert any(line.rstrip().endswith("-e .") for line in installs), installs
    assert "taskroom serve" in planned


@pytest.fixture
def secured_services() -> Iterator[tuple[str, str]]:
    """A PostgreSQL database and a Redis, each reached through a URL that carries a password."""
    require_postgres()
    database = create_postgres_database()
    own_redis = RedisProcess()
    client = redis.Redis(port=own_redis.port)
    client.config_set("requirepass", REDIS_PASSWORD)
    client.close()
    # The local PostgreSQL trusts its clients, so the password is sent and ignored: what matters
    # here is that the node has one in its URL.
    with_password = database.replace("postgresql://postgres@", f"postgresql://postgres:{DATABASE_PASSWORD}@")
    assert with_password != database
    try:
        yield with_password, f"redis://:{REDIS_PASSWORD}@127.0.0.1:{own_redis.port}/0"
    finally:
        own_redis.kill()
        drop_postgres_database(database)


def test_the_banner_names_board_docs_database_broker_and_node_but_no_password(
    secured_services: tuple[str, str],
) -> None:
    database, redis_url = secured_services
    node = NodeProcess(database, redis_url=redis_url, node_id="node-banner", log_level="info")
    try:
        log = node.log_text()
    finally:
        node.stop()
    base = f"http://127.0.0.1:{node.port}"
    assert "node node-banner" in log
    assert f"board:     {base}/" in log
    assert f"API docs:  {base}/docs" in log
    assert "database:  PostgreSQL postgresql://postgres:***@127.0.0.1:5432/" in log
    assert f"broker:    Redis redis://:***@127.0.0.1:{redis_url.rsplit(':', 1)[1]}" in log
    assert DATABASE_PASSWORD not in log
    assert REDIS_PASSWORD not in log


def test_db_upgrade_names_what_it_applied_and_then_that_nothing_was_pending(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    first = subprocess.run(
        [str(TASKROOM), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    assert "applied" in first.stdout
    assert "0001 (initial schema)" in first.stdout
    assert "latest schema" not in first.stdout
    again = subprocess.run(
        [str(TASKROOM), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stderr
    assert "already at the latest schema" in again.stdout
    assert "applied" not in again.stdout


def test_ctrl_c_stops_a_node_cleanly_with_exit_status_0(tmp_path: Path) -> None:
    node = NodeProcess(f"sqlite:///{tmp_path / 'stop.db'}", log_level="info")
    try:
        process = node._process
        assert process is not None
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        log = node.log_text()
        assert "Finished server process" in log
        assert "Traceback" not in log
    finally:
        node.stop()
