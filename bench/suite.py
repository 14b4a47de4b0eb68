"""Fan-out benchmark suite: Taskroom against a bare asyncio server and python-socketio.

Every server runs in its own process pinned to one core; this load generator runs in one process
pinned to the other, speaks the public protocol only (PROTOCOL.md §2 REST, §3 WebSocket), and
timestamps events itself, so latency is publish → receipt on one clock.

Usage:
  python bench/suite.py [--quick] [--scenario NAME ...] [--taskroom-python PATH]
Writes bench/results/latest.json (rows of every scenario run, plus the machine) and prints each row.
`--taskroom-python` runs `-m taskroom serve` with another interpreter (e.g. another tree's venv).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targets import (
    GENERATOR_CORE,
    SERVER_CORE,
    Bare,
    DocumentWriter,
    Publisher,
    RestPublisher,
    SocketIO,
    Target,
    Taskroom,
    TaskroomCluster,
    document_client,
    marker_key,
    raise_nofile,
    typing_key,
)
from wsclient import WSClient

RESULTS = Path(__file__).parent / "results" / "latest.json"
MS = 1e6  # ns per ms


@dataclass(frozen=True)
class Sizes:
    room: int  # subscribers of "1,000 in one room"
    big: int  # subscribers of "10,000"
    rooms: int  # rooms x per_room
    per_room: int
    storms: tuple[int, ...]
    reconnect: int
    max_seconds: float  # one sustained-rate run
    rate_seconds: float  # one fixed-rate run
    writer_seconds: float  # REST writers, each phase
    pool: int  # tasks per workspace for typing events


FULL = Sizes(1000, 10000, 100, 100, (1000, 10000), 5000, 5.0, 10.0, 10.0, 300)
QUICK = Sizes(200, 1000, 10, 20, (200, 1000), 500, 1.5, 2.0, 2.0, 60)


# --- receipt bookkeeping ----------------------------------------------------------------------------


class Tracker:
    """Matches receipts to sends by key; per delivery and per event (last receipt) latency."""

    def __init__(self, extract: Callable[[WSClient, bytes], bytes | None]) -> None:
        self.extract = extract
        self.sent: dict[bytes, int] = {}
        self.last: dict[bytes, int] = {}
        self.latencies: list[int] = []
        self.event_latencies: list[int] = []
        self.delivered = 0
        self.unmatched = 0
        self._wake_at = math.inf
        self._waiter: asyncio.Future[None] | None = None

    def reset(self) -> None:
        self.sent.clear()
        self.last.clear()
        self.latencies = []
        self.event_latencies = []
        self.delivered = 0
        self.unmatched = 0

    def on_text(self, client: WSClient, payload: bytes) -> None:
        key = self.extract(client, payload)
        if key is None:
            return
        t0 = self.sent.get(key)
        if t0 is None:
            self.unmatched += 1
            return
        now = time.perf_counter_ns()
        self.latencies.append(now - t0)
        self.last[key] = now
        self.delivered += 1
        if self.delivered >= self._wake_at and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def will_send(self, key: bytes) -> None:
        """Called before a key is reused: the previous event with it is complete."""
        last = self.last.pop(key, None)
        if last is not None:
            self.event_latencies.append(last - self.sent[key])

    def close_events(self) -> None:
        for key, last in self.last.items():
            self.event_latencies.append(last - self.sent[key])
        self.last.clear()

    async def wait_delivered(self, count: float, limit_s: float) -> bool:
        if self.delivered >= count:
            return True
        self._wake_at = count
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._waiter, limit_s)
            return True
        except TimeoutError:
            return False
        finally:
            self._wake_at = math.inf
            self._waiter = None


class KeyedSent(dict[bytes, int]):
    """The `sent` map a publisher writes to: closes the previous event of a reused key."""

    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self.tracker = tracker

    def __setitem__(self, key: bytes, value: int) -> None:
        self.tracker.will_send(key)
        self.tracker.sent[key] = value


def pct(values: Sequence[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] / MS, 3)


class Meter:
    """Server CPU, generator CPU and wall time over a measured stretch."""

    def __init__(self, target: Target) -> None:
        self.target = target
        assert target.server is not None
        self.server = target.server
        self.wall = time.perf_counter()
        self.server_cpu = self.server.cpu_seconds()
        times = os.times()
        self.gen_cpu = times.user + times.system

    def read(self) -> tuple[float, float, float]:
        times = os.times()
        return (
            time.perf_counter() - self.wall,
            self.server.cpu_seconds() - self.server_cpu,
            times.user + times.system - self.gen_cpu,
        )


# --- rows --------------------------------------------------------------------------------------------

ROWS: list[dict[str, Any]] = []


def emit(row: dict[str, Any]) -> dict[str, Any]:
    ROWS.append(row)
    shown = {k: v for k, v in row.items() if v is not None}
    print(json.dumps(shown, separators=(", ", ": ")), flush=True)
    return row


def delivery_row(
    scenario: str,
    target: Target,
    case: str,
    subscribers: int,
    tracker: Tracker,
    meter: tuple[float, float, float],
    events: int,
    expected: int,
    **extra: Any,
) -> dict[str, Any]:
    tracker.close_events()
    wall, server_cpu, gen_cpu = meter
    delivered = tracker.delivered
    return emit(
        {
            "scenario": scenario,
            "target": target.name,
            "case": case,
            "subscribers": subscribers,
            "events": events,
            "delivered": delivered,
            "expected": expected,
            "seconds": round(wall, 3),
            "deliveriesPerSecond": round(delivered / wall) if wall > 0 else None,
            "p50Ms": pct(tracker.latencies, 0.50),
            "p95Ms": pct(tracker.latencies, 0.95),
            "p99Ms": pct(tracker.latencies, 0.99),
            "lastReceiptP50Ms": pct(tracker.event_latencies, 0.50),
            "lastReceiptP99Ms": pct(tracker.event_latencies, 0.99),
            "serverUsPerDelivery": round(server_cpu / delivered * 1e6, 3) if delivered else None,
            "serverCpuFraction": round(server_cpu / wall, 3) if wall > 0 else None,
            "generatorCpuFraction": round(gen_cpu / wall, 3) if wall > 0 else None,
            "generatorUsPerDelivery": round(gen_cpu / delivered * 1e6, 3) if delivered else None,
            "serverRssKiB": target.server.rss_kib() if target.server else None,
            **extra,
        }
    )


# --- connecting -----------------------------------------------------------------------------------


async def connect_many(
    n: int, connect: Callable[[int], Awaitable[WSClient]], concurrency: int = 250
) -> tuple[list[WSClient], int]:
    """n connections, `concurrency` at a time; returns the clients and how many failed."""
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(i: int) -> WSClient | None:
        nonlocal failures
        async with gate:
            try:
                return await connect(i)
            except (OSError, ConnectionError, TimeoutError):
                failures += 1
                return None

    clients = await asyncio.gather(*(one(i) for i in range(n)))
    return [c for c in clients if c is not None], failures


async def close_all(clients: Sequence[WSClient]) -> None:
    for client in clients:
        client.close()
    if clients:
        await asyncio.wait([asyncio.ensure_future(c.closed) for c in clients], timeout=10)
        for client in clients:
            if not client.closed.done():
                client.abort()


async def settle(seconds: float = 1.0) -> None:
    gc.collect()
    await asyncio.sleep(seconds)


# --- drivers --------------------------------------------------------------------------------------


async def run_max(
    target: Target,
    tracker: Tracker,
    publishers: Sequence[Publisher],
    per_event: int,
    seconds: float,
    burst: int = 1,
    window: int = 4,
    max_events: int = 1_000_000,
) -> tuple[tuple[float, float, float], int]:
    """Publish back to back: at most `window` writes of `burst` events not yet fully delivered
    (per publisher), so the server always has work queued and the generator never floods it."""
    tracker.reset()
    sent_map = KeyedSent(tracker)
    meter = Meter(target)
    sent = 0
    end = time.perf_counter() + seconds
    i = 0
    in_flight = window * burst * len(publishers)
    while time.perf_counter() < end and sent < max_events:
        if not await tracker.wait_delivered((sent + burst - in_flight) * per_event, 10.0):
            break
        publishers[i % len(publishers)].publish(burst, sent_map)
        i += 1
        sent += burst
    for publisher in publishers:
        sent += publisher.finish(sent_map)
    await tracker.wait_delivered(sent * per_event, 15.0)
    return meter.read(), sent


async def run_rate(
    target: Target,
    tracker: Tracker,
    publishers: Sequence[Publisher],
    per_event: int,
    rate: float,
    seconds: float,
) -> tuple[tuple[float, float, float], int]:
    """Publish `rate` events a second (round robin over the publishers) for `seconds`."""
    tracker.reset()
    sent_map = KeyedSent(tracker)
    meter = Meter(target)
    count = max(2, int(rate * seconds))
    count += count % 2
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        publishers[i % len(publishers)].publish(1, sent_map)
    sent = count
    for publisher in publishers:
        sent += publisher.finish(sent_map)
    await tracker.wait_delivered(sent * per_event, 15.0)
    return meter.read(), sent


async def run_rest(
    target: Taskroom,
    tracker: Tracker,
    poster: RestPublisher,
    per_event: int,
    seconds: float,
    rate: float | None,
) -> tuple[tuple[float, float, float], int]:
    """One REST writer: back to back (window of 2 events not yet delivered) or at a fixed rate."""
    tracker.reset()
    poster.latencies = []
    sent_map = KeyedSent(tracker)
    meter = Meter(target)
    start = time.perf_counter()
    sent = 0
    while time.perf_counter() - start < seconds:
        if rate is None:
            if not await tracker.wait_delivered((sent - 1) * per_event, 10.0):
                break
        else:
            delay = start + sent / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await poster.post(sent_map)
        sent += 1
    await tracker.wait_delivered(sent * per_event, 15.0)
    return meter.read(), sent


# --- scenarios ------------------------------------------------------------------------------------


@dataclass
class Ctx:
    sizes: Sizes
    taskroom_python: str
    quick: bool


def make_target(name: str, ctx: Ctx) -> Target:
    if name == "bare":
        return Bare()
    if name == "socketio":
        return SocketIO()
    return Taskroom(ctx.taskroom_python)


async def with_room(
    ctx: Ctx,
    name: str,
    subscribers: int,
    body: Callable[[Target, Tracker, list[WSClient], Publisher, dict[str, Any]], Awaitable[None]],
    scenario: str,
) -> None:
    """Start a target, one room of `subscribers` plus a publisher, record idle KiB/conn, run body."""
    target = make_target(name, ctx)
    clients: list[WSClient] = []
    try:
        await target.start()
        await target.setup_rooms(1, ctx.sizes.pool)
        tracker = Tracker(target.extract)
        publisher = await target.publisher(0)
        assert target.server is not None
        await settle(0.5)
        base = target.server.rss_kib()
        t0 = time.perf_counter()
        clients, failures = await connect_many(subscribers, lambda i: target.subscriber(0, tracker.on_text))
        connect_s = time.perf_counter() - t0
        await settle(1.0)
        rss = target.server.rss_kib()
        idle = emit(
            {
                "scenario": scenario,
                "target": name,
                "case": "idle",
                "subscribers": len(clients),
                "connectFailures": failures,
                "connectSeconds": round(connect_s, 3),
                "serverRssKiB": rss,
                "kibPerConnection": round((rss - base) / max(1, len(clients)), 2),
            }
        )
        # Warm up (imports, caches, first allocations) before anything is measured.
        await run_max(target, tracker, [publisher], len(clients), 0.5)
        await body(target, tracker, clients, publisher, idle)
    finally:
        await close_all(clients)
        target.stop()


async def fanout(ctx: Ctx, scenario: str, subscribers: int, names: Sequence[str]) -> None:
    sizes = ctx.sizes

    async def body(
        target: Target, tracker: Tracker, clients: list[WSClient], publisher: Publisher, idle: dict[str, Any]
    ) -> None:
        n = len(clients)
        meter, sent = await run_max(target, tracker, [publisher], n, sizes.max_seconds)
        delivery_row(scenario, target, "max", n, tracker, meter, sent, sent * n)
        meter, sent = await run_rate(target, tracker, [publisher], n, 5.0, sizes.rate_seconds)
        delivery_row(scenario, target, "rate5", n, tracker, meter, sent, sent * n, rate=5)
        if isinstance(target, Taskroom):
            rest_tracker = Tracker(marker_key)
            for client in clients:
                client.on_text = rest_tracker.on_text
            http = target.http()
            poster = RestPublisher(http, target.workspaces[0])
            try:
                meter, sent = await run_rest(target, rest_tracker, poster, n, sizes.max_seconds, None)
                delivery_row(
                    scenario, target, "rest-max", n, rest_tracker, meter, sent, sent * n,
                    restFailures=poster.failures,
                )  # fmt: skip
                meter, sent = await run_rest(target, rest_tracker, poster, n, sizes.rate_seconds, 5.0)
                delivery_row(
                    scenario, target, "rest-rate5", n, rest_tracker, meter, sent, sent * n, rate=5,
                    restP50Ms=pct(poster.latencies, 0.5), restP99Ms=pct(poster.latencies, 0.99),
                    restFailures=poster.failures,
                )  # fmt: skip
            finally:
                await http.close()
                for client in clients:
                    client.on_text = tracker.on_text

    for name in names:
        await with_room(ctx, name, subscribers, body, scenario)


async def scenario_fanout_1k(ctx: Ctx) -> None:
    await fanout(ctx, "fanout-1k", ctx.sizes.room, ("bare", "socketio", "taskroom"))


async def scenario_fanout_10k(ctx: Ctx) -> None:
    await fanout(ctx, "fanout-10k", ctx.sizes.big, ("bare", "taskroom"))


async def scenario_coalescing(ctx: Ctx) -> None:
    sizes = ctx.sizes

    async def body(
        target: Target, tracker: Tracker, clients: list[WSClient], publisher: Publisher, idle: dict[str, Any]
    ) -> None:
        n = len(clients)
        meter, sent = await run_rate(target, tracker, [publisher], n, 100.0, sizes.rate_seconds)
        delivery_row("coalescing", target, "rate100", n, tracker, meter, sent, sent * n, rate=100)
        meter, sent = await run_max(target, tracker, [publisher], n, sizes.max_seconds, burst=1, window=4)
        delivery_row("coalescing", target, "single", n, tracker, meter, sent, sent * n, burst=1)
        meter, sent = await run_max(target, tracker, [publisher], n, sizes.max_seconds, burst=10, window=2)
        delivery_row("coalescing", target, "burst10", n, tracker, meter, sent, sent * n, burst=10)

    for name in ("bare", "taskroom"):
        await with_room(ctx, name, sizes.room, body, "coalescing")


async def scenario_rooms(ctx: Ctx) -> None:
    sizes = ctx.sizes
    rooms, per_room = sizes.rooms, sizes.per_room
    for name in ("bare", "taskroom"):
        target = make_target(name, ctx)
        clients: list[WSClient] = []
        try:
            await target.start()
            await target.setup_rooms(rooms, 4)
            tracker = Tracker(target.extract)
            publishers = [await target.publisher(r) for r in range(rooms)]
            clients, failures = await connect_many(
                rooms * per_room, lambda i, t=target, tr=tracker: t.subscriber(i % rooms, tr.on_text)
            )
            await settle(1.0)
            if failures:
                emit({"scenario": "rooms", "target": name, "case": "connect", "connectFailures": failures})
            await run_max(target, tracker, publishers, per_room, 0.5)
            meter, sent = await run_max(target, tracker, publishers, per_room, sizes.max_seconds)
            delivery_row("rooms", target, "max", per_room, tracker, meter, sent, sent * per_room, rooms=rooms)
            meter, sent = await run_rate(
                target, tracker, publishers, per_room, float(rooms), sizes.rate_seconds
            )
            delivery_row(
                "rooms", target, "rate1-per-room", per_room, tracker, meter, sent, sent * per_room,
                rooms=rooms, rate=rooms,
            )  # fmt: skip
        finally:
            await close_all(clients)
            target.stop()


async def scenario_idle(ctx: Ctx) -> None:
    n = ctx.sizes.big
    for name in ("bare", "socketio", "taskroom"):
        target = make_target(name, ctx)
        clients: list[WSClient] = []
        try:
            await target.start()
            await target.setup_rooms(1, 1)
            assert target.server is not None
            await settle(0.5)
            base = target.server.rss_kib()
            t0 = time.perf_counter()
            clients, failures = await connect_many(n, lambda i, t=target: t.subscriber(0))
            connect_s = time.perf_counter() - t0
            await settle(2.0)
            rss = target.server.rss_kib()
            emit(
                {
                    "scenario": "idle",
                    "target": name,
                    "case": "idle",
                    "subscribers": len(clients),
                    "connectFailures": failures,
                    "connectSeconds": round(connect_s, 3),
                    "serverRssKiB": rss,
                    "kibPerConnection": round((rss - base) / max(1, len(clients)), 2),
                }
            )
        finally:
            await close_all(clients)
            target.stop()


async def storm(target: Taskroom, n: int, connect: Callable[[int], Awaitable[WSClient]]) -> dict[str, Any]:
    """n connects + AUTHENTICATE all at once; seconds until the last reply, and the errors."""
    t0 = time.perf_counter()
    times: list[float] = []
    errors: list[str] = []

    async def one(i: int) -> WSClient | None:
        try:
            client = await connect(i)
            times.append(time.perf_counter() - t0)
            return client
        except (OSError, ConnectionError, TimeoutError) as exc:
            errors.append(type(exc).__name__ + ": " + str(exc)[:80])
            return None

    results = await asyncio.gather(*(one(i) for i in range(n)))
    clients = [c for c in results if c is not None]
    times.sort()
    kinds: dict[str, int] = {}
    for err in errors:
        kinds[err] = kinds.get(err, 0) + 1
    return {
        "clients": clients,
        "joined": len(clients),
        "errors": len(errors),
        "errorKinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:5]),
        "allJoinedSeconds": round(times[-1], 3) if times and not errors else None,
        "p50JoinedSeconds": round(times[len(times) // 2], 3) if times else None,
        "lastJoinedSeconds": round(times[-1], 3) if times else None,
    }


async def scenario_auth_storm(ctx: Ctx) -> None:
    for n in ctx.sizes.storms:
        target = Taskroom(ctx.taskroom_python)
        clients: list[WSClient] = []
        try:
            await target.start()
            await target.setup_rooms(1, 1)
            meter = Meter(target)
            result = await storm(target, n, lambda i, t=target: t.authenticated(0, limit_s=60.0))
            clients = result.pop("clients")
            _, server_cpu, _ = meter.read()
            emit(
                {
                    "scenario": "auth-storm",
                    "target": "taskroom",
                    "case": f"storm{n}",
                    "subscribers": n,
                    **result,
                    "serverCpuSeconds": round(server_cpu, 3),
                    "serverRssKiB": target.server.rss_kib() if target.server else None,
                }
            )
        finally:
            await close_all(clients)
            target.stop()


def seq_checker(client: WSClient, payload: bytes) -> None:
    """Counts gaps and duplicates in one connection's TASK_CREATED seq numbers."""
    if payload.find(b'"TASK_CREATED"') < 0:
        return
    i = payload.rfind(b'"seq"')
    if i < 0:
        return
    j = i + 5
    while payload[j] in b": ":
        j += 1
    k = j
    while payload[k] in b"0123456789":
        k += 1
    seq = int(payload[j:k])
    if seq != client.last_seq + 1:
        client.gaps += 1
    client.last_seq = max(seq, client.last_seq)
    client.count += 1


