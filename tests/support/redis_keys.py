"""Removing what a test left in Redis under its own key prefix (presence, limits, liveness)."""

from __future__ import annotations

import redis
import redis.asyncio as aredis


def drop_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def drop_keys_async(url: str, prefix: str) -> None:
    client = aredis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
