"""The JavaScript client has one copy, `clients/js/` (the npm package), and a wheel still carries it: built
and installed apart from the source checkout, the node's files under `/client` are those very bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIENT_SOURCE = REPO / "clients" / "js"
BUILD_TIMEOUT = 300
# What a wheel is built from: the sdist's inputs. Copied, so the build's `build/` and `*.egg-info`
# land in the copy, never beside the checkout's sources (a stale `build/lib` would leak into wheels).
BUILD_INPUTS = ("pyproject.toml", "README.md", "src", "clients")


def test_a_built_wheel_carries_the_javascript_client_and_an_install_serves_it_from_there(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules")
            )
        else:
            shutil.copy(REPO / name, source / name)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert built.returncode == 0, f"the wheel did not build:\n{built.stdout}\n{built.stderr}"
    (wheel,) = (tmp_path / "dist").glob("taskroom-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        client_files = sorted(n for n in archive.namelist() if n.startswith("taskroom/static/client/"))
        assert client_files == [
            "taskroom/static/client/store.d.ts",
            "taskroom/static/client/store.js",
            "taskroom/static/client/taskroom.d.ts",
            "taskroom/static/client/taskroom.js",
        ]
        for name in client_files:
            assert archive.read(name) == (CLIENT_SOURCE / Path(name).name).read_bytes(), name

    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert installed.returncode == 0, f"the wheel did not install:\n{installed.stdout}\n{installed.stderr}"
    # The installed package, not the checkout, is imported (the target directory comes first).
    where = subprocess.run(
        [sys.executable, "-c", "import taskroom.static_assets as s; print(s.__file__); print(s.CLIENT_DIR)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    module_file, client_dir = where.stdout.split()
    assert Path(module_file).is_relative_to(site)
    assert Path(client_dir) == site / "taskroom" / "static" / "client"