async def scenario_reconnect(ctx: Ctx) -> None:
    n = ctx.sizes.reconnect
    target = Taskroom(ctx.taskroom_python)
    clients: list[WSClient] = []
    writer_stop = asyncio.Event()
    try:
        await target.start()
        await target.setup_rooms(1, 1)
        workspace_id = target.workspaces[0]

        async def join(i: int) -> WSClient:
            return await target.authenticated(0, seq_checker)

        clients, failures = await connect_many(n, join)
        first_seq = min((c.last_seq for c in clients), default=0)
        http = target.http()
        written = 0
        write_failures = 0

        async def writer() -> None:
            nonlocal written, write_failures
            rate = 4.0
            start = time.perf_counter()
            while not writer_stop.is_set():
                delay = start + written / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                status, _ = await http.request(
                    "POST", f"/api/v1/workspaces/{workspace_id}/tasks", {"title": f"r {written}"}
                )
                written += 1
                if status != 201:
                    write_failures += 1

        writing = asyncio.create_task(writer())
        await asyncio.sleep(2.0)
        # Every client drops its TCP connection (RST, no close frame), then all reconnect at once.
        last_seen = [(c.last_seq, c.gaps, c.count) for c in clients]
        for client in clients:
            client.abort()
        await asyncio.sleep(0.05)
        meter = Meter(target)

        async def rejoin(i: int) -> WSClient:
            seq, gaps, count = last_seen[i]
            client = await target.authenticated(0, seq_checker, resume={workspace_id: seq}, limit_s=60.0)
            client.gaps += gaps
            client.count += count
            return client

        result = await storm(target, len(last_seen), rejoin)
        _, server_cpu, _ = meter.read()
        clients = result.pop("clients")
        await asyncio.sleep(2.0)
        writer_stop.set()
        await writing
        status, ws = await http.request("GET", f"/api/v1/workspaces/{workspace_id}")
        final_seq = int(ws["seq"]) if status == 200 else -1
        await http.close()
        for _ in range(200):  # up to 20 s for the last events to arrive
            if all(c.last_seq >= final_seq for c in clients):
                break
            await asyncio.sleep(0.1)
        behind = sum(1 for c in clients if c.last_seq < final_seq)
        # Of those behind: closed by the server (and with which code) or still open and silent.
        behind_closes: dict[str, int] = {}
        for c in clients:
            if c.last_seq < final_seq:
                code = str(c.closed.result()) if c.closed.done() else "open"
                behind_closes[code] = behind_closes.get(code, 0) + 1
        gaps = sum(c.gaps for c in clients)
        lost = sum(max(0, final_seq - c.last_seq) for c in clients)
        emit(
            {
                "scenario": "reconnect-storm",
                "target": "taskroom",
                "case": f"reconnect{n}",
                "subscribers": len(last_seen),
                "connectFailures": failures,
                **result,
                "eventsWritten": written,
                "writeFailures": write_failures,
                "firstSeq": first_seq,
                "finalSeq": final_seq,
                "clientsWithGaps": sum(1 for c in clients if c.gaps),
                "gapsOrDuplicates": gaps,
                "clientsBehind": behind,
                "behindByCloseCode": behind_closes,
                "eventsLost": lost,
                "serverCpuSeconds": round(server_cpu, 3),
            }
        )
    finally:
        writer_stop.set()
        await close_all(clients)
        target.stop()


