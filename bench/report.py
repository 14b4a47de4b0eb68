"""Render docs/benchmarks.md and docs/benchmarks.png from bench/results/latest.json.

Usage: python bench/report.py [--results bench/results/latest.json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.png"
BEFORE = ROOT / "bench" / "results" / "before.json"  # a run kept from an older server, to compare with
BOUNDS = ROOT / "bench" / "bounds.md"  # hand-written: what limits each figure

Row = dict[str, Any]


class Rows:
    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def get(self, scenario: str, target: str, case: str) -> Row | None:
        for row in self.rows:
            if row.get("scenario") == scenario and row.get("target") == target and row.get("case") == case:
                return row
        return None

    def value(self, scenario: str, target: str, case: str, key: str) -> float | None:
        row = self.get(scenario, target, case)
        value = row.get(key) if row else None
        return float(value) if isinstance(value, int | float) else None


@dataclass
class Verdict:
    name: str
    measured: str
    goal: str
    met: bool | None  # None: not measured in this run
    miss: str = ""

    @property
    def status(self) -> str:
        if self.met is None:
            return "not measured"
        return "met" if self.met else f"missed by {self.miss}"


def _fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}{unit}"
    return f"{value:.{digits}f}{unit}"


def ratio_at_least(
    name: str,
    mine: float | None,
    base: float | None,
    goal: float,
    what: str,
    base_name: str = "bare",
    note: str = "",
) -> Verdict:
    if mine is None or not base:
        return Verdict(name, "—", f"≥ {goal} x {base_name}", None)
    ratio = mine / base
    return Verdict(
        name,
        f"{_fmt(mine)} vs {base_name} {_fmt(base)} {what} = {ratio:.2f} x{note}",
        f"≥ {goal} x",
        ratio >= goal,
        f"{goal - ratio:.2f} x ({(1 - ratio / goal) * 100:.0f} % short)",
    )


def ratio_at_most(name: str, mine: float | None, base: float | None, goal: float, what: str) -> Verdict:
    if mine is None or not base:
        return Verdict(name, "—", f"≤ {goal} x bare", None)
    ratio = mine / base
    return Verdict(
        name,
        f"{_fmt(mine)} vs bare {_fmt(base)} {what} = {ratio:.2f} x",
        f"≤ {goal} x",
        ratio <= goal,
        f"{ratio - goal:.2f} x ({(ratio / goal - 1) * 100:.0f} % over)",
    )


def at_most(
    name: str, value: float | None, goal: float, unit: str, extra_ok: bool = True, extra: str = ""
) -> Verdict:
    if value is None:
        return Verdict(name, "—", f"≤ {goal} {unit}", None)
    met = value <= goal and extra_ok
    miss = f"{value - goal:.2f} {unit}" if value > goal else extra
    return Verdict(
        name, f"{_fmt(value)} {unit}" + (f"; {extra}" if extra else ""), f"≤ {goal} {unit}", met, miss
    )


def evaluate(r: Rows) -> list[Verdict]:
    out: list[Verdict] = []
    for scenario, label in (("fanout-1k", "1,000"), ("fanout-10k", "10,000")):
        n = r.get(scenario, "taskroom", "max")
        label = f"{n['subscribers']:,}" if n else label
        mine_us = r.value(scenario, "taskroom", "max", "serverUsPerDelivery")
        bare_us = r.value(scenario, "bare", "max", "serverUsPerDelivery")
        cpu = (
            f" (server CPU per delivery {_fmt(mine_us)} vs {_fmt(bare_us)} µs)" if mine_us and bare_us else ""
        )
        out.append(
            ratio_at_least(
                f"Fan-out alone, {label} subscribers: highest sustained deliveries/s",
                r.value(scenario, "taskroom", "max", "deliveriesPerSecond"),
                r.value(scenario, "bare", "max", "deliveriesPerSecond"),
                0.9,
                "deliveries/s",
                note=cpu,
            )
        )
    n1 = r.get("fanout-1k", "taskroom", "rate5")
    size = f"{n1['subscribers']:,}" if n1 else "1,000"
    out.append(
        ratio_at_most(
            f"Fan-out alone, {size} subscribers at 5 events/s: p99 latency",
            r.value("fanout-1k", "taskroom", "rate5", "p99Ms"),
            r.value("fanout-1k", "bare", "rate5", "p99Ms"),
            1.2,
            "ms",
        )
    )
    out.append(
        at_most(
            f"End to end, {size} subscribers at 5 events/s: REST write sent → last subscriber has it, p99",
            r.value("fanout-1k", "taskroom", "rest-rate5", "lastReceiptP99Ms"),
            50,
            "ms",
        )
    )
    co = r.get("coalescing", "taskroom", "rate100")
    size = f"{co['subscribers']:,}" if co else "1,000"
    out.append(
        at_most(
            f"Coalescing, 100 events/s into {size}: every event's p99",
            r.value("coalescing", "taskroom", "rate100", "p99Ms"),
            100,
            "ms",
        )
    )
    out.append(
        ratio_at_most(
            f"Coalescing, 100 events/s into {size}: server CPU per delivery (bare writes once per frame)",
            r.value("coalescing", "taskroom", "rate100", "serverUsPerDelivery"),
            r.value("coalescing", "bare", "rate100", "serverUsPerDelivery"),
            0.6,
            "µs",
        )
    )
    out.append(
        ratio_at_least(
            "Coalescing, 10 events per loop turn: deliveries/s against the one-write-per-frame ceiling (bare)",
            r.value("coalescing", "taskroom", "burst10", "deliveriesPerSecond"),
            r.value("coalescing", "bare", "single", "deliveriesPerSecond"),
            3.0,
            "deliveries/s",
        )
    )
    c = r.get("cluster", "taskroom-cluster", "typing-rate5")
    where = f"{c['subscribers']:,} subscribers over {c.get('nodes')} nodes" if c else "one room over 3 nodes"
    out.append(
        at_most(
            f"Several nodes (PostgreSQL + Redis), {where} at 5 events/s: cross-node p99",
            r.value("cluster", "taskroom-cluster", "typing-rate5", "crossNodeP99Ms"),
            50,
            "ms",
        )
    )
    w = r.get("rest-fanout", "taskroom", "writers")
    if w:
        all_delivered = w.get("delivered") == w.get("expected") and not w.get("restFailures")
        out.append(
            at_most(
                f"REST under fan-out, 8 writers, {w['subscribers']:,}-member room: REST p99, every event delivered",
                w.get("restP99Ms"),
                100,
                "ms",
                all_delivered,
                f"{w.get('delivered'):,} of {w.get('expected'):,} deliveries"
                + (f", {w['restFailures']} failed writes" if w.get("restFailures") else ""),
            )
        )
    else:
        out.append(Verdict("REST under fan-out: REST p99, every event delivered", "—", "≤ 100 ms", None))
    out.append(
        ratio_at_least(
            "REST under fan-out: writes/s with fan-out against without subscribers",
            r.value("rest-fanout", "taskroom", "writers", "writesPerSecond"),
            r.value("rest-fanout", "taskroom", "writers-no-subscribers", "writesPerSecond"),
            0.8,
            "writes/s",
            "no subscribers",
        )
    )
    idle = r.get("idle", "taskroom", "idle") or r.get("fanout-10k", "taskroom", "idle")
    out.append(
        at_most(
            f"Server RSS per idle authenticated connection at {idle['subscribers']:,} connections"
            if idle
            else "Server RSS per idle authenticated connection",
            float(idle["kibPerConnection"]) if idle else None,
            20,
            "KiB",
        )
    )
    storms = [
        x for x in r.rows if x.get("scenario") == "auth-storm" and x.get("case", "").startswith("storm")
    ]
    storms.sort(key=lambda x: int(x["subscribers"]))
    for k, row in enumerate(storms):
        n = int(row["subscribers"])
        goal = (
            1.0 if k == 0 else 10.0
        )  # the smaller storm (1,000) within 1 s, the larger (10,000) within 10 s
        seconds = row.get("lastJoinedSeconds")
        errors = int(row.get("errors") or 0)
        out.append(
            at_most(
                f"Auth storm: {n:,} clients connect + AUTHENTICATE at once, all joined",
                float(seconds) if seconds is not None else None,
                goal,
                "s",
                errors == 0,
                f"{errors} errors" if errors else "",
            )
        )
    for row in [
        x
        for x in r.rows
        if x.get("scenario") == "reconnect-storm" and x.get("case", "").startswith("reconnect")
    ]:
        n = int(row["subscribers"])
        problems = []
        if row.get("errors"):
            problems.append(f"{row['errors']} errors")
        if row.get("eventsLost"):
            problems.append(f"{row['eventsLost']} events not received")
        if row.get("gapsOrDuplicates"):
            problems.append(f"{row['gapsOrDuplicates']} gaps or duplicates")
        seconds = row.get("lastJoinedSeconds")
        out.append(
            at_most(
                f"Reconnect storm: {n:,} dropped clients resume at once, all resumed, no error, no event lost",
                float(seconds) if seconds is not None else None,
                10.0,
                "s",
                not problems,
                ", ".join(problems) if problems else "no error, no gap, none lost",
            )
        )
    return out


# --- the plot ---------------------------------------------------------------------------------------------


def plot(r: Rows, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    series = [
        ("bare", "bare", "max", "rate5"),
        ("socketio", "python-socketio", "max", "rate5"),
        ("taskroom", "Taskroom fan-out alone", "max", "rate5"),
        ("taskroom", "Taskroom via REST", "rest-max", "rest-rate5"),
    ]
    scenarios = [
        s for s in ("fanout-1k", "fanout-10k", "rooms") if any(x.get("scenario") == s for x in r.rows)
    ]
    if not scenarios:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / len(series)
    for k, (target, label, max_case, rate_case) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(scenarios))]
        if target == "taskroom" and max_case == "max":
            pass
        throughput = [r.value(s, target, max_case, "deliveriesPerSecond") or 0 for s in scenarios]
        p99 = [
            r.value(s, target, rate_case if s != "rooms" else "rate1-per-room", "p99Ms") or 0
            if not (s == "rooms" and max_case != "max")
            else 0
            for s in scenarios
        ]
        axes[0].bar(xs, throughput, width, label=label)
        axes[1].bar(xs, [v if v > 0 else float("nan") for v in p99], width, label=label)
    labels = []
    for s in scenarios:
        row = next((x for x in r.rows if x.get("scenario") == s and x.get("case") == "max"), None)
        n = row.get("subscribers") if row else "?"
        labels.append(f"{s}\n({n} per room)")
    for ax, title in (
        (axes[0], "highest sustained deliveries/s"),
        (axes[1], "p99 latency, ms, log scale (5 events/s; rooms: 1 event/s per room)"),
    ):
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --- the page ---------------------------------------------------------------------------------------------

COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("target", "target", str),
    ("case", "case", str),
    ("subscribers", "N", lambda v: f"{v:,}"),
    ("deliveriesPerSecond", "deliveries/s", lambda v: f"{v:,}"),
    ("p50Ms", "p50 ms", str),
    ("p95Ms", "p95 ms", str),
    ("p99Ms", "p99 ms", str),
    ("lastReceiptP99Ms", "last-receipt p99 ms", str),
    ("serverUsPerDelivery", "server µs/delivery", str),
    ("serverCpuFraction", "server CPU", str),
    ("generatorCpuFraction", "generator CPU", str),
    ("delivered", "delivered", lambda v: f"{v:,}"),
    ("expected", "expected", lambda v: f"{v:,}"),
]

OTHER_KEYS = [
    "nodes",
    "subscribersPerNode",
    "crossNodeP50Ms",
    "crossNodeP99Ms",
    "kibPerConnection",
    "connectSeconds",
    "connectFailures",
    "joined",
    "errors",
    "p50JoinedSeconds",
    "lastJoinedSeconds",
    "writesPerSecond",
    "restP50Ms",
    "restP99Ms",
    "restFailures",
    "eventsWritten",
    "eventsLost",
    "gapsOrDuplicates",
    "clientsBehind",
    "behindByCloseCode",
    "serverRssKiB",
    "serverCpuSeconds",
    "errorKinds",
    "error",
]


def table(rows: list[Row]) -> list[str]:
    delivery = [x for x in rows if "deliveriesPerSecond" in x]
    other = [x for x in rows if "deliveriesPerSecond" not in x]
    lines: list[str] = []
    if delivery:
        lines.append("| " + " | ".join(title for _, title, _ in COLUMNS) + " |")
        lines.append("|" + " --- |" * len(COLUMNS))
        for row in delivery:
            cells = [fmt(row[key]) if row.get(key) is not None else "—" for key, _, fmt in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    extra_rows = other + [
        x for x in delivery if any(k in x for k in ("writesPerSecond", "restP99Ms", "crossNodeP99Ms"))
    ]
    for row in extra_rows:
        facts = [f"{k} {json.dumps(row[k])}" for k in OTHER_KEYS if row.get(k) is not None]
        lines.append(f"- {row.get('target', '?')} {row.get('case', '?')}: " + ", ".join(facts))
    if extra_rows:
        lines.append("")
    return lines


def render(data: dict[str, Any], has_plot: bool) -> str:
    r = Rows(data.get("rows", []))
    verdicts = evaluate(r)
    m = data.get("machine", {})
    quick = data.get("quick")
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bench/report.py` from `bench/results/latest.json`; do not edit by hand.",
        "",
        "How it measures: every server runs in its own process pinned to one core; one load-generator",
        "process pinned to the other core holds every connection (a hand-written asyncio WebSocket client)",
        "and speaks only the public protocol (PROTOCOL.md §2 REST, §3 WebSocket). Events carry the",
        "generator's send time (or are matched to it), so a latency is publish → receipt on one clock.",
        "Peers in the same run: **bare** (a minimal asyncio Protocol WebSocket server: a publisher's frame",
        "in, the frame built once and written once to every other connection in its room) and",
        "**python-socketio** (room emit, ASGI on uvicorn). Taskroom's **fan-out alone** is a publisher",
        "connection's `USER_TYPING` frames relayed to the room (no database); **via REST** is",
        "`POST /workspaces/{id}/tasks` → `TASK_CREATED` (SQLite commit included). Ratios are Taskroom",
        "against bare in the same run unless said otherwise.",
        "",
    ]
    if quick:
        lines += [
            "> **This is a `--quick` run**: every N is shrunk (the sizes in each line below are the",
            "> ones measured). The targets are defined at full size; run `make bench` for a verdict.",
            "",
        ]
    lines += [
        "## Targets",
        "",
        "| target | measured | goal | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for v in verdicts:
        lines.append(f"| {v.name} | {v.measured} | {v.goal} | **{v.status}** |")
    lines += [
        "",
        "## Machine and command",
        "",
        f"- CPU: {m.get('cpuModel')}, {m.get('cores')} cores (generator on core {m.get('generatorCore')},"
        f" servers on core {m.get('serverCore')}); shared with other work, so expect noise of ±20 %",
        f"- Python {m.get('python')}, Linux {m.get('kernel')}, open-files limit {m.get('nofileLimit')},"
        f" somaxconn {m.get('somaxconn')}",
        f"- tree at commit `{m.get('commit')}`, run at {data.get('generatedAt')} in {data.get('durationSeconds')} s",
        f"- command: `{data.get('command')}` (then `python bench/report.py`); `make bench` runs both",
        "",
    ]
    if has_plot:
        lines += ["![deliveries/s and p99 of bare, python-socketio and Taskroom](benchmarks.png)", ""]
    lines += ["## Every row", ""]
    by_scenario: dict[str, list[Row]] = {}
    for row in data.get("rows", []):
        by_scenario.setdefault(str(row.get("scenario")), []).append(row)
    for scenario, rows in by_scenario.items():
        lines += [f"### {scenario}", "", *table(rows)]
    lines += [
        "Columns: `max` publishes back to back (at most 4 writes not yet delivered everywhere);",
        "`rate5`/`rate100` publish at a fixed rate; `burst10` writes 10 events in one write;",
        "`last-receipt` is per event (until the last subscriber has it), the other latencies per",
        "delivery; server CPU and generator CPU are fractions of one core over the run (a generator",
        "near 1.0 means the generator, not the server, was the limit). KiB per connection is the",
        "server's RSS growth over the connections opened, after they authenticated and joined.",
        "",
        "## How to read it",
        "",
        "- Settings of the Taskroom node: SQLite in a temporary directory, cheap Argon2, and",
        "  `WS_RATE_LIMIT`, `WS_RATE_LIMIT_BURST`, `WS_MAX_CONNECTIONS`, `WS_MAX_CONNECTIONS_PER_USER`",
        "  and `WS_MAX_PENDING_PER_ADDRESS` (every client is 127.0.0.1)",
        "  raised so that nothing is rate limited; everything else is the default (uvicorn's listen",
        "  backlog of 2048 and `WS_AUTH_TIMEOUT` of 10 s matter in the storms).",
        "- Every Taskroom connection authenticates as the same user (one token), so joining a room",
        "  causes no presence broadcast; a room of many users would add that traffic.",
        "- Fan-out alone: the publisher alternates `USER_TYPING` true/false over a pool of real tasks",
        "  of the workspace; a receipt is matched to its send by (taskId, isTyping), and the pool is",
        "  large enough that no two events in flight share a key.",
        "- Coalescing targets: the CPU goal compares Taskroom's server CPU per delivery at 100 events/s",
        "  with bare's in the same run (bare writes once per frame per connection); the burst goal",
        "  compares Taskroom's deliveries/s with 10 events per publisher write against bare's ceiling",
        "  with one event per write (`single`). Taskroom's own `single` row is there for comparison.",
        "- The machine is shared: other processes take CPU from both cores, which lowers the CPU",
        "  fractions and the rates of any run. Server µs per delivery (CPU time / deliveries) is the",
        "  figure least affected; the targets' lines show it next to the rates.",
        "- The load generator's client is hand-written on `asyncio.Protocol` (client frames use the",
        "  all-zero mask key, so nothing is XORed); the `client-cost` rows compare its CPU per",
        "  received frame with picows' on the same bare server.",
        "",
    ]
    lines += before_and_after(data)
    lines += ["## What bounds it", ""]
    missed = [v.name for v in verdicts if v.met is False]
    lines.append("Missed in this run: " + ("; ".join(missed) if missed else "none") + ".")
    lines += ["", BOUNDS.read_text().strip() if BOUNDS.exists() else "", ""]
    return "\n".join(lines)


# The Taskroom rows worth following from one version of the server to the next.
COMPARED = [
    (
        "fanout-1k",
        "max",
        "deliveriesPerSecond",
        "fan-out alone, 1,000 subscribers, back to back: deliveries/s",
    ),
    ("fanout-1k", "max", "serverUsPerDelivery", "… the same: server CPU per delivery, µs"),
    ("fanout-1k", "rate5", "p99Ms", "fan-out alone, 1,000 subscribers, 5 events/s: p99 ms"),
    (
        "fanout-1k",
        "rest-rate5",
        "lastReceiptP99Ms",
        "REST write → last of 1,000 subscribers, 5 events/s: p99 ms",
    ),
    ("fanout-10k", "max", "deliveriesPerSecond", "fan-out alone, 10,000 subscribers: deliveries/s"),
    ("coalescing", "rate100", "p99Ms", "100 events/s into 1,000: p99 ms"),
    ("coalescing", "burst10", "deliveriesPerSecond", "10 events per write into 1,000: deliveries/s"),
    ("rest-fanout", "writers", "restP99Ms", "8 REST writers under fan-out: REST p99 ms"),
    ("rest-fanout", "writers", "writesPerSecond", "8 REST writers under fan-out: writes/s"),
    ("idle", "idle", "kibPerConnection", "KiB per idle connection at 10,000"),
    ("auth-storm", "storm1000", "allJoinedSeconds", "1,000 authenticating at once: s until all joined"),
    ("auth-storm", "storm10000", "allJoinedSeconds", "10,000 authenticating at once: s until all joined"),
    ("reconnect-storm", "reconnect5000", "allJoinedSeconds", "5,000 resuming at once: s until all resumed"),
]


def before_and_after(data: dict[str, Any]) -> list[str]:
    """Taskroom in this run beside the run kept in `bench/results/before.json` (an older server)."""
    if not BEFORE.exists():
        return []
    before = json.loads(BEFORE.read_text())

    def figure(rows: list[Row], scenario: str, case: str, key: str) -> str:
        for row in rows:
            if (row.get("target"), row.get("scenario"), row.get("case")) == ("taskroom", scenario, case):
                value = row.get(key)
                if value is None and row.get("errors"):
                    return f"not all joined ({row['errors']:,} errors)"
                return "—" if value is None else f"{value:,}"
        return "—"

    lines = [
        "## Before and after",
        "",
        "Taskroom in this run against the run kept in `bench/results/before.json` (the same suite,"
        f" on the same kind of machine, with the server of commit `{before.get('machine', {}).get('commit')}`).",
        "",
        "| figure | before | now |",
        "| --- | --- | --- |",
    ]
    for scenario, case, key, label in COMPARED:
        old = figure(before.get("rows", []), scenario, case, key)
        new = figure(data.get("rows", []), scenario, case, key)
        lines.append(f"| {label} | {old} | {new} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    has_plot = plot(Rows(data.get("rows", [])), PLOT)
    DOC.write_text(render(data, has_plot))
    print(f"wrote {DOC}" + (f" and {PLOT}" if has_plot else ""))


if __name__ == "__main__":
    main()
