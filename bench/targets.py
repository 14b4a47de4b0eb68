"""The servers under test, each in its own process pinned to its own core, and how to talk to them.

A target knows how to start its server, connect and join a subscriber, open a publisher, and
find an event's key in a received frame with a byte search (no JSON decoding on receipt).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wsclient import Http, WSClient, client_frame, ws_connect

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
GENERATOR_CORE = 0
SERVER_CORE = 1 if (os.cpu_count() or 1) > 1 else 0

Extract = Callable[[WSClient, bytes], bytes | None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _server_preexec() -> None:
    raise_nofile()
    os.sched_setaffinity(0, {SERVER_CORE})


class ServerProcess:
    """A server in a child process on the server core, with CPU and RSS read from /proc."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            list(argv),
            env=env,
            preexec_fn=_server_preexec,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    async def wait_listening(self, limit_s: float = 60.0) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"server exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                _, writer = await asyncio.open_connection(HOST, self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise RuntimeError("server did not start listening")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def marker_key(client: WSClient, payload: bytes) -> bytes | None:
    """The digits of the `~t<ns>~` marker the publisher put in the event."""
    i = payload.find(b"~t")
    if i < 0:
        return None
    j = payload.find(b"~", i + 2)
    return payload[i + 2 : j] if j > 0 else None


class Target:
    """One kind of server. Subclasses fill in the protocol."""

    name = "?"
    extract: Extract = staticmethod(marker_key)

    def __init__(self) -> None:
        self.server: ServerProcess | None = None
        self.port = 0
        self.errors = 0

    async def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    async def subscriber(
        self, room: int = 0, on_text: Callable[[WSClient, bytes], None] | None = None
    ) -> WSClient:
        raise NotImplementedError

    async def publisher(self, room: int = 0) -> Publisher:
        raise NotImplementedError

    async def setup_rooms(self, rooms: int, pool: int) -> None:
        return None


class Publisher:
    """Sends events into one room; `publish(k)` writes k events in one write and returns their keys."""

    def __init__(self, client: WSClient) -> None:
        self.client = client
        self._last = 0

    def _stamp(self) -> int:
        now = time.perf_counter_ns()
        if now <= self._last:
            now = self._last + 1
        self._last = now
        return now

    def publish(self, k: int, sent: dict[bytes, int]) -> None:
        frames = []
        for _ in range(k):
            ns = self._stamp()
            sent[str(ns).encode()] = ns
            frames.append(client_frame(self.event(ns)))
        self.client.send_frame(b"".join(frames))

    def event(self, ns: int) -> bytes:
        raise NotImplementedError

    def finish(self, sent: dict[bytes, int]) -> int:
        """Events to send so nothing is left half done (Taskroom's typing pairs); returns how many."""
        return 0


# --- bare ---------------------------------------------------------------------------------------------


class BarePublisher(Publisher):
    def event(self, ns: int) -> bytes:
        return b'P{"type":"EV","data":{"m":"~t%d~"}}' % ns


class Bare(Target):
    name = "bare"

    async def start(self) -> None:
        self.port = free_port()
        argv = [sys.executable, str(BENCH_DIR / "peer_bare.py"), "--port", str(self.port)]
        self.server = ServerProcess(argv, dict(os.environ), self.port)
        await self.server.wait_listening()

    async def subscriber(
        self, room: int = 0, on_text: Callable[[WSClient, bytes], None] | None = None
    ) -> WSClient:
        client = await ws_connect(HOST, self.port, f"/ws?room=r{room}")
        if on_text is not None:
            client.on_text = on_text
        return client

    async def publisher(self, room: int = 0) -> Publisher:
        return BarePublisher(await self.subscriber(room))


# --- python-socketio ----------------------------------------------------------------------------------


def socketio_key(client: WSClient, payload: bytes) -> bytes | None:
    if payload == b"2":  # Engine.IO ping
        client.send_text(b"3")
        return None
    return marker_key(client, payload)


class SocketIOPublisher(Publisher):
    def event(self, ns: int) -> bytes:
        return b'42["pub",{"m":"~t%d~"}]' % ns


