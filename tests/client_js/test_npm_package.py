"""The npm package `taskroom-client` (clients/js, PROTOCOL §5.5): `npm pack` gives a tarball that installs
into a fresh Node project beside `ws` and connects and receives against a real node, importing
`taskroom-client` and nothing else. Its module is the very file the node serves at /client/taskroom.js.

Node and npm are required under CI; elsewhere their absence skips. Installing needs the npm registry
(for `ws`), or npm's cache: unreachable under CI=true fails, elsewhere it skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from taskroom.static_assets import CLIENT_DIR
from tests.support.databases import IN_CI, sqlite_url
from tests.support.servers import RunningServer, start_server

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "clients" / "js"
PROBE = Path(__file__).resolve().parent / "npm_probe" / "connect_and_receive.mjs"
NPM_TIMEOUT = 300
NODE_TIMEOUT = 60


def required(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if IN_CI:
            pytest.fail(f"{name} is needed for the npm package's tests")
        pytest.skip(f"{name} is not installed")
    return found


def run(command: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    # A CI runner's npm would otherwise ask about funding and audits, and colour its output.
    env = {**os.environ, "NO_COLOR": "1", "npm_config_update_notifier": "false"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = required("npm")
    destination = tmp_path_factory.mktemp("pack")
    packed = run([npm, "pack", "--json", "--pack-destination", str(destination)], PACKAGE_DIR, NPM_TIMEOUT)
    assert packed.returncode == 0, f"npm pack failed:\n{packed.stdout}\n{packed.stderr}"
    (report,) = json.loads(packed.stdout)
    return destination / report["filename"]


@pytest.fixture(scope="module")
def project(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh Node project with the tarball and `ws` installed, as a user of the package makes one."""
    npm = required("npm")
    root = tmp_path_factory.mktemp("app")
    (root / "package.json").write_text(json.dumps({"name": "probe", "private": True, "type": "module"}))
    installed = run(
        [npm, "install", "--no-audit", "--no-fund", "--prefer-offline", str(tarball), "ws@8"],
        root,
        NPM_TIMEOUT,
    )
    if installed.returncode != 0:
        message = f"npm install of the tarball and ws failed:\n{installed.stdout}\n{installed.stderr}"
        if IN_CI or ("ENOTFOUND" not in installed.stderr and "ETIMEDOUT" not in installed.stderr):
            pytest.fail(message)
        pytest.skip(f"the npm registry cannot be reached: {message}")
    shutil.copy(PROBE, root / PROBE.name)
    return root


@pytest.fixture(scope="module")
def package_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(sqlite_url(tmp_path_factory.mktemp("npm")))
    yield server
    server.stop()


def test_the_tarball_holds_the_served_module_its_declarations_and_a_manifest_that_names_them(
    tarball: Path, package_node: RunningServer
) -> None:
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        assert {
            "package/package.json",
            "package/taskroom.js",
            "package/taskroom.d.ts",
            "package/store.js",
            "package/store.d.ts",
        } <= names
        manifest = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
        packed_module = archive.extractfile("package/taskroom.js").read()  # type: ignore[union-attr]
        packed_types = archive.extractfile("package/taskroom.d.ts").read()  # type: ignore[union-attr]
        packed_store = archive.extractfile("package/store.js").read()  # type: ignore[union-attr]
    assert manifest["name"] == "taskroom-client"
    assert manifest["type"] == "module"
    assert manifest["exports"]["."] == {"types": "./taskroom.d.ts", "default": "./taskroom.js"}
    assert manifest["types"] == "./taskroom.d.ts"
    assert manifest["exports"]["./store"] == {"types": "./store.d.ts", "default": "./store.js"}
    assert manifest["peerDependenciesMeta"]["ws"]["optional"] is True
    # One file, not two copies: what npm ships is what the node serves and a wheel carries.
    with httpx.Client(base_url=package_node.base_url) as http:
        assert http.get("/client/taskroom.js").content == packed_module
        assert http.get("/client/taskroom.d.ts").content == packed_types
        assert http.get("/client/store.js").content == packed_store
    assert (CLIENT_DIR / "taskroom.js").read_bytes() == packed_module
    # The package's manifest and README are not served as client files.
    with httpx.Client(base_url=package_node.base_url) as http:
        assert http.get("/client/package.json").status_code == 404


def test_installed_from_the_tarball_it_connects_and_receives_a_task_created_over_rest(
    project: Path, package_node: RunningServer
) -> None:
    node = required("node")
    result = subprocess.run(
        [node, PROBE.name],
        cwd=project,
        env={**os.environ, "TASKROOM_URL": package_node.base_url},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
    )
    assert result.returncode == 0, f"the probe failed:\n{result.stdout}\n{result.stderr}"
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["receivedId"] == seen["createdId"]
    assert seen["receivedTitle"] == "Packed"
    assert isinstance(seen["seq"], int) and seen["seq"] > 0
    assert seen["storeExportsAgree"] is True
    assert seen["storeTitles"] == ["Packed", "Stored"]
    if int(seen["node"].split(".")[0]) < 22:
        # Node 20: no global WebSocket, so the client went to `ws` by itself.
        assert seen["globalWebSocket"] == "undefined"


NO_WS_PROBE = """
import TodoWebSocketClient from "taskroom-client";
const client = new TodoWebSocketClient({ url: process.env.TASKROOM_URL, token: "t" });
const states = [];
client.onStateChange((state) => states.push(state));
try {
  await client.connect();
  console.log(JSON.stringify({ connected: true }));
} catch (error) {
  console.log(JSON.stringify({ connected: false, code: error.code, message: error.message, states }));
}
"""


def test_on_node_20_without_ws_connect_says_so_instead_of_retrying(
    tarball: Path, package_node: RunningServer, tmp_path: Path
) -> None:
    node, npm = required("node"), required("npm")
    version = run([node, "--version"], tmp_path, NODE_TIMEOUT).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) >= 22:
        pytest.skip(f"Node {version} has a WebSocket of its own")
    (tmp_path / "package.json").write_text(json.dumps({"name": "bare", "private": True, "type": "module"}))
    # The package alone: `ws` is an optional peer, so npm does not bring it (nor needs the registry).
    installed = run(
        [npm, "install", "--no-audit", "--no-fund", "--offline", str(tarball)], tmp_path, NPM_TIMEOUT
    )
    assert installed.returncode == 0, (
        f"npm install of the tarball failed:\n{installed.stdout}\n{installed.stderr}"
    )
    assert not (tmp_path / "node_modules" / "ws").exists()
    result = subprocess.run(
        [node, "--input-type=module", "-e", NO_WS_PROBE],
        cwd=tmp_path,
        env={**os.environ, "TASKROOM_URL": package_node.base_url},
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["connected"] is False
    assert outcome["code"] == "NO_WEBSOCKET"
    assert "ws" in outcome["message"]
    assert outcome["states"] == ["connecting", "closed"]  # no retry: one would only fail again
