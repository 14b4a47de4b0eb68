"""`taskroom token` and `taskroom tail`: the Python client from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import signal
import sys

import httpx

from .events import Event
from .rest import ApiError, TaskroomAPI
from .state import ConnectionState, StateChange
from .tokens import TokenSource
from .websocket import TodoWebSocketClient

DEFAULT_URL = "http://127.0.0.1:8000"


def add_client_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `token` and `tail` on the `taskroom` command's subparsers."""
    token = commands.add_parser("token", help="log in and print an access token (for scripts)")
    token.add_argument("--email", required=True)
    token.add_argument("--password", help="read from TASKROOM_PASSWORD or a prompt when absent")
    token.add_argument("--url", default=os.environ.get("TASKROOM_URL", DEFAULT_URL), help="server address")
    token.set_defaults(client_command=run_token)

    tail = commands.add_parser("tail", help="print a workspace's live events as JSON lines")
    tail.add_argument("workspace_id")
    tail.add_argument("--url", default=os.environ.get("TASKROOM_URL", DEFAULT_URL), help="server address")
    tail.add_argument("--token", help="an access token (or TASKROOM_TOKEN); else log in with --email")
    tail.add_argument("--email", help="log in as this account; its tokens are refreshed as they expire")
    tail.add_argument("--password", help="read from TASKROOM_PASSWORD or a prompt when absent")
    tail.add_argument("--since", type=int, help="also print the events after this seq first")
    tail.set_defaults(client_command=run_tail)


def run_token(args: argparse.Namespace) -> int:
    password = _password(args.password)
    try:
        token = asyncio.run(_login(args.url, args.email, password))
    except ApiError as exc:
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(token)
    return 0


def run_tail(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("TASKROOM_TOKEN")
    if token is None and args.email is None:
        print("error: give --token (or TASKROOM_TOKEN) or --email", file=sys.stderr)
        return 2
    if token is not None:
        return asyncio.run(_tail(args.url, token, args.workspace_id, args.since))
    password = _password(args.password)
    return asyncio.run(_tail_signed_in(args, password))


async def _tail_signed_in(args: argparse.Namespace, password: str) -> int:
    """Log in once and tail with the session's tokens, refreshed as they expire; log out at the end."""
    async with TaskroomAPI(args.url, queue_offline=False) as api:
        # Now, so that a wrong password is one line and exit 1, not retries for ever.
        try:
            await api.login(args.email, password)
        except ApiError as exc:
            print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
            return 1
        except httpx.HTTPError as exc:
            print(f"error: cannot reach {args.url}: {exc}", file=sys.stderr)
            return 1
        try:
            return await _tail(args.url, api.token_provider, args.workspace_id, args.since)
        finally:
            # One session per run, not one left behind on the server for each tail ever started.
            with contextlib.suppress(ApiError, httpx.HTTPError):
                await api.logout()


async def _login(url: str, email: str, password: str) -> str:
    async with TaskroomAPI(url, queue_offline=False) as api:
        body = await api.login(email, password)
    return str(body["accessToken"])


async def _tail(url: str, token: TokenSource, workspace_id: str, since: int | None) -> int:
    resume = {workspace_id: since} if since is not None else None
    client = TodoWebSocketClient(url, token, [workspace_id], resume=resume)

    @client.on_any
    def print_event(event: Event) -> None:
        if event.workspace_id == workspace_id:
            print(json.dumps(event.envelope, separators=(",", ":")), flush=True)

    stop = asyncio.Event()
    failure: list[str] = []
    refusal: list[str] = []

    @client.on_error
    def remember_refusal(event: Event) -> None:
        if event.data.get("code") in ("UNAUTHORIZED", "TOKEN_EXPIRED"):
            refusal[:] = [str(event.data.get("message") or event.data.get("code"))]

    def fail(message: str) -> None:
        failure.append(message)
        stop.set()

    @client.on_state_change
    def report(change: StateChange) -> None:
        why = f" (close {change.close_code})" if change.close_code else ""
        print(f"taskroom tail: {change.state.value}{why}", file=sys.stderr, flush=True)
        if change.state is ConnectionState.OPEN and workspace_id in client.denied:
            fail(
                f"workspace {workspace_id} is not open to this account "
                "(it does not exist, or the account is not a member)"
            )
        elif change.state is ConnectionState.UNAUTHORIZED:
            # The client gave up by itself: the token (or every fresh login's) was refused.
            detail = f": {refusal[-1]}" if refusal else ""
            fail(f"the server refused the token (close {change.close_code}{detail})")

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = loop.create_task(client.connect())
    try:
        await stop.wait()
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await client.disconnect()
    if failure:
        print(f"error: {failure[0]}", file=sys.stderr, flush=True)
        return 1
    return 0


def _password(given: str | None) -> str:
    return given or os.environ.get("TASKROOM_PASSWORD") or getpass.getpass("Password: ")