class SocketIO(Target):
    name = "socketio"
    extract = staticmethod(socketio_key)

    async def start(self) -> None:
        self.port = free_port()
        argv = [sys.executable, str(BENCH_DIR / "peer_socketio.py"), "--port", str(self.port)]
        self.server = ServerProcess(argv, dict(os.environ), self.port)
        await self.server.wait_listening()

    async def subscriber(
        self, room: int = 0, on_text: Callable[[WSClient, bytes], None] | None = None
    ) -> WSClient:
        joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        join = b'421["join","r%d"]' % room

        def handshake(client: WSClient, payload: bytes) -> None:
            if payload[:1] == b"0":  # Engine.IO open → Socket.IO connect
                client.send_text(b"40")
            elif payload[:2] == b"40":  # Socket.IO connected → join the room (with an ack)
                client.send_text(join)
            elif payload[:3] == b"431":
                client.on_text = on_text or socketio_key_ignore
                if not joined.done():
                    joined.set_result(None)
            elif payload == b"2":
                client.send_text(b"3")
            elif payload[:2] == b"44" and not joined.done():
                joined.set_exception(ConnectionError(payload.decode(errors="replace")))

        client = await ws_connect(HOST, self.port, "/socket.io/?EIO=4&transport=websocket", handshake)
        await asyncio.wait_for(joined, 30)
        return client

    async def publisher(self, room: int = 0) -> Publisher:
        return SocketIOPublisher(await self.subscriber(room))


def socketio_key_ignore(client: WSClient, payload: bytes) -> None:
    if payload == b"2":
        client.send_text(b"3")


# --- Taskroom -----------------------------------------------------------------------------------------


def typing_key(client: WSClient, payload: bytes) -> bytes | None:
    """`taskId` + T/F of a USER_TYPING frame: an ephemeral event's identity (it has no seq)."""
    if payload.find(b'"USER_TYPING"') < 0:
        return None
    i = payload.find(b'"taskId":"')
    if i >= 0:
        i += 10
    else:  # not compact JSON: `"taskId": "…"`
        i = payload.find(b'"taskId"')
        if i < 0:
            return None
        i = payload.find(b'"', i + 8) + 1
    j = payload.find(b'"', i)
    k = payload.find(b'"isTyping"')
    typing = k > 0 and payload[k + 10 : k + 16].lstrip(b": ")[:1] == b"t"
    return payload[i:j] + (b"T" if typing else b"F")


