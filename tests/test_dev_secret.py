"""A development node without JWT_SECRET keeps its signing key beside the SQLite file, so a
restart signs no one out; a production node without JWT_SECRET refuses to start."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from taskroom.security.dev_secret import SigningKeyError, development_key
from tests.support.processes import TASKROOM, NodeProcess, free_port, node_environment

PASSWORD = "dev-secret-pass-1"


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`taskroom serve` that is expected to stop by itself (the refusals)."""
    return subprocess.run(
        [str(TASKROOM), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_restart_keeps_the_development_key_and_its_tokens(tmp_path: Path) -> None:
    database = tmp_path / "board.db"
    node = NodeProcess(f"sqlite:///{database}", jwt_secret=None, log_level="info")
    try:
        registered = httpx.post(
            f"{node.api}/auth/register",
            json={"email": "dev@example.com", "password": PASSWORD, "name": "Dev"},
        )
        assert registered.status_code == 201, registered.text
        access = registered.json()["accessToken"]
        # `taskroom token` logs in to the node, so its token is signed with the same kept key.
        printed = subprocess.run(
            [str(TASKROOM), "token", "--email", "dev@example.com", "--url", node.base_url],
            env={**os.environ, "TASKROOM_PASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert printed.returncode == 0, printed.stderr
        cli_token = printed.stdout.strip()

        key_file = tmp_path / "board.db.secret"
        info = key_file.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        key = key_file.read_text().strip()
        assert len(key) >= 43

        assert node.terminate() in (0, -15)
        node.start()
        for token in (access, cli_token):
            me = httpx.get(f"{node.api}/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
            assert me.json()["email"] == "dev@example.com"
        assert key_file.read_text().strip() == key

        log = node.log_text()
        notices = [line for line in log.splitlines() if "JWT_SECRET is not set" in line]
        assert len(notices) == 2, log  # one line per start
        assert "created in" in notices[0] and str(key_file) in notices[0]
        assert "kept in" in notices[1]
        assert key not in log
    finally:
        node.stop()


@pytest.mark.parametrize(
    ("database_url", "environment"),
    [
        # Refused before the database is opened: this one need not exist.
        ("postgresql://postgres@127.0.0.1:5432/taskroom_never_created", None),
        ("sqlite:///{tmp}/prod.db", "production"),
    ],
    ids=["postgresql", "taskroom-env-production"],
)
def test_a_production_node_without_jwt_secret_refuses_to_start(
    tmp_path: Path, database_url: str, environment: str | None
) -> None:
    env = node_environment(database_url.format(tmp=tmp_path), jwt_secret=None, taskroom_env=environment)
    ended = _serve(env)
    assert ended.returncode != 0
    assert "JWT_SECRET is not set: a production node" in ended.stderr
    assert len(ended.stderr.strip().splitlines()) == 1, ended.stderr
    assert "Uvicorn running" not in ended.stderr
    assert not (tmp_path / "prod.db.secret").exists()


def test_a_key_file_open_to_others_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "open.db.secret"
    key_file.write_text("k" * 64 + "\n")
    key_file.chmod(0o644)
    ended = _serve(node_environment(f"sqlite:///{tmp_path / 'open.db'}", jwt_secret=None))
    assert ended.returncode != 0
    assert "is open to other users" in ended.stderr
    assert "k" * 64 not in ended.stderr


def test_starts_racing_to_create_the_key_all_get_the_same_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    keys: list[str] = []
    start = threading.Barrier(8)

    def one() -> None:
        start.wait()
        keys.append(development_key(url))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.db.secret"]  # no temporary left


def test_a_file_that_holds_no_key_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "bad.db.secret"
    key_file.write_text("")
    key_file.chmod(0o600)
    with pytest.raises(SigningKeyError, match="does not hold a key"):
        development_key(f"sqlite:///{tmp_path / 'bad.db'}")


def test_an_in_memory_database_gets_a_random_key_per_start() -> None:
    assert development_key("sqlite://") != development_key("sqlite:///:memory:")


def test_under_plain_uvicorn_a_production_node_without_jwt_secret_fails_to_start() -> None:
    env = node_environment("postgresql://postgres@127.0.0.1:5432/taskroom_never_created", jwt_secret=None)
    uvicorn = TASKROOM.with_name("uvicorn")
    ended = subprocess.run(
        [str(uvicorn), "--factory", "taskroom.app:create_app", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ended.returncode != 0
    assert "JWT_SECRET is not set: a production node" in ended.stderr
    assert "Uvicorn running" not in ended.stderr