async def scenario_rest_fanout(ctx: Ctx) -> None:
    sizes = ctx.sizes
    writers = 8
    target = Taskroom(ctx.taskroom_python)
    clients: list[WSClient] = []
    try:
        await target.start()
        await target.setup_rooms(1, 1)
        tracker = Tracker(marker_key)
        clients, _ = await connect_many(sizes.room, lambda i: target.subscriber(0, tracker.on_text))
        await settle(1.0)

        async def phase(per_event: int) -> tuple[dict[str, Any], tuple[float, float, float], int]:
            tracker.reset()
            sent_map = KeyedSent(tracker)
            posters = [RestPublisher(target.http(), target.workspaces[0]) for _ in range(writers)]
            meter = Meter(target)
            end = time.perf_counter() + sizes.writer_seconds

            async def loop(poster: RestPublisher) -> None:
                while time.perf_counter() < end:
                    await poster.post(sent_map)

            await asyncio.gather(*(loop(p) for p in posters))
            write_time = time.perf_counter() - meter.wall
            sent = sum(len(p.latencies) for p in posters)
            if per_event:
                await tracker.wait_delivered(sent * per_event, 30.0)
            measured = meter.read()
            latencies = [x for p in posters for x in p.latencies]
            for poster in posters:
                await poster.http.close()
            return (
                {
                    "writers": writers,
                    "writesPerSecond": round(sent / write_time, 1),
                    "restP50Ms": pct(latencies, 0.5),
                    "restP99Ms": pct(latencies, 0.99),
                    "restFailures": sum(p.failures for p in posters),
                },
                measured,
                sent,
            )

        extra, measured, sent = await phase(len(clients))
        n = len(clients)
        delivery_row("rest-fanout", target, "writers", n, tracker, measured, sent, sent * n, **extra)
        await close_all(clients)
        clients = []
        await settle(1.0)
        extra, measured, sent = await phase(0)
        delivery_row("rest-fanout", target, "writers-no-subscribers", 0, tracker, measured, sent, 0, **extra)
    finally:
        await close_all(clients)
        target.stop()


