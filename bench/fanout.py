"""Fan-out benchmark: one node, N authenticated connections in one workspace, M task changes.

Measures, on a real node in its own process (SQLite, default settings):
- memory per idle authenticated connection (RSS growth of the server process / N);
- end-to-end fan-out: from the REST write being sent to the last of N clients receiving its
  event (p50 / p95 / max), and frames delivered per second.

Usage: python bench/fanout.py [--connections 500] [--events 200]
Writes bench/results/fanout.json and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

RESULTS = Path(__file__).parent / "results" / "fanout.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_node(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "JWT_SECRET": "bench-secret-bench-secret-bench-secret-0123",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "LOG_LEVEL": "warning",
        "WS_RATE_LIMIT": "1000",
        "WS_RATE_LIMIT_BURST": "1000",
        "WS_MAX_CONNECTIONS_PER_USER": "100000",
    }
    taskroom = [sys.executable, "-m", "taskroom"]
    subprocess.run([*taskroom, "db", "upgrade"], env=env, check=True, capture_output=True)
    node = subprocess.Popen([*taskroom, "serve", "--port", str(port)], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/ws/health").status_code == 200:
                return node
        except httpx.HTTPError:
            time.sleep(0.1)
    node.kill()
    raise RuntimeError("node did not start")


async def open_client(url: str, token: str) -> ClientConnection:
    ws = await connect(url, max_size=None, ping_interval=None)
    await ws.recv()  # CONNECT
    await ws.send(json.dumps({"type": "AUTHENTICATE", "data": {"token": token}}))
    while json.loads(await ws.recv())["type"] != "AUTHENTICATE":
        pass
    return ws


async def receive_events(ws: ClientConnection, count: int, arrivals: dict[int, float]) -> None:
    seen = 0
    while seen < count:
        frame = json.loads(await ws.recv())
        seq = frame.get("seq")
        if seq is not None:
            seen += 1
            arrivals[seq] = max(arrivals.get(seq, 0.0), time.perf_counter())


async def run(connections: int, events: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        node = start_node(Path(tmp), port)
        try:
            base = f"http://127.0.0.1:{port}/api/v1"
            async with httpx.AsyncClient(base_url=base, timeout=30) as http:
                email = f"bench-{uuid.uuid4().hex[:8]}@example.test"
                auth = (
                    await http.post(
                        "/auth/register", json={"email": email, "password": "bench-pass", "name": "B"}
                    )
                ).json()
                headers = {"Authorization": f"Bearer {auth['accessToken']}"}
                workspace = (await http.post("/workspaces", json={"name": "bench"}, headers=headers)).json()

                await asyncio.sleep(0.5)
                baseline = rss_kib(node.pid)
                url = f"ws://127.0.0.1:{port}/api/v1/ws"
                clients: list[ClientConnection] = []
                for start in range(0, connections, 100):
                    batch = [
                        open_client(url, auth["accessToken"])
                        for _ in range(start, min(connections, start + 100))
                    ]
                    clients.extend(await asyncio.gather(*batch))
                await asyncio.sleep(1.0)
                loaded = rss_kib(node.pid)
                # Drain the presence frames the joins produced before timing anything.
                for ws in clients:
                    with_timeout = True
                    while with_timeout:
                        try:
                            await asyncio.wait_for(ws.recv(), 0.01)
                        except TimeoutError:
                            with_timeout = False

                arrivals: dict[int, float] = {}
                receivers = [asyncio.create_task(receive_events(ws, events, arrivals)) for ws in clients]
                sent_at: dict[int, float] = {}
                started = time.perf_counter()
                for i in range(events):
                    sent_at[i + 1] = time.perf_counter()
                    response = await http.post(
                        f"/workspaces/{workspace['id']}/tasks", json={"title": f"task {i}"}, headers=headers
                    )
                    response.raise_for_status()
                await asyncio.wait_for(asyncio.gather(*receivers), 120)
                elapsed = time.perf_counter() - started
                latencies = sorted((arrivals[seq] - sent_at[seq]) * 1000 for seq in sent_at)
                for ws in clients:
                    await ws.close()
                metrics = (await http.get(f"http://127.0.0.1:{port}/api/v1/ws/metrics")).json()
        finally:
            node.terminate()
            node.wait(30)
    return {
        "connections": connections,
        "events": events,
        "rssPerIdleConnectionKiB": round((loaded - baseline) / connections, 2),
        "framesDelivered": connections * events,
        "framesPerSecond": round(connections * events / elapsed),
        "writeToLastReceiverMs": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(latencies[int(len(latencies) * 0.95) - 1], 2),
            "max": round(latencies[-1], 2),
        },
        "serverFanoutLatencyMs": metrics["fanoutLatency"],
        "note": "client and server share the machine's 2 cores; the write includes the SQLite commit",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    result = asyncio.run(run(args.connections, args.events))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
