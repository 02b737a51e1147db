"""Publish N events with message ids to JetStream, republish a few (dedup), then exit.

Usage: js_publisher.py NATS_URL STREAM SUBJECT COUNT
Prints ``PUBLISHED <count> <last sequence>``.
"""

from __future__ import annotations

import asyncio
import sys

from vcc_replication.jetstream import connect, ensure_stream, publish


async def main(url: str, stream: str, subject: str, count: int) -> None:
    nc = await connect(url, "test-publisher")
    js = nc.jetstream()
    await ensure_stream(js, stream, [subject])
    last = 0
    for i in range(count):
        last = await publish(js, subject, f"event {i}".encode(), msg_id=f"evt-{i}")
    for i in range(min(3, count)):  # a producer retry after a lost ack: must not duplicate
        await publish(js, subject, f"event {i}".encode(), msg_id=f"evt-{i}")
    await nc.drain()
    print(f"PUBLISHED {count} {last}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