async def scenario_client_cost(ctx: Ctx) -> None:
    """Generator CPU per received frame: the hand-written client against picows, same bare server."""
    n = ctx.sizes.room
    target = Bare()
    clients: list[WSClient] = []
    try:
        await target.start()
        tracker = Tracker(marker_key)
        publisher = await target.publisher(0)
        clients, _ = await connect_many(n, lambda i: target.subscriber(0, tracker.on_text))
        await settle(0.5)
        await run_max(target, tracker, [publisher], n, 0.5)
        meter, sent = await run_max(
            target, tracker, [publisher], n, ctx.sizes.max_seconds, burst=10, window=2
        )
        delivery_row("client-cost", target, "hand-written", n, tracker, meter, sent, sent * n, burst=10)
        await close_all(clients)
        clients = []
        try:
            from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
        except ImportError:
            emit(
                {
                    "scenario": "client-cost",
                    "target": "bare",
                    "case": "picows",
                    "error": "picows not installed",
                }
            )
            return
        on_text = tracker.on_text

        class Listener(WSListener):  # type: ignore[misc]
            def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
                if frame.msg_type == WSMsgType.TEXT:
                    on_text(None, frame.get_payload_as_bytes())  # type: ignore[arg-type]

        url = f"ws://127.0.0.1:{target.port}/ws?room=r0"
        gate = asyncio.Semaphore(250)

        async def one() -> WSTransport:
            async with gate:
                transport, _ = await ws_connect(Listener, url)
                return transport

        transports = await asyncio.gather(*(one() for _ in range(n)))
        await settle(0.5)
        await run_max(target, tracker, [publisher], n, 0.5)
        meter, sent = await run_max(
            target, tracker, [publisher], n, ctx.sizes.max_seconds, burst=10, window=2
        )
        delivery_row("client-cost", target, "picows", n, tracker, meter, sent, sent * n, burst=10)
        for transport in transports:
            transport.disconnect()
    finally:
        await close_all(clients)
        target.stop()


