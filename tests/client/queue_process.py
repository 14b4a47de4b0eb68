"""A process that writes through `TaskroomAPI(queue_path=…)`, for the tests that kill it.

    python -m tests.client.queue_process queue URL QUEUE_FILE WORKSPACE TITLE...
        creates one task per title (each is queued: URL is not answering), prints "queued" and
        waits to be killed;
    python -m tests.client.queue_process send URL QUEUE_FILE WORKSPACE TITLE
        creates one task, prints "sending" first (the test's relay never answers), waits;
    python -m tests.client.queue_process flush URL QUEUE_FILE
        sends what the file holds and prints the result as one JSON line.

The access token comes in the environment (TASKROOM_TOKEN), never on the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys

from taskroom.client import TaskroomAPI, WriteQueued


async def main(mode: str, url: str, queue_path: str, *rest: str) -> None:
    token = os.environ["TASKROOM_TOKEN"]
    async with TaskroomAPI(url, token, queue_path=queue_path, timeout=120) as api:
        if mode == "queue":
            workspace, *titles = rest
            for title in titles:
                with contextlib.suppress(WriteQueued):
                    await api.create_task(workspace, title)
            print("queued", len(api.pending), flush=True)
            await asyncio.Event().wait()
        elif mode == "send":
            workspace, title = rest
            print("sending", flush=True)
            await api.create_task(workspace, title)
            print("answered", flush=True)
        elif mode == "flush":
            result = await api.flush_queue()
            applied = [
                {"title": request.body and request.body.get("title"), "task": answer}
                for request, answer in result.applied
            ]
            print(
                json.dumps(
                    {"applied": applied, "refused": len(result.refused), "remaining": result.remaining}
                ),
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
