"""`make cluster`: what it would run, checked without running it (the real run needs ports
8001-8003 free and takes a while; docs/deployment.md shows it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_make_cluster_runs_the_cluster_script_on_the_chosen_port() -> None:
    planned = subprocess.run(
        ["make", "-n", "cluster", "CLUSTER_PORT=9099"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "tools/cluster.py --port 9099" in planned


def test_the_dry_run_creates_the_role_migrates_and_starts_three_nodes_and_nginx(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "cluster.py"),
            "--dry-run",
            "--port",
            "9099",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert any("CREATE ROLE taskroom LOGIN" in line for line in lines)
    assert any("CREATE DATABASE taskroom_cluster OWNER taskroom" in line for line in lines)
    commands = [line for line in lines if not line.startswith("#")]
    assert len(commands) == 5
    assert commands[0].endswith("taskroom db upgrade")
    nodes = commands[1:4]
    for index, line in enumerate(nodes, start=1):
        assert f"NODE_ID=node-{index}" in line
        assert f"--port 800{index}" in line
        assert "DATABASE_URL='postgresql://taskroom:***@" in line
        assert "REDIS_URL=redis://" in line
    assert commands[4].endswith(f"-c {tmp_path}/nginx/nginx.conf")
    # A dry run writes nothing and prints no secret.
    assert list(tmp_path.iterdir()) == []
    assert "PASSWORD '<" in done.stdout
