"""Soak: hundreds of connections churning for minutes, then everything back to its idle level.

`make soak` (or `python bench/soak.py --duration 300`). One node runs in its own process; this
process plays the clients:

- `--connections` WebSocket clients, each in a loop: connect, authenticate (resuming every
  workspace from its last seq after the first time), stay a few seconds sending presence,
  typing, cursor and ping frames while it receives events, then leave (a normal close, or one
  connection in five cut without a close frame) and come back;
- `--writers` REST writers creating, updating, moving, completing and deleting tasks.

Every client checks its events: per workspace, each seq is exactly one more than the last it
saw, across every reconnect. Unexpected ERROR frames, refused connections, failed writes and
lines the node logs at ERROR count as errors.

The leak check compares idle moments after the same kind of work: a warm-up round of churn
(so that caches, pools and allocator arenas exist), everyone leaves, settle → baseline; then the
main run in `--rounds` rounds, each followed by everyone leaving, a settle period and a
measurement. Before each measurement the node makes a full garbage collection (SIGUSR1): closed
connections are cycles of protocol objects that the node's sparse collections free late, so
without it memory would show garbage not yet collected rather than what is alive. At the final
moment connections, authenticated connections, rooms, presence entries and pending sockets must
be 0, asyncio tasks at most the baseline's plus TASK_TOLERANCE, Python's allocated blocks within
BLOCKS_TOLERANCE of the baseline, and RSS after the last round within RSS_TOLERANCE of RSS after
the first (the first round's garbage sets the allocator's high-water mark; a leak would keep
raising it). Exit status 0 when every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

HOST = "127.0.0.1"
TASK_TOLERANCE = 5  # asyncio tasks above the baseline still counted as idle (timers due to fire)
RSS_TOLERANCE_KIB = 16 * 1024  # allocator noise over a warm baseline; a leak grows with the run
RSS_TOLERANCE_FRACTION = 0.10
# Python's live memory blocks after a full collection: caches (compiled statements, interned
# strings) may still grow a little; a leak of even 20 blocks per session passes 1% within minutes.
BLOCKS_TOLERANCE = 0.01
TYPING_POOL = 20  # tasks per workspace that typing and cursors name (never deleted)
CLIENT_ERRORS_ALLOWED = {"RATE_LIMITED"}  # a burst of frames may meet the limit; it is no fault


@dataclass
class Stats:
    sessions: int = 0
    resumed_sessions: int = 0
    events: int = 0
    frames_sent: int = 0
    writes: int = 0
    aborts: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def error(self, kind: str) -> None:
        self.errors[kind] += 1


@dataclass
class World:
    base: str
    ws_url: str
    tokens: list[str]  # one per user; user 0 owns every workspace
    memberships: list[list[str]]  # per user, the workspaces it belongs to
    pools: dict[str, list[str]]  # per workspace, the tasks typing and cursors name


# --- the node ---------------------------------------------------------------------------------


class Node:
    def __init__(self, database_url: str | None, port: int, log_path: Path) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="taskroom-soak-")
        self.port = port
        self.log_path = log_path
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url or f"sqlite:///{Path(self.tmp.name) / 'soak.db'}",
            "JWT_SECRET": "soak-secret-soak-secret-soak-secret-0123",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "1024",
            "LOG_LEVEL": "warning",
            # Every client of the soak comes from 127.0.0.1.
            "WS_MAX_PENDING_PER_ADDRESS": "100000",
            "REGISTER_MAX_PER_CLIENT": "100000",
            "MEMBER_ADD_MAX_PER_MINUTE": "100000",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        python = sys.executable
        subprocess.run(
            [python, "-m", "taskroom", "db", "upgrade"], env=self.env, check=True, capture_output=True
        )
        self.log = self.log_path.open("wb")
        argv = [python, "-m", "taskroom", "serve", "--host", HOST, "--port", str(self.port)]
        self.proc = subprocess.Popen(argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://{HOST}:{self.port}/api/v1/ws/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not start; see {self.log_path}")
            time.sleep(0.1)

    async def collect(self) -> None:
        """A full garbage collection in the node (SIGUSR1), so that what is measured is alive."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1)
        await asyncio.sleep(2)

    def rss_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def logged_errors(self) -> list[str]:
        self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if "ERROR" in line or "Traceback" in line]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.tmp.cleanup()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def metrics(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        return dict((await http.get(f"{base}/api/v1/ws/metrics")).json())


def idle_view(node: Node, snapshot: dict[str, Any]) -> dict[str, int]:
    runtime = snapshot["runtime"]
    return {
        "connections": snapshot["connections"]["current"],
        "authenticated": snapshot["connections"]["authenticated"],
        "rooms": snapshot["rooms"],
        "presenceEntries": runtime["presenceEntries"],
        "pendingConnections": runtime["pendingConnections"],
        "asyncioTasks": runtime["asyncioTasks"],
        "pythonAllocatedBlocks": runtime["pythonAllocatedBlocks"],
        "rssKiB": node.rss_kib(),
    }


# --- the scene --------------------------------------------------------------------------------


async def build_world(base: str, users: int, workspaces: int) -> World:
    async with httpx.AsyncClient(base_url=f"{base}/api/v1", timeout=30) as http:
        tokens: list[str] = []
        emails: list[str] = []
        for i in range(users):
            email = f"soak{i}.{random.randrange(1 << 30)}@example.test"
            reply = await http.post(
                "/auth/register", json={"email": email, "password": "soak-pass-123", "name": f"S{i}"}
            )
            reply.raise_for_status()
            tokens.append(reply.json()["accessToken"])
            emails.append(email)
        owner = {"Authorization": f"Bearer {tokens[0]}"}
        memberships: list[list[str]] = [[] for _ in range(users)]
        pools: dict[str, list[str]] = {}
        for w in range(workspaces):
            workspace = (await http.post("/workspaces", json={"name": f"W{w}"}, headers=owner)).json()
            memberships[0].append(workspace["id"])
            # Every other user in about half the workspaces, so rooms overlap in many ways.
            for u in range(1, users):
                if (u + w) % 2 == 0:
                    added = await http.post(
                        f"/workspaces/{workspace['id']}/members",
                        json={"email": emails[u], "role": "member"},
                        headers=owner,
                    )
                    added.raise_for_status()
                    memberships[u].append(workspace["id"])
            pools[workspace["id"]] = [
                (
                    await http.post(
                        f"/workspaces/{workspace['id']}/tasks", json={"title": f"pool {t}"}, headers=owner
                    )
                ).json()["id"]
                for t in range(TYPING_POOL)
            ]
    return World(base, f"ws://{HOST}:{base.rsplit(':', 1)[1]}/api/v1/ws", tokens, memberships, pools)


# --- the clients ------------------------------------------------------------------------------


async def client_loop(
    world: World, index: int, stop: asyncio.Event, stats: Stats, session_s: tuple[float, float]
) -> None:
    user = index % len(world.tokens)
    token = world.tokens[user]
    seqs: dict[str, int] = {}  # this client's last seq per workspace, kept across reconnects
    rng = random.Random(index)
    while not stop.is_set():
        try:
            conn = await connect(world.ws_url, open_timeout=30, max_size=None)
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            stats.error(f"connect: {type(exc).__name__}")
            await asyncio.sleep(1)
            continue
        try:
            await session(conn, world, token, user, seqs, stop, stats, rng, rng.uniform(*session_s))
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            if not stop.is_set():
                stats.error(f"closed by the server: {code}")
        except (OSError, TimeoutError) as exc:
            stats.error(f"session: {type(exc).__name__}")
        finally:
            if rng.random() < 0.2 and not stop.is_set():
                stats.aborts += 1
                conn.transport.abort()  # gone without a close frame, like a dropped network
            else:
                await conn.close()
        await asyncio.sleep(rng.uniform(0.0, 1.0))


async def session(
    conn: ClientConnection,
    world: World,
    token: str,
    user: int,
    seqs: dict[str, int],
    stop: asyncio.Event,
    stats: Stats,
    rng: random.Random,
    length: float,
) -> None:
    hello = json.loads(await asyncio.wait_for(conn.recv(), 30))
    assert hello["type"] == "CONNECT", hello
    auth: dict[str, Any] = {"token": token}
    if seqs:
        auth["resume"] = dict(seqs)
        stats.resumed_sessions += 1
    await conn.send(json.dumps({"type": "AUTHENTICATE", "id": "auth", "data": auth}))
    while True:
        frame = json.loads(await asyncio.wait_for(conn.recv(), 30))
        if frame["type"] == "AUTHENTICATE":
            break
        if frame["type"] == "ERROR":
            stats.error(f"authenticate: {frame['data']['code']}")
            return
        take_event(frame, seqs, stats)
    for joined in frame["data"]["workspaces"]:
        seqs.setdefault(joined["id"], joined["seq"])
    stats.sessions += 1
    joined_ids = [w["id"] for w in frame["data"]["workspaces"]]

    async def receive() -> None:
        async for raw in conn:
            received = json.loads(raw)
            if received["type"] == "ERROR" and received["data"]["code"] not in CLIENT_ERRORS_ALLOWED:
                stats.error(f"frame: {received['data']['code']}")
            take_event(received, seqs, stats)

    reader = asyncio.create_task(receive())
    try:
        end = time.monotonic() + length
        while time.monotonic() < end and not stop.is_set() and not reader.done():
            workspace_id = rng.choice(joined_ids)
            task_id = rng.choice(world.pools[workspace_id])
            action = rng.random()
            if action < 0.25:
                frames = [
                    ("USER_PRESENCE", {"workspaceId": workspace_id, "status": rng.choice(["online", "away"])})
                ]
            elif action < 0.6:
                frames = [
                    ("USER_TYPING", {"workspaceId": workspace_id, "taskId": task_id, "isTyping": True}),
                    ("USER_TYPING", {"workspaceId": workspace_id, "taskId": task_id, "isTyping": False}),
                ]
            elif action < 0.85:
                position = {"x": rng.randrange(1000), "y": rng.randrange(1000)}
                frames = [
                    (
                        "CURSOR_POSITION",
                        {"workspaceId": workspace_id, "taskId": task_id, "position": position},
                    )
                ]
            else:
                frames = [("PING", {})]
            for message_type, data in frames:
                await conn.send(json.dumps({"type": message_type, "data": data}))
                stats.frames_sent += 1
            await asyncio.sleep(rng.uniform(1.0, 4.0))
    finally:
        reader.cancel()
        try:
            await reader
        except asyncio.CancelledError:
            pass
        except ConnectionClosed:
            if not stop.is_set():
                raise


def take_event(frame: dict[str, Any], seqs: dict[str, int], stats: Stats) -> None:
    if "seq" not in frame:
        return
    workspace_id = frame["data"].get("workspaceId")
    last = seqs.get(workspace_id)
    if last is not None and frame["seq"] != last + 1:
        stats.error("seq out of order" if frame["seq"] > last else "seq repeated")
    seqs[workspace_id] = frame["seq"]
    stats.events += 1


async def writer_loop(world: World, index: int, stop: asyncio.Event, stats: Stats, pause: float) -> None:
    rng = random.Random(10_000 + index)
    headers = {"Authorization": f"Bearer {world.tokens[0]}"}
    mine: list[str] = []
    async with httpx.AsyncClient(base_url=f"{world.base}/api/v1", timeout=30, headers=headers) as http:
        while not stop.is_set():
            workspace_id = rng.choice(world.memberships[0])
            action = rng.random()
            try:
                if not mine or action < 0.35:
                    reply = await http.post(f"/workspaces/{workspace_id}/tasks", json={"title": f"w{index}"})
                    if reply.status_code == 201:
                        mine.append(reply.json()["id"])
                elif action < 0.6:
                    reply = await http.patch(
                        f"/tasks/{rng.choice(mine)}", json={"title": f"w{index} {rng.random()}"}
                    )
                elif action < 0.75:
                    status = rng.choice(["todo", "in_progress", "done"])
                    reply = await http.post(f"/tasks/{rng.choice(mine)}/move", json={"status": status})
                elif action < 0.85:
                    reply = await http.post(
                        f"/tasks/{rng.choice(mine)}/complete", json={"completed": rng.random() < 0.5}
                    )
                else:
                    reply = await http.delete(f"/tasks/{mine.pop(rng.randrange(len(mine)))}")
                if reply.status_code >= 300:
                    stats.error(f"write: {reply.status_code}")
                else:
                    stats.writes += 1
            except httpx.HTTPError as exc:
                stats.error(f"write: {type(exc).__name__}")
            await asyncio.sleep(pause)


def merge(total: Stats, part: Stats) -> None:
    for name in ("sessions", "resumed_sessions", "events", "frames_sent", "writes", "aborts"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.errors.update(part.errors)


async def churn(
    world: World, seconds: float, connections: int, writers: int, session_s: tuple[float, float]
) -> Stats:
    stats = Stats()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(client_loop(world, i, stop, stats, session_s)) for i in range(connections)]
    tasks += [asyncio.create_task(writer_loop(world, i, stop, stats, 0.2)) for i in range(writers)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    return stats


# --- the run ----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"taskroom-soak-{port}.log"
    node = Node(args.database_url, port, log_path)
    node.start()
    base = f"http://{HOST}:{port}"
    try:
        await node.collect()
        started = idle_view(node, await metrics(base))
        world = await build_world(base, args.users, args.workspaces)
        session_s = (2.0, 15.0)
        warm = await churn(world, args.warmup, args.connections, args.writers, session_s)
        await asyncio.sleep(args.settle)
        await node.collect()
        baseline = idle_view(node, await metrics(base))

        peak_rss = 0

        async def sample_rss() -> None:
            nonlocal peak_rss
            while True:
                peak_rss = max(peak_rss, node.rss_kib())
                await asyncio.sleep(1)

        sampler = asyncio.create_task(sample_rss())
        elapsed = 0.0
        main = Stats()
        rounds: list[dict[str, int]] = []
        # The run in rounds, idle between them: a leak grows round after round, a cache fills once.
        for _ in range(args.rounds):
            t0 = time.monotonic()
            part = await churn(world, args.duration / args.rounds, args.connections, args.writers, session_s)
            elapsed += time.monotonic() - t0
            merge(main, part)
            busy = await metrics(base)
            await asyncio.sleep(args.settle)
            await node.collect()
            final_metrics = await metrics(base)
            rounds.append(idle_view(node, final_metrics))
        sampler.cancel()
        final = rounds[-1]
        logged = node.logged_errors()
    finally:
        node.stop()

    # RSS is judged from the first round on: a round's garbage, freed only by the (rare) full
    # collections, raises the allocator's high-water mark once, and freed memory is seldom given
    # back to the system; a leak keeps raising it round after round.
    first = rounds[0]
    rss_limit = first["rssKiB"] + max(RSS_TOLERANCE_KIB, int(first["rssKiB"] * RSS_TOLERANCE_FRACTION))
    checks = {
        "connections back to 0": final["connections"] == 0,
        "authenticated back to 0": final["authenticated"] == 0,
        "rooms back to 0": final["rooms"] == 0,
        "presence entries back to 0": final["presenceEntries"] == 0,
        "pending sockets back to 0": final["pendingConnections"] == 0,
        f"asyncio tasks within baseline + {TASK_TOLERANCE}": final["asyncioTasks"]
        <= baseline["asyncioTasks"] + TASK_TOLERANCE,
        "RSS after the last round within the first round's + max(16 MiB, 10%)": final["rssKiB"] <= rss_limit,
        f"Python blocks within baseline + {BLOCKS_TOLERANCE:.0%}": final["pythonAllocatedBlocks"]
        <= baseline["pythonAllocatedBlocks"] * (1 + BLOCKS_TOLERANCE),
        "no client errors": not main.errors and not warm.errors,
        "no errors logged by the node": not logged,
        "no slow consumers dropped": final_metrics["dropped"] == 0,
    }
    return {
        "settings": vars(args),
        "elapsedSeconds": round(elapsed, 1),
        "idleAtStart": started,
        "baseline": baseline,
        "afterEachRound": rounds,
        "final": final,
        "rssLimitKiB": rss_limit,
        "peakRssKiB": peak_rss,
        "run": {
            "sessions": main.sessions,
            "resumedSessions": main.resumed_sessions,
            "abruptDisconnects": main.aborts,
            "eventsReceived": main.events,
            "framesSent": main.frames_sent,
            "restWrites": main.writes,
            "errors": dict(main.errors),
            "warmupErrors": dict(warm.errors),
            "serverConnectionsOpened": busy["connections"]["totalOpened"],
            "serverPeakConnections": busy["connections"]["peak"],
            "serverMessagesIn": busy["messages"]["in"],
            "serverMessagesOut": busy["messages"]["out"],
            "serverRateLimited": busy["rateLimited"],
        },
        "nodeLogErrors": logged[:20],
        "checks": checks,
        "passed": all(checks.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of the main run (default 300)")
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds of churn before the baseline")
    parser.add_argument(
        "--rounds", type=int, default=3, help="the run split in rounds, idle and measured after each"
    )
    parser.add_argument("--settle", type=float, default=15.0, help="seconds idle before each measurement")
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--writers", type=int, default=4, help="REST writers, each about 5 writes a second")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--workspaces", type=int, default=8)
    parser.add_argument("--database-url", help="a PostgreSQL URL; default a temporary SQLite file")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
