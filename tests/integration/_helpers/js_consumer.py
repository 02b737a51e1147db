"""Consume a stream through a durable pull consumer until COUNT events or a deadline.

Usage: js_consumer.py NATS_URL STREAM DURABLE SUBJECT COUNT
Prints one ``MSG <msg id>`` line per delivery, then ``DONE``.
"""

from __future__ import annotations

import asyncio
import sys
import time

from vcc_replication.jetstream import PullConsumer, connect, msg_id_of


async def main(url: str, stream: str, durable: str, subject: str, count: int) -> None:
    nc = await connect(url, "test-consumer")
    consumer = await PullConsumer.bind(nc.jetstream(), stream, durable, subject)
    received = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # after COUNT, one more short fetch shows nothing else is delivered
        msgs = await consumer.fetch(10, max_wait_s=1.0 if received >= count else 5.0)
        if not msgs and received >= count:
            break
        for msg in msgs:
            print(f"MSG {msg_id_of(msg)}", flush=True)
            await msg.ack()
            received += 1
    await consumer.close()
    await nc.drain()
    print("DONE", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(args[0], args[1], args[2], args[3], int(args[4])))