async def scenario_cluster(ctx: Ctx) -> None:
    """Three nodes on PostgreSQL and Redis, one room spread over them: what crossing nodes costs.

    The publisher (typing frames) and the REST writer are on node 0; a third of the subscribers
    are there too, the rest on nodes 1 and 2, reached through Redis. Each row gives every
    receipt's latency and, apart, the cross-node receipts' (`crossNode…`).
    """
    sizes = ctx.sizes
    target = TaskroomCluster(ctx.taskroom_python)
    clients: list[WSClient] = []
    try:
        await target.start()
        await target.setup_rooms(1, sizes.pool)
        everyone = Tracker(typing_key)
        remote = Tracker(typing_key)
        remote.sent = everyone.sent  # one map of send times; `remote` records only cross-node receipts

        def on_remote(client: WSClient, payload: bytes) -> None:
            everyone.on_text(client, payload)
            remote.on_text(client, payload)

        clients, failures = await connect_many(sizes.room, lambda i: target.subscriber(0, everyone.on_text))
        for client in clients:
            if target.node_of(client) != 0:
                client.on_text = on_remote
        publisher = await target.publisher(0)
        publisher.client.port = target.ports[0]
        await settle(1.0)
        n = len(clients)
        per_node = [sum(1 for c in clients if target.node_of(c) == k) for k in range(target.nodes)]

        def cross(tracker: Tracker) -> dict[str, Any]:
            return {
                "nodes": target.nodes,
                "subscribersPerNode": per_node,
                "connectFailures": failures,
                "crossNodeP50Ms": pct(remote.latencies, 0.5),
                "crossNodeP99Ms": pct(remote.latencies, 0.99),
                "crossNodeDelivered": remote.delivered,
            }

        await run_max(target, everyone, [publisher], n, 0.5)  # warm up
        for case, rate in (("typing-max", None), ("typing-rate5", 5.0)):
            remote.reset()
            remote.sent = everyone.sent
            if rate is None:
                meter, sent = await run_max(target, everyone, [publisher], n, sizes.max_seconds)
            else:
                meter, sent = await run_rate(target, everyone, [publisher], n, rate, sizes.rate_seconds)
            delivery_row("cluster", target, case, n, everyone, meter, sent, sent * n, **cross(remote))

        everyone.extract = remote.extract = marker_key
        http = target.http()
        poster = RestPublisher(http, target.workspaces[0])
        try:
            for case, rate in (("rest-max", None), ("rest-rate5", 5.0)):
                remote.reset()
                remote.sent = everyone.sent
                seconds = sizes.max_seconds if rate is None else sizes.rate_seconds
                meter, sent = await run_rest(target, everyone, poster, n, seconds, rate)
                delivery_row(
                    "cluster", target, case, n, everyone, meter, sent, sent * n,
                    restP50Ms=pct(poster.latencies, 0.5), restP99Ms=pct(poster.latencies, 0.99),
                    restFailures=poster.failures, **cross(remote),
                )  # fmt: skip
        finally:
            await http.close()
    finally:
        await close_all(clients)
        target.stop()