class TypingPublisher(Publisher):
    """USER_TYPING frames over a pool of real tasks: (task k, true) then (task k, false), k cycling."""

    def __init__(self, client: WSClient, workspace_id: str, task_ids: list[str]) -> None:
        super().__init__(client)
        self.task_ids = [t.encode() for t in task_ids]
        self.head = b'{"type":"USER_TYPING","data":{"workspaceId":"' + workspace_id.encode() + b'","taskId":"'
        self.i = 0

    def publish(self, k: int, sent: dict[bytes, int]) -> None:
        frames = []
        now = time.perf_counter_ns()
        for _ in range(k):
            task = self.task_ids[(self.i // 2) % len(self.task_ids)]
            typing = self.i % 2 == 0
            self.i += 1
            sent[task + (b"T" if typing else b"F")] = now
            frames.append(
                client_frame(
                    self.head + task + (b'","isTyping":true}}' if typing else b'","isTyping":false}}')
                )
            )
        self.client.send_frame(b"".join(frames))

    def finish(self, sent: dict[bytes, int]) -> int:
        if self.i % 2:
            self.publish(1, sent)
            return 1
        return 0


class RestPublisher:
    """TASK_CREATED events through REST, the send time in the title."""

    def __init__(self, http: Http, workspace_id: str) -> None:
        self.http = http
        self.path = f"/api/v1/workspaces/{workspace_id}/tasks"
        self._last = 0
        self.latencies: list[int] = []
        self.failures = 0

    async def post(self, sent: dict[bytes, int]) -> None:
        ns = time.perf_counter_ns()
        if ns <= self._last:
            ns = self._last + 1
        self._last = ns
        sent[str(ns).encode()] = ns
        try:
            status, _ = await self.http.request("POST", self.path, {"title": f"bench ~t{ns}~"})
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            status = 0
        self.latencies.append(time.perf_counter_ns() - ns)
        if status != 201:
            self.failures += 1


class Taskroom(Target):
    name = "taskroom"
    extract = staticmethod(typing_key)

    def __init__(self, python: str = sys.executable) -> None:
        super().__init__()
        self.python = python
        self.tmp: tempfile.TemporaryDirectory[str] | None = None
        self.token = ""
        self.workspaces: list[str] = []
        self.tasks: dict[str, list[str]] = {}

    def env(self) -> dict[str, str]:
        assert self.tmp is not None
        return {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(self.tmp.name) / 'bench.db'}",
            "JWT_SECRET": "bench-secret-bench-secret-bench-secret-0123",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "1024",
            "LOG_LEVEL": "warning",
            "WS_RATE_LIMIT": "1000000000",
            "WS_RATE_LIMIT_BURST": "1000000000",
            "WS_MAX_CONNECTIONS_PER_USER": "1000000",
            "WS_MAX_CONNECTIONS": "1000000",
            # Every benchmark client comes from 127.0.0.1, thousands connecting at once in a storm.
            "WS_MAX_PENDING_PER_ADDRESS": "1000000",
            # The document scenario: one writer as fast as it can, a hundred readers of one user,
            # and a run's worth of updates (each counts against the size bound until remeasured).
            "DOC_RATE_LIMIT": "1000000000",
            "DOC_RATE_LIMIT_BURST": "1000000000",
            "DOC_MAX_CONNECTIONS_PER_USER": "1000000",
            "DOC_MAX_BYTES": "16777216",
        }

    async def start(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="taskroom-bench-")
        self.port = free_port()
        env = self.env()
        await self._upgrade(env)
        argv = [self.python, "-m", "taskroom", "serve", "--host", HOST, "--port", str(self.port)]
        self.server = ServerProcess(argv, env, self.port)
        await self.server.wait_listening()
        await self._register()

    async def _upgrade(self, env: dict[str, str]) -> None:
        """`taskroom db upgrade` on the database of `env` (PostgreSQL nodes refuse a schema behind)."""
        upgrade = await asyncio.create_subprocess_exec(
            self.python, "-m", "taskroom", "db", "upgrade", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await upgrade.communicate()
        if upgrade.returncode:
            raise RuntimeError(f"db upgrade failed: {err.decode(errors='replace')[-2000:]}")

    async def _register(self) -> None:
        http = Http(HOST, self.port)
        status, body = await http.request(
            "POST",
            "/api/v1/auth/register",
            {"email": "bench@example.test", "password": "bench-pass-123", "name": "Bench"},
        )
        await http.close()
        if status != 201:
            raise RuntimeError(f"register answered {status}: {body}")
        self.token = body["accessToken"]

    def stop(self) -> None:
        super().stop()
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None

    def http(self) -> Http:
        return Http(HOST, self.port, self.token)

    def next_port(self) -> int:
        """The node the next WebSocket connects to (one node here; several in a cluster)."""
        return self.port

    async def setup_rooms(self, rooms: int, pool: int) -> None:
        """`rooms` workspaces with `pool` real tasks each (the typing events name them)."""
        http = self.http()
        try:
            while len(self.workspaces) < rooms:
                status, ws = await http.request(
                    "POST", "/api/v1/workspaces", {"name": f"bench {len(self.workspaces)}"}
                )
                if status != 201:
                    raise RuntimeError(f"create workspace answered {status}: {ws}")
                self.workspaces.append(ws["id"])
            for workspace_id in self.workspaces[:rooms]:
                ids = self.tasks.setdefault(workspace_id, [])
                while len(ids) < pool:
                    status, task = await http.request(
                        "POST", f"/api/v1/workspaces/{workspace_id}/tasks", {"title": f"pool {len(ids)}"}
                    )
                    if status != 201:
                        raise RuntimeError(f"create task answered {status}: {task}")
                    ids.append(task["id"])
        finally:
            await http.close()

    async def authenticated(
        self,
        room: int | None = 0,
        on_text: Callable[[WSClient, bytes], None] | None = None,
        resume: dict[str, int] | None = None,
        limit_s: float = 30.0,
    ) -> WSClient:
        """Connect, wait for CONNECT, AUTHENTICATE (into one workspace, or all when room is None)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[dict[str, Any]] = loop.create_future()
        data: dict[str, Any] = {"token": self.token}
        if room is not None:
            data["workspaceIds"] = [self.workspaces[room]]
        if resume is not None:
            data["resume"] = resume
        auth = json.dumps({"type": "AUTHENTICATE", "data": data, "id": "a"}, separators=(",", ":")).encode()

        def handshake(client: WSClient, payload: bytes) -> None:
            frame = json.loads(payload)
            kind = frame.get("type")
            if kind == "CONNECT":
                client.send_text(auth)
            elif kind == "AUTHENTICATE":
                # Where this connection's seq count starts, set before any event can arrive.
                if resume is not None:
                    client.last_seq = next(iter(resume.values()), 0)
                else:
                    joined = frame["data"].get("workspaces") or [{}]
                    client.last_seq = int(joined[0].get("seq") or 0)
                client.on_text = on_text or ignore
                if not done.done():
                    done.set_result(frame["data"])
            elif kind == "ERROR" and not done.done():
                done.set_exception(ConnectionError(str(frame.get("data"))))

        port = self.next_port()
        client = await ws_connect(HOST, port, "/api/v1/ws", handshake)
        client.port = port
        closed = client.closed
        finished, _ = await asyncio.wait({done, closed}, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
        if done not in finished:
            client.abort()
            if not done.done():
                done.cancel()
            raise ConnectionError(f"no AUTHENTICATE reply (close {client.close_code or 'none'})")
        reply = done.result()
        client.tag = reply
        return client

    async def subscriber(
        self, room: int = 0, on_text: Callable[[WSClient, bytes], None] | None = None
    ) -> WSClient:
        return await self.authenticated(room, on_text)

    async def publisher(self, room: int = 0) -> Publisher:
        workspace_id = self.workspaces[room]
        return TypingPublisher(await self.authenticated(room), workspace_id, self.tasks[workspace_id])


def ignore(client: WSClient, payload: bytes) -> None:
    return None


# --- Taskroom's shared documents ----------------------------------------------------------------------


def _varuint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)


class DocumentWriter(Publisher):
    """Yjs updates to one task document (y-websocket sync "update" messages, binary frames).

    Each update replaces the writer's text with the send time as a `~t<ns>~` marker, in one
    transaction: the text stays a marker long, and the marker's bytes travel verbatim in the update
    the server fans out, so a reader finds the key with a byte search, as for the JSON events.
    """

    def __init__(self, client: WSClient) -> None:
        super().__init__(client)
        from pycrdt import Doc, Text, TransactionEvent  # the generator's venv has it (a server dependency)

        self.doc: Any = Doc()
        self.text: Any = self.doc.get("description", type=Text)
        self._updates: list[bytes] = []

        def collect(event: TransactionEvent) -> None:
            self._updates.append(event.update)

        self._subscription = self.doc.observe(collect)

    def event(self, ns: int) -> bytes:
        with self.doc.transaction():
            del self.text[:]
            self.text += f"~t{ns}~"
        update = b"".join(self._updates)
        self._updates.clear()
        return b"\x00\x02" + _varuint(len(update)) + update  # sync, update, the payload

    def publish(self, k: int, sent: dict[bytes, int]) -> None:
        frames = []
        for _ in range(k):
            ns = self._stamp()
            sent[str(ns).encode()] = ns
            frames.append(client_frame(self.event(ns), 0x2))
        self.client.send_frame(b"".join(frames))


async def document_client(
    port: int, task_id: str, token: str, on_binary: Callable[[WSClient, bytes], None] | None = None
) -> WSClient:
    """A connection to `WS /api/v1/tasks/{task_id}/doc`; it is sent the welcome at once."""
    client = await ws_connect(HOST, port, f"/api/v1/tasks/{task_id}/doc?token={token}")
    if on_binary is not None:
        client.on_binary = on_binary
    return client


# --- Taskroom, several nodes ---------------------------------------------------------------------------

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


class TaskroomCluster(Taskroom):
    """`nodes` Taskroom processes on one PostgreSQL database and one Redis, as one service.

    WebSocket clients go round robin over the nodes, so one room is spread over all of them; the
    REST writer and the publisher use node 0 (`self.port`). CPU and RSS are node 0's.
    """

    name = "taskroom-cluster"

    def __init__(self, python: str = sys.executable, nodes: int = 3) -> None:
        super().__init__(python)
        self.nodes = nodes
        self.ports: list[int] = []
        self.servers: list[ServerProcess] = []
        self.database = f"taskroom_bench_{os.getpid()}_{int(time.time())}"
        self._turn = 0

    def env(self) -> dict[str, str]:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        return {
            **super().env(),
            "DATABASE_URL": f"{base}/{self.database}",
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": f"taskroom-bench:{self.database}:",
        }

    async def _admin(self, statement: str) -> None:
        import asyncpg

        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def start(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="taskroom-bench-")
        await self._admin(f'CREATE DATABASE "{self.database}"')
        env = self.env()
        await self._upgrade(env)
        for number in range(self.nodes):
            port = free_port()
            argv = [self.python, "-m", "taskroom", "serve", "--host", HOST, "--port", str(port)]
            server = ServerProcess(argv, {**env, "NODE_ID": f"bench-{number}"}, port)
            self.ports.append(port)
            self.servers.append(server)
        for server in self.servers:
            await server.wait_listening()
        self.port, self.server = self.ports[0], self.servers[0]
        await self._register()

    def next_port(self) -> int:
        self._turn += 1
        return self.ports[self._turn % len(self.ports)]

    def node_of(self, client: WSClient) -> int:
        return self.ports.index(client.port)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers, self.server = [], None
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None
        subprocess.run(
            [
                "psql",
                POSTGRES_ADMIN_URL,
                "-q",
                "-c",
                f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)',
            ],
            capture_output=True,
            check=False,
        )
