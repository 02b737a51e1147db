"""Hold an etcd key under a LeaseKeeper until killed.

Usage: lease_holder.py ENDPOINT KEY VALUE TTL_S
Prints ``READY <lease id>`` once the key is in etcd.
"""

from __future__ import annotations

import asyncio
import sys

from vcc_failover.lease import LeaseKeeper


async def main(endpoint: str, key: str, value: str, ttl_s: float) -> None:
    keeper = LeaseKeeper([endpoint], key, value, ttl_s=ttl_s)
    await keeper.start()
    print(f"READY {keeper.lease_id}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
