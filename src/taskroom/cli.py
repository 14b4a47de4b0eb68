"""`taskroom serve | db upgrade | user create`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import ssl
import sys

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from .security.dev_secret import SigningKeyError
from .settings import Settings, describe_invalid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskroom", description="Taskroom real-time task backend")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one node")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--migrate", action="store_true", help="apply database migrations before serving")
    serve.add_argument(
        "--ssl-certfile", help="serve HTTPS and wss:// with this PEM certificate (or SSL_CERTFILE)"
    )
    serve.add_argument("--ssl-keyfile", help="the certificate's private key, PEM (or SSL_KEYFILE)")

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply every pending migration")

    user = commands.add_parser("user", help="accounts").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create an account")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--password", help="read from TASKROOM_PASSWORD or a prompt when absent")

    _add_client_commands(commands)

    args = parser.parse_args(argv)
    if getattr(args, "client_command", None) is not None:
        return int(args.client_command(args))
    try:
        settings = Settings()
    except ValidationError as exc:  # a bad variable (WS_PING_INTERVAL=30s): one line, not a traceback
        print(f"error: {describe_invalid(exc)}", file=sys.stderr)
        return 1
    if args.command == "serve":
        from .server import serve as run

        tls = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile}
        try:
            settings = _with_tls(settings, {name: path for name, path in tls.items() if path})
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        problem = _signing_key_problem(settings) or _prepare_schema(
            settings.database_url, migrate=args.migrate
        )
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        run(settings, args.host, args.port)
    elif args.command == "db":
        problem = _upgrade(settings.database_url)
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
            return 1
    elif args.command == "user":
        password = args.password or os.environ.get("TASKROOM_PASSWORD") or getpass.getpass("Password: ")
        return asyncio.run(_create_user(settings, args.email, args.name, password))
    return 0


def _add_client_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`token` and `tail`: commands of the Python client, which need no server settings."""
    from .client.commands import add_client_commands

    add_client_commands(commands)


def _with_tls(settings: Settings, flags: dict[str, str]) -> Settings:
    """The settings with the command line's certificate files (over SSL_CERTFILE / SSL_KEYFILE),
    checked now so that a wrong path or a key that does not fit is one line, not a traceback."""
    if flags:
        settings = Settings.model_validate({**settings.model_dump(), **flags})
    if settings.ssl_certfile is None:
        return settings
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.ssl_certfile, settings.ssl_keyfile
        )
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load the TLS certificate and key: {exc}") from exc
    return settings


def _signing_key_problem(settings: Settings) -> str | None:
    """Why this node has no signing key, or None: asked before anything listens, so a production
    node without JWT_SECRET stops with one line. The key is kept by `settings` for the node."""
    try:
        settings.signing_key  # noqa: B018 -- computed (and its notice logged) now, not at first login
    except SigningKeyError as exc:
        return str(exc)
    return None


def _upgrade(database_url: str) -> str | None:
    """`taskroom db upgrade`: apply what is pending and name each migration applied; or say why not."""
    from .banner import describe_database
    from .db.migrate import pending_revisions, schema_status, upgrade

    try:
        status = schema_status(database_url)
        if status.ahead:
            return f"the database was migrated by a newer Taskroom ({status.describe()})"
        pending = pending_revisions(database_url)
        upgrade(database_url)
    except (OSError, ValueError, SQLAlchemyError) as exc:
        return f"cannot open the database: {exc}"
    where = describe_database(database_url)
    if not pending:
        print(f"{where}: already at the latest schema ({', '.join(sorted(status.heads))})")
        return None
    print(f"{where}: applied {len(pending)} migration{'s' if len(pending) != 1 else ''}")
    for revision in pending:
        print(f"  {revision.describe()}")
    return None


def _prepare_schema(database_url: str, *, migrate: bool) -> str | None:
    """Make the schema servable, or say why this node must not start.

    The embedded SQLite default creates and migrates its own file, so one command serves. On
    PostgreSQL several nodes share one schema and migrating is an operator's decision: a node
    whose schema is behind refuses to start rather than report healthy and then fail requests.
    """
    from .db.engine import is_sqlite
    from .db.migrate import schema_status, upgrade

    try:
        if migrate or is_sqlite(database_url):
            status = schema_status(database_url)
            if status.ahead:
                return f"the database was migrated by a newer Taskroom ({status.describe()})"
            upgrade(database_url)
            return None
        status = schema_status(database_url)
    except (OSError, ValueError, SQLAlchemyError) as exc:
        return f"cannot open the database: {exc}"
    if status.up_to_date:
        return None
    if status.ahead:
        return f"the database was migrated by a newer Taskroom ({status.describe()})"
    return (
        f"the database schema is behind ({status.describe()}): "
        "run `taskroom db upgrade` first, or start with `taskroom serve --migrate`"
    )


async def _create_user(settings: Settings, email: str, name: str, password: str) -> int:
    from .container import build_services
    from .errors import ApiError
    from .metrics import NodeMetrics
    from .services.database import Database
    from .services.log import WorkspaceLog
    from .services.publisher import NullPublisher

    db = Database(settings.database_url)
    services = build_services(settings, db, WorkspaceLog(), NullPublisher(), NodeMetrics())
    try:
        user = await services.users.create(email, password, name)
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except ValueError as exc:  # pydantic's validation error
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(user.id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