async def scenario_documents(ctx: Ctx) -> None:
    """One writer sends Yjs updates to one task document, 100 readers of it count the frames."""
    sizes = ctx.sizes
    readers_n = 100
    target = Taskroom(ctx.taskroom_python)
    clients: list[WSClient] = []
    try:
        await target.start()
        await target.setup_rooms(1, 1)
        task_id = target.tasks[target.workspaces[0]][0]
        tracker = Tracker(marker_key)
        assert target.server is not None
        await settle(0.5)
        base = target.server.rss_kib()
        clients, failures = await connect_many(
            readers_n, lambda i: document_client(target.port, task_id, target.token, tracker.on_text)
        )
        writer_client = await document_client(target.port, task_id, target.token)
        clients.append(writer_client)
        writer = DocumentWriter(writer_client)
        readers = len(clients) - 1
        await settle(1.0)
        rss = target.server.rss_kib()
        emit(
            {
                "scenario": "documents",
                "target": target.name,
                "case": "idle",
                "subscribers": readers,
                "connectFailures": failures,
                "serverRssKiB": rss,
                "kibPerConnection": round((rss - base) / max(1, readers), 2),
            }
        )
        await run_max(target, tracker, [writer], readers, 0.5)  # warm up
        meter, sent = await run_max(target, tracker, [writer], readers, sizes.max_seconds)
        delivery_row("documents", target, "max", readers, tracker, meter, sent, sent * readers)
        # Four updates in flight (as every "max" case) measures a closed loop: its rate is bound by
        # latency as much as by the server's CPU. Thirty-two keep the server busy all the time.
        meter, sent = await run_max(target, tracker, [writer], readers, sizes.max_seconds, window=32)
        delivery_row(
            "documents", target, "max-window32", readers, tracker, meter, sent, sent * readers, window=32
        )
        meter, sent = await run_rate(target, tracker, [writer], readers, 50.0, sizes.rate_seconds)
        delivery_row("documents", target, "rate50", readers, tracker, meter, sent, sent * readers, rate=50)
        closed = [c for c in clients if c.closed.done()]
        if closed:
            emit(
                {
                    "scenario": "documents",
                    "case": "closed",
                    "closeCodes": sorted({c.close_code for c in closed}),
                }
            )
    finally:
        await close_all(clients)
        target.stop()


