"""`make cluster`: three Taskroom nodes on PostgreSQL and Redis behind nginx, on one port.

For trying the multi-node story on one machine. It creates the PostgreSQL role and database it
needs (as the admin of ADMIN_URL), migrates, starts the nodes with one shared JWT_SECRET, and
runs nginx with deploy/nginx/taskroom.conf pointed at them. Ctrl-C stops everything.
`--dry-run` prints what it would run and changes nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "deploy" / "nginx" / "taskroom.conf"
BIN = Path(sys.executable).parent
NODE_PORTS = (8001, 8002, 8003)

NGINX_MAIN = """{user}worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    include {dir}/taskroom.conf;
}}
"""


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="the one port nginx listens on")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL superuser, to create the role and the database",
    )
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--database", type=identifier, default="taskroom_cluster")
    parser.add_argument("--role", type=identifier, default="taskroom")
    parser.add_argument(
        "--dir", type=Path, default=ROOT / ".cluster", help="keeps the secrets and nginx files"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    return parser.parse_args(argv)


def kept_secret(path: Path, dry_run: bool) -> str:
    """A secret kept in `path` across runs (tokens signed last time still work)."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    if not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
        path.chmod(0o600)
    return value


def setup_sql(role: str, password: str, database: str) -> list[str]:
    """The statements that create the role (or set its password) and its database."""
    return [
        f"CREATE ROLE {role} LOGIN PASSWORD '{password}'  -- or ALTER ROLE, when it exists",
        f"CREATE DATABASE {database} OWNER {role}  -- unless it exists",
    ]


async def create_role_and_database(admin_url: str, role: str, password: str, database: str) -> None:
    import asyncpg  # a dependency of the package, present in the venv `make cluster` uses

    admin = await asyncpg.connect(admin_url, timeout=10)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        # Utility statements take no parameters; both names are identifiers checked by argparse.
        await admin.execute(f"{verb} ROLE {role} LOGIN PASSWORD '{password}'")
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await admin.execute(f"CREATE DATABASE {database} OWNER {role}")
    finally:
        await admin.close()


def site_config(listen: int) -> str:
    """deploy/nginx/taskroom.conf with its upstream on NODE_PORTS and its listener on `listen`."""
    text = SITE.read_text()
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in NODE_PORTS)
    text, upstreams = re.subn(r"(?:    server 127\.0\.0\.1:\d+ [^\n]*\n)+", servers, text, count=1)
    text, listeners = re.subn(r"listen \d+;", f"listen 127.0.0.1:{listen};", text, count=1)
    if (upstreams, listeners) != (1, 1):
        raise SystemExit(f"{SITE} changed shape: no upstream server list or listen line found")
    return text


def identifier(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise argparse.ArgumentTypeError(f"{value!r}: use lower-case letters, digits and _")
    return value


Command = tuple[list[str], dict[str, str]]


def plan(args: argparse.Namespace, password: str, jwt_secret: str) -> tuple[Command, list[Command]]:
    """The migration, then the long-running commands (three nodes and nginx), with environments."""
    host = args.admin_url.split("@", 1)[-1].split("/", 1)[0]
    common = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{args.role}:{password}@{host}/{args.database}",
        "REDIS_URL": args.redis_url,
        # Its own keys and channels: a Redis shared with other services or tests is left alone.
        "REDIS_PREFIX": "taskroom-cluster:",
        "JWT_SECRET": jwt_secret,
    }
    taskroom = str(BIN / "taskroom")
    nodes: list[Command] = [
        (
            [taskroom, "serve", "--host", "127.0.0.1", "--port", str(port)],
            {**common, "NODE_ID": f"node-{index}"},
        )
        for index, port in enumerate(NODE_PORTS, start=1)
    ]
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proxy: Command = ([nginx, "-c", str(args.dir / "nginx" / "nginx.conf")], dict(os.environ))
    return ([taskroom, "db", "upgrade"], common), [*nodes, proxy]


SHOWN = ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "NODE_ID")


def show(command: Command) -> str:
    argv, env = command
    # The passwords stay out of the terminal: the dry run prints where they are kept instead.
    pairs = [f"{name}={shlex.quote(redact(env[name]))}" for name in SHOWN if name in env]
    if "JWT_SECRET" in env:
        pairs.append("JWT_SECRET=<.cluster/jwt-secret>")
    return " ".join([*pairs, *map(shlex.quote, argv)])


def redact(value: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", value)


def write_nginx_files(directory: Path, listen: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "taskroom.conf").write_text(site_config(listen))
    # Started as root, nginx's workers would switch to `nobody`, who cannot write these files.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(NGINX_MAIN.format(dir=directory, user=user))


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the node on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/ws/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the node on port {port} did not become healthy")


def main(argv: list[str] | None = None) -> int:
    import asyncio

    args = parse(argv)
    password = kept_secret(args.dir / "database-password", args.dry_run)
    jwt_secret = kept_secret(args.dir / "jwt-secret", args.dry_run)
    migrate, running = plan(args, password, jwt_secret)
    if args.dry_run:
        print(f"# as the admin of {redact(args.admin_url)}:")
        for statement in setup_sql(args.role, "<.cluster/database-password>", args.database):
            print(f"#   {statement}")
        print(f"# nginx files in {args.dir / 'nginx'}: deploy/nginx/taskroom.conf, listening on {args.port}")
        for command in [migrate, *running]:
            print(show(command))
        return 0
    asyncio.run(create_role_and_database(args.admin_url, args.role, password, args.database))
    subprocess.run(migrate[0], env=migrate[1], check=True)
    write_nginx_files(args.dir / "nginx", args.port)
    processes: list[subprocess.Popen[bytes]] = []
    # Ctrl-C reaches every process of the terminal's group; the children stop on their own, and
    # this script waits for them rather than dying first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_requested)
    try:
        for (argv_, env), port in zip(running, [*NODE_PORTS, args.port], strict=True):
            process = subprocess.Popen(argv_, env=env, preexec_fn=_default_sigint)
            processes.append(process)
            if port in NODE_PORTS:
                wait_healthy(port, process)
        print(
            f"Taskroom cluster: {len(NODE_PORTS)} nodes behind nginx on http://127.0.0.1:{args.port}/ (Ctrl-C stops)"
        )
        _wait_any(processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


_stopping: list[int] = []


def _stop_requested(signum: int, _frame: object) -> None:
    _stopping.append(signum)


def _wait_any(processes: list[subprocess.Popen[bytes]]) -> None:
    """Until one process ends (Ctrl-C ends them all) or a SIGTERM came; main stops the rest."""
    while not _stopping and all(process.poll() is None for process in processes):
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