SCENARIOS: dict[str, Callable[[Ctx], Awaitable[None]]] = {
    "fanout-1k": scenario_fanout_1k,
    "fanout-10k": scenario_fanout_10k,
    "coalescing": scenario_coalescing,
    "rooms": scenario_rooms,
    "idle": scenario_idle,
    "auth-storm": scenario_auth_storm,
    "reconnect-storm": scenario_reconnect,
    "rest-fanout": scenario_rest_fanout,
    "client-cost": scenario_client_cost,
    "cluster": scenario_cluster,
    "documents": scenario_documents,
}


# --- the machine, the file ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "cpuModel": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "generatorCore": GENERATOR_CORE,
        "serverCore": SERVER_CORE,
        "nofileLimit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "somaxconn": Path("/proc/sys/net/core/somaxconn").read_text().strip(),
        "commit": commit,
    }


def save(args: argparse.Namespace, started: float, ran: list[str]) -> None:
    previous: dict[str, Any] = {}
    if RESULTS.exists() and args.scenario:
        try:
            previous = json.loads(RESULTS.read_text())
        except json.JSONDecodeError:
            previous = {}
    kept = [r for r in previous.get("rows", []) if r.get("scenario") not in ran]
    if previous.get("quick", args.quick) != args.quick:
        kept = []
    command = " ".join(["python", "bench/suite.py", *sys.argv[1:]])
    duration = round(time.perf_counter() - started, 1)
    if kept:  # rows of an earlier run kept: say so
        command = f"{previous.get('command')}, then {command}"
        duration = round(float(previous.get("durationSeconds") or 0) + duration, 1)
    out = {
        "generatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "command": command,
        "durationSeconds": duration,
        "machine": machine(),
        "rows": kept + ROWS,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    tmp.replace(RESULTS)


async def amain(args: argparse.Namespace) -> None:
    ctx = Ctx(QUICK if args.quick else FULL, args.taskroom_python, args.quick)
    names = args.scenario or list(SCENARIOS)
    started = time.perf_counter()
    ran: list[str] = []
    try:
        for name in names:
            print(f"== {name}", flush=True)
            t0 = time.perf_counter()
            try:
                await asyncio.wait_for(SCENARIOS[name](ctx), args.scenario_timeout)
            except Exception as exc:  # one broken scenario must not lose the others' rows
                emit({"scenario": name, "case": "failed", "error": f"{type(exc).__name__}: {exc}"[:300]})
            ran.append(name)
            print(f"   {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        save(args, started, ran)
    print(f"wrote {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small N everywhere: the suite in ~2 minutes")
    parser.add_argument(
        "--scenario", action="append", choices=list(SCENARIOS), help="run only this (repeatable)"
    )
    parser.add_argument("--taskroom-python", default=sys.executable, help="interpreter that runs -m taskroom")
    parser.add_argument(
        "--scenario-timeout", type=float, default=600.0, help="seconds before a scenario is cut"
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {GENERATOR_CORE})
    raise_nofile()
    try:
        import uvloop

        uvloop.run(amain(args))
    except ImportError:
        asyncio.run(amain(args))


if __name__ == "__main__":
    main()
